import BlobHubRealtimeProtocol
import Testing
@testable import BlobHubRealtimeRegistry

@Suite struct CascadeTests {
    /// world() plus keys: on orgA, on wfBlob, on pubBlob, on orgB, on blobInB.
    func worldWithKeys() -> RegistrySnapshot {
        var s = world()
        s.ok(.createAPIKey(body: keyBody(target: "orgs", targetID: orgA), keyID: "key_orgA", secret: "s1"))
        s.ok(.createAPIKey(body: keyBody(target: "blobs", targetID: wfBlob), keyID: "key_wf", secret: "s2"))
        s.ok(.createAPIKey(body: keyBody(target: "blobs", targetID: pubBlob), keyID: "key_pub", secret: "s3"))
        s.ok(.createAPIKey(body: keyBody(user: "carol", target: "orgs", targetID: orgB), keyID: "key_orgB", secret: "s4"))
        s.ok(.createAPIKey(body: keyBody(user: "carol", target: "blobs", targetID: blobInB), keyID: "key_inB", secret: "s5"))
        return s
    }

    @Test func deleteOrganizationCascades() {
        var s = worldWithKeys()
        let before = s.counts
        #expect(before.organizations == 2 && before.blobs == 4 && before.revisions == 4 && before.members == 4 && before.apiKeys == 5)

        let change = s.ok(.deleteOrganization(id: orgA.lowercased()))
        #expect(types(change) == ["organization_deleted"], "one event for the whole cascade")
        #expect(change.accessReduced)
        #expect(Set(change.revokedAPIKeyIDs) == ["key_orgA", "key_wf", "key_pub"])

        let deleted = Set(change.rows.deletes.map { "\($0.kind):\($0.id)" })
        let expected: Set<String> = [
            "organization:\(orgA.lowercased())",
            "org_member:\(orgA.lowercased())/alice",
            "org_member:\(orgA.lowercased())/bob",
            "blob:\(wfBlob.lowercased())", "blob:\(pubBlob)", "blob:\(onnxBlob)",
            "blob_member:\(wfBlob.lowercased())/dave",
            "revision:\(wfRev.lowercased())", "revision:\(onnxRev)", "revision:\(pubRev)",
            "api_key:key_orgA", "api_key:key_wf", "api_key:key_pub",
        ]
        #expect(deleted == expected)
        #expect(change.rows.deletes.count == expected.count, "no duplicates")
        #expect(change.rows.deletes.last?.kind == "organization", "parent last")
        #expect(change.rows.upserts.isEmpty)

        // Nothing of orgA is left; orgB is intact.
        #expect(s.organization(orgA) == nil)
        for blob in [wfBlob, pubBlob, onnxBlob] { #expect(s.blob(blob) == nil) }
        for rev in [wfRev, onnxRev, pubRev] { #expect(s.revision(rev) == nil) }
        #expect(s.organizationRole(user: "alice", organization: orgA) == nil)
        #expect(s.blobRole(user: "dave", blob: wfBlob) == nil)
        #expect(s.apiKey(id: "key_wf") == nil)
        #expect(s.apiKey(secretHash: APIKeySecrets.hash("s1")) == nil)
        let after = s.counts
        #expect(after.organizations == 1 && after.blobs == 1 && after.revisions == 1 && after.members == 1 && after.apiKeys == 2)
        #expect(s.blob(blobInB) != nil)
        #expect(s.apiKey(id: "key_inB") != nil)

        // Re-creating the organization starts empty.
        s.ok(.putOrganization(id: orgA, body: JSONObject()))
        #expect(s.blobs(organization: orgA).isEmpty)
        #expect(s.organizationMembers(orgA).isEmpty)
        #expect(s.apiKeys(target: .orgs, targetID: orgA).isEmpty)
    }

    @Test func deleteBlobCascades() {
        var s = worldWithKeys()
        s.ok(.putRevision(id: "rev-2", body: body(#"{"blob_id":"\#(wfBlob)","phase":"commit"}"#)))
        let change = s.ok(.deleteBlob(id: wfBlob.lowercased()))
        #expect(change.events == [json(#"{"type":"blob_deleted","organization_id":"\#(orgA)","blob_id":"\#(wfBlob)"}"#)])
        #expect(change.accessReduced)
        #expect(change.revokedAPIKeyIDs == ["key_wf"])
        let deleted = change.rows.deletes.map { "\($0.kind):\($0.id)" }
        #expect(Set(deleted) == [
            "blob:\(wfBlob.lowercased())",
            "blob_member:\(wfBlob.lowercased())/dave",
            "revision:\(wfRev.lowercased())", "revision:rev-2",
            "api_key:key_wf",
        ])
        #expect(deleted.last == "blob:\(wfBlob.lowercased())")
        #expect(s.revision(wfRev) == nil)
        #expect(s.revision("rev-2") == nil)
        #expect(s.blobRole(user: "dave", blob: wfBlob) == nil)
        #expect(s.apiKey(id: "key_wf") == nil)
        // The organization and its org-scoped key survive.
        #expect(s.organization(orgA) != nil)
        #expect(s.apiKey(id: "key_orgA") != nil)
        #expect(s.blobs(organization: orgA).map(\.id).sorted() == [onnxBlob, pubBlob])
    }

    @Test func deleteWithoutKeysRevokesNothing() {
        var s = world()
        let change = s.ok(.deleteBlob(id: onnxBlob))
        #expect(change.revokedAPIKeyIDs.isEmpty)
        #expect(change.rows.deletes.map(\.kind) == ["revision", "blob"])
    }

    @Test func accessReducedOnlyWhenSomethingWasLost() {
        var s = world()
        // Pure additions.
        #expect(!s.ok(.putOrganization(id: "new-org", body: JSONObject())).accessReduced)
        #expect(!s.ok(.putOrganizationMember(organizationID: "new-org", userID: "x", body: body(#"{"role":"read"}"#))).accessReduced)
        #expect(!s.ok(.putBlob(id: "nb", body: body(#"{"organization_id":"new-org","type":"workflow","visibility":"private"}"#))).accessReduced)
        #expect(!s.ok(.putBlobMember(blobID: "nb", userID: "y", body: body(#"{"role":"write"}"#))).accessReduced)
        #expect(!s.ok(.putRevision(id: "nr", body: body(#"{"blob_id":"nb","phase":"draft"}"#))).accessReduced)
        #expect(!s.ok(.createAPIKey(body: keyBody(target: "blobs", targetID: "nb"), keyID: "key_n", secret: "n")).accessReduced)
        #expect(!s.ok(.putBlob(id: "nb", body: body(#"{"organization_id":"new-org","type":"workflow","visibility":"public"}"#))).accessReduced)
        #expect(!s.ok(.putRevision(id: "nr", body: body(#"{"blob_id":"nb","phase":"commit"}"#))).accessReduced)
        // Losses.
        #expect(s.ok(.putBlob(id: "nb", body: body(#"{"organization_id":"new-org","type":"workflow","visibility":"private"}"#))).accessReduced)
        #expect(s.ok(.deleteBlobMember(blobID: "nb", userID: "y")).accessReduced)
        #expect(s.ok(.deleteOrganizationMember(organizationID: "new-org", userID: "x")).accessReduced)
        #expect(s.ok(.revokeAPIKey(id: "key_n")).accessReduced)
        #expect(s.ok(.deleteRevision(id: "nr")).accessReduced)
        #expect(s.ok(.deleteBlob(id: "nb")).accessReduced)
        #expect(s.ok(.deleteOrganization(id: "new-org")).accessReduced)
        // Deleting what is absent loses nothing.
        #expect(!s.ok(.deleteOrganization(id: "new-org")).accessReduced)
    }
}
