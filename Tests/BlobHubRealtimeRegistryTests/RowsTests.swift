import BlobHubRealtimeProtocol
import Testing
@testable import BlobHubRealtimeRegistry

/// What a store does with the rows: a table keyed by (kind, id).
struct FakeStore {
    var table: [String: RegistryRow] = [:]

    mutating func persist(_ rows: RegistryRows) {
        for d in rows.deletes { table.removeValue(forKey: d.kind + "|" + d.id) }
        for u in rows.upserts { table[u.kind + "|" + u.id] = u }
    }

    var rows: [RegistryRow] {
        table.keys.sorted().map { table[$0]! }
    }
}

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct RowsTests {
    @Test func worldRoundTripsThroughAStore() throws {
        var s = RegistrySnapshot()
        var store = FakeStore()
        func run(_ c: RegistryCommand, _ now: Int64 = 1) {
            store.persist(s.ok(c, now: now).rows)
        }
        run(.putOrganization(id: orgA, body: body(#"{"name":"A"}"#)))
        run(.putOrganization(id: orgB, body: JSONObject()))
        run(.putOrganizationMember(organizationID: orgA.lowercased(), userID: "alice", body: body(#"{"role":"admin"}"#)))
        run(.putBlob(id: wfBlob, body: body(#"{"organization_id":"\#(orgA)","type":"workflow","visibility":"private"}"#)))
        run(.putBlobMember(blobID: wfBlob, userID: "dave", body: body(#"{"role":"read"}"#)))
        run(.putRevision(id: wfRev, body: body(#"{"blob_id":"\#(wfBlob)","phase":"draft"}"#)))
        run(.createAPIKey(body: body(#"{"user_id":"alice","target":"blobs","target_id":"\#(wfBlob)","role":"read","description":"d","expires_at":99}"#), keyID: "key_1", secret: "sec1"))
        run(.putRevision(id: wfRev, body: body(#"{"blob_id":"\#(wfBlob)","phase":"commit"}"#)), 2)
        run(.putBlob(id: "tmp", body: body(#"{"organization_id":"\#(orgB)","type":"onnx","visibility":"public"}"#)))
        run(.deleteBlob(id: "tmp"))

        let rebuilt = try RegistrySnapshot(rows: store.rows)
        #expect(rebuilt == s)
        let c = rebuilt.counts
        #expect([c.organizations, c.blobs, c.revisions, c.members, c.apiKeys] == [2, 1, 1, 2, 1])
        // Indexes are rebuilt too.
        #expect(rebuilt.apiKey(secretHash: APIKeySecrets.hash("sec1"))?.id == "key_1")
        #expect(rebuilt.apiKeys(target: .blobs, targetID: wfBlob.lowercased()).map(\.id) == ["key_1"])
        #expect(rebuilt.blobs(organization: orgA).map(\.id) == [wfBlob])
        #expect(rebuilt.revisions(blob: wfBlob).map(\.id) == [wfRev])
        #expect(rebuilt.organizationMember(user: "alice", organization: orgA)?.organizationID == orgA.lowercased())
        #expect(rebuilt.blobMember(user: "dave", blob: wfBlob)?.blobID == wfBlob)
        // And rebuilt snapshots behave the same.
        var a = s, b = rebuilt
        let changeA = a.ok(.deleteOrganization(id: orgA))
        let changeB = b.ok(.deleteOrganization(id: orgA))
        #expect(changeA == changeB)
        #expect(a == b)
    }

    @Test func allRowsRoundTrip() throws {
        let s = world()
        let rebuilt = try RegistrySnapshot(rows: s.allRows())
        #expect(rebuilt == s)
        #expect(RegistrySnapshot() == (try RegistrySnapshot(rows: [])))
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func randomCommandSequencesRoundTrip(seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        var s = RegistrySnapshot()
        var store = FakeStore()
        let orgs = ["o1", "O2", "AAAAAAAA-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000001"]
        let blobIDs = ["b1", "b2", "BBBBBBBB-0000-4000-8000-000000000002", "bbbbbbbb-0000-4000-8000-000000000002"]
        let revIDs = ["r1", "r2", "r3"]
        let users = ["u1", "u2", "CCCCCCCC-0000-4000-8000-000000000003"]
        var keyIDs: [String] = []
        var applied = 0
        for step in 0..<400 {
            let now = Int64(step)
            let command: RegistryCommand
            switch Int.random(in: 0..<12, using: &rng) {
            case 0: command = .putOrganization(id: orgs.randomElement(using: &rng)!, body: body(#"{"name":"n\#(Int.random(in: 0..<3, using: &rng))"}"#))
            case 1: command = .deleteOrganization(id: orgs.randomElement(using: &rng)!)
            case 2: command = .putOrganizationMember(organizationID: orgs.randomElement(using: &rng)!, userID: users.randomElement(using: &rng)!, body: body(#"{"role":"\#(MemberRole.allCases.randomElement(using: &rng)!.rawValue)"}"#))
            case 3: command = .deleteOrganizationMember(organizationID: orgs.randomElement(using: &rng)!, userID: users.randomElement(using: &rng)!)
            case 4: command = .putBlob(id: blobIDs.randomElement(using: &rng)!, body: body(#"{"organization_id":"\#(orgs.randomElement(using: &rng)!)","type":"\#(BlobType.allCases.randomElement(using: &rng)!.rawValue)","visibility":"\#(BlobVisibility.allCases.randomElement(using: &rng)!.rawValue)"}"#))
            case 5: command = .deleteBlob(id: blobIDs.randomElement(using: &rng)!)
            case 6: command = .putBlobMember(blobID: blobIDs.randomElement(using: &rng)!, userID: users.randomElement(using: &rng)!, body: body(#"{"role":"read"}"#))
            case 7: command = .deleteBlobMember(blobID: blobIDs.randomElement(using: &rng)!, userID: users.randomElement(using: &rng)!)
            case 8: command = .putRevision(id: revIDs.randomElement(using: &rng)!, body: body(#"{"blob_id":"\#(blobIDs.randomElement(using: &rng)!)","phase":"\#(RevisionPhase.allCases.randomElement(using: &rng)!.rawValue)"}"#))
            case 9: command = .deleteRevision(id: revIDs.randomElement(using: &rng)!)
            case 10:
                let id = "key_\(step)"
                keyIDs.append(id)
                let blobTarget = Bool.random(using: &rng)
                command = .createAPIKey(
                    body: keyBody(target: blobTarget ? "blobs" : "orgs", targetID: (blobTarget ? blobIDs : orgs).randomElement(using: &rng)!),
                    keyID: id, secret: "secret-\(step)")
            default: command = .revokeAPIKey(id: keyIDs.randomElement(using: &rng) ?? "key_none")
            }
            do throws(RegistryError) {
                let change = try s.apply(command, nowMs: now)
                store.persist(change.rows)
                applied += 1
                // Every revoked key is gone, every deleted row's record is gone.
                for id in change.revokedAPIKeyIDs { #expect(s.apiKey(id: id) == nil) }
            } catch {
                #expect(error.kind == .notFound, "only unknown parents fail in this generator: \(error)")
            }
            let rebuilt = try RegistrySnapshot(rows: store.rows)
            #expect(rebuilt == s, "diverged at step \(step) after \(command)")
            if rebuilt != s { return }
        }
        #expect(applied > 100)
        // The store holds exactly the snapshot's rows.
        let expected = s.allRows().map { "\($0.kind)|\($0.id)" }.sorted()
        #expect(store.table.keys.sorted() == expected)
        for row in s.allRows() { #expect(store.table[row.kind + "|" + row.id]?.data == row.data) }
    }

    @Test func unknownKindsAreIgnoredAndOrphansDropped() throws {
        var rows = world().allRows()
        rows.append(RegistryRow(kind: "future_kind", id: "x", data: Array("not json".utf8)))
        let rebuilt = try RegistrySnapshot(rows: rows)
        #expect(rebuilt == world())

        // A blob row without its organization, and its revision: dropped.
        var orphans = RegistrySnapshot()
        orphans.ok(.putOrganization(id: "o", body: JSONObject()))
        orphans.ok(.putBlob(id: "b", body: body(#"{"organization_id":"o","type":"workflow","visibility":"public"}"#)))
        orphans.ok(.putRevision(id: "r", body: body(#"{"blob_id":"b","phase":"draft"}"#)))
        orphans.ok(.putOrganizationMember(organizationID: "o", userID: "u", body: body(#"{"role":"read"}"#)))
        orphans.ok(.createAPIKey(body: keyBody(target: "orgs", targetID: "o"), keyID: "key_o", secret: "s"))
        let withoutOrg = orphans.allRows().filter { $0.kind != "organization" }
        let rebuiltOrphans = try RegistrySnapshot(rows: withoutOrg)
        #expect(rebuiltOrphans == RegistrySnapshot())
    }

    @Test func undecodableRowThrows() {
        #expect(throws: (any Error).self) {
            try RegistrySnapshot(rows: [RegistryRow(kind: "organization", id: "o", data: Array("{".utf8))])
        }
        #expect(throws: (any Error).self) {
            try RegistrySnapshot(rows: [RegistryRow(kind: "blob", id: "b", data: Array(#"{"id":"b"}"#.utf8))])
        }
    }

    @Test func rowDataIsTheFullRecordInSnakeCase() throws {
        var s = world()
        let change = s.ok(.createAPIKey(body: keyBody(target: "orgs", targetID: orgA), keyID: "key_z", secret: "zz"), now: 4)
        let data = try #require(change.rows.upserts.first?.data)
        let value = try JSONParser.parse(data)
        #expect(value.objectValue?["secret_hash"]?.stringValue == APIKeySecrets.hash("zz"))
        #expect(value.objectValue?["user_id"]?.stringValue == "alice")
        #expect(value.objectValue?["target_id"]?.stringValue == orgA)
        #expect(value.objectValue?["created_at"] == .integer(4))

        let member = s.ok(.putOrganizationMember(organizationID: orgA, userID: "zed", body: body(#"{"role":"read"}"#)))
        let memberValue = try JSONParser.parse(try #require(member.rows.upserts.first?.data))
        #expect(memberValue.objectValue?["organization_id"]?.stringValue == orgA)
        #expect(memberValue.objectValue?["user_id"]?.stringValue == "zed")
    }

    @Test func rowsEquality() {
        let blob = RegistryRow(kind: "blob", id: "b", data: [1])
        let member = RegistryRowKey(kind: "org_member", id: "o/u")
        let a = RegistryRows(upserts: [blob], deletes: [member])
        #expect(a == RegistryRows(upserts: [RegistryRow(kind: "blob", id: "b", data: [1])], deletes: [member]))
        #expect(a != RegistryRows(upserts: [RegistryRow(kind: "blob", id: "b", data: [2])], deletes: [member]))
        #expect(a != RegistryRows(upserts: [blob]))
        #expect(RegistryRows().isEmpty)
    }
}
