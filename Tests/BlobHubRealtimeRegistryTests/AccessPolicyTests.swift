import BlobHubRealtimeProtocol
import Testing
@testable import BlobHubRealtimeRegistry

let pubWfBlob = "blob-public-workflow"   // workflow, public, in orgB
let pubWfRev = "rev-public-workflow"

/// world() plus a public workflow blob in orgB with a revision.
let accessWorld: RegistrySnapshot = {
    var s = world()
    s.ok(.putBlob(id: pubWfBlob, body: body(#"{"organization_id":"\#(orgB)","type":"workflow","visibility":"public"}"#)))
    s.ok(.putRevision(id: pubWfRev, body: body(#"{"blob_id":"\#(pubWfBlob)","phase":"commit"}"#)))
    return s
}()

func core(_ target: SubscriptionTarget, _ id: String) -> SubscriptionKey {
    SubscriptionKey(scope: .core, scopeID: nil, target: target, targetID: id)
}

func session(_ revision: String, _ id: String = "S-1") -> SubscriptionKey {
    SubscriptionKey(scope: .revision, scopeID: revision, target: .session, targetID: id)
}

func execution(_ revision: String, _ id: String = "E-1") -> SubscriptionKey {
    SubscriptionKey(scope: .revision, scopeID: revision, target: .execution, targetID: id)
}

struct AccessCase: Sendable, CustomTestStringConvertible {
    var principal: RegistryPrincipal
    var key: SubscriptionKey
    var allowed: Bool
    var note: String

    var testDescription: String {
        "\(principal) \(key.scope.rawValue)/\(key.scopeID)/\(key.target.rawValue)/\(key.targetID) → \(allowed) (\(note))"
    }
}

let alice = RegistryPrincipal.user(id: "alice")   // admin of orgA
let bob = RegistryPrincipal.user(id: "bob")       // read member of orgA
let carol = RegistryPrincipal.user(id: "carol")   // write member of orgB
let dave = RegistryPrincipal.user(id: "dave")     // read member of wfBlob only
let eve = RegistryPrincipal.user(id: "eve")       // no memberships
let keyOrgA = RegistryPrincipal.apiKey(userID: "alice", target: .orgs, targetID: orgA.lowercased())
let keyOrgB = RegistryPrincipal.apiKey(userID: "carol", target: .orgs, targetID: orgB)
let keyWf = RegistryPrincipal.apiKey(userID: "dave", target: .blobs, targetID: wfBlob)
let keyPub = RegistryPrincipal.apiKey(userID: "eve", target: .blobs, targetID: pubBlob)
let keyOnnx = RegistryPrincipal.apiKey(userID: "alice", target: .blobs, targetID: onnxBlob)
let keyGhost = RegistryPrincipal.apiKey(userID: "alice", target: .orgs, targetID: "ghost")

func c(_ p: RegistryPrincipal, _ k: SubscriptionKey, _ allowed: Bool, _ note: String) -> AccessCase {
    AccessCase(principal: p, key: k, allowed: allowed, note: note)
}

let accessTable: [AccessCase] = [
    // core/user
    c(alice, core(.user, "alice"), true, "self"),
    c(alice, core(.user, "bob"), false, "another user"),
    c(alice, core(.user, "Alice"), false, "non-UUID ids compare exactly"),
    c(.user(id: "AAAAAAAA-0000-4000-8000-000000000001"), core(.user, "aaaaaaaa-0000-4000-8000-000000000001"), true, "UUID user ids are case-insensitive"),
    c(eve, core(.user, "eve"), true, "self without any membership"),
    c(keyOrgA, core(.user, "alice"), false, "keys never read core/user, even their own user"),
    c(keyWf, core(.user, "dave"), false, "keys never read core/user"),

    // core/organization
    c(alice, core(.organization, orgA), true, "admin member"),
    c(alice, core(.organization, orgA.lowercased()), true, "UUID spelling"),
    c(bob, core(.organization, orgA), true, "read member"),
    c(carol, core(.organization, orgA), false, "member of another org"),
    c(carol, core(.organization, orgB), true, "member"),
    c(dave, core(.organization, orgA), false, "blob member is not an org member"),
    c(eve, core(.organization, orgA), false, "non-member"),
    c(alice, core(.organization, "ghost"), false, "unknown org"),
    c(keyOrgA, core(.organization, orgA), true, "org key, own org"),
    c(keyOrgA, core(.organization, orgB), false, "org key, another org"),
    c(keyOrgB, core(.organization, orgB), true, "org key, own org"),
    c(keyWf, core(.organization, orgA), false, "blob key does not read the blob's org"),
    c(keyGhost, core(.organization, "ghost"), false, "unknown org"),

    // core/blob
    c(alice, core(.blob, wfBlob), true, "org member, private blob"),
    c(bob, core(.blob, wfBlob.lowercased()), true, "read org member, UUID spelling"),
    c(alice, core(.blob, onnxBlob), true, "org member"),
    c(dave, core(.blob, wfBlob), true, "blob member"),
    c(dave, core(.blob, onnxBlob), false, "blob member of another blob, private"),
    c(eve, core(.blob, wfBlob), false, "non-member, private"),
    c(eve, core(.blob, pubBlob), true, "public blob"),
    c(carol, core(.blob, pubBlob), true, "public blob of another org"),
    c(carol, core(.blob, wfBlob), false, "private blob of another org"),
    c(carol, core(.blob, blobInB), true, "own org's private blob"),
    c(alice, core(.blob, blobInB), false, "private blob of another org"),
    c(alice, core(.blob, "ghost"), false, "unknown blob"),
    c(keyOrgA, core(.blob, wfBlob), true, "org key, blob in org"),
    c(keyOrgA, core(.blob, pubBlob), true, "org key, public blob in org"),
    c(keyOrgA, core(.blob, blobInB), false, "org key, blob of another org"),
    c(keyOrgA, core(.blob, pubWfBlob), false, "org key, public blob outside its scope"),
    c(keyWf, core(.blob, wfBlob.lowercased()), true, "blob key, own blob"),
    c(keyWf, core(.blob, onnxBlob), false, "blob key, sibling blob"),
    c(keyWf, core(.blob, pubBlob), false, "blob key, public blob outside its scope"),
    c(keyPub, core(.blob, pubBlob), true, "blob key, own public blob"),
    c(keyOrgB, core(.blob, blobInB), true, "org key, blob in org"),
    c(keyOrgB, core(.blob, "ghost"), false, "unknown blob"),

    // core/revision
    c(alice, core(.revision, wfRev), true, "org member"),
    c(alice, core(.revision, wfRev.lowercased()), true, "UUID spelling"),
    c(alice, core(.revision, onnxRev), true, "org member, non-workflow blob is fine for core"),
    c(dave, core(.revision, wfRev), true, "blob member"),
    c(dave, core(.revision, onnxRev), false, "other blob"),
    c(eve, core(.revision, pubRev), true, "revision of a public blob"),
    c(eve, core(.revision, wfRev), false, "private"),
    c(carol, core(.revision, revInB), true, "own org"),
    c(carol, core(.revision, wfRev), false, "another org"),
    c(alice, core(.revision, "ghost"), false, "unknown revision"),
    c(keyOrgA, core(.revision, wfRev), true, "org key"),
    c(keyOrgA, core(.revision, revInB), false, "org key, another org"),
    c(keyWf, core(.revision, wfRev), true, "blob key, own blob's revision"),
    c(keyWf, core(.revision, onnxRev), false, "blob key, sibling blob's revision"),
    c(keyWf, core(.revision, pubRev), false, "blob key, public revision outside scope"),
    c(keyPub, core(.revision, pubRev), true, "blob key, own blob's revision"),

    // revision scope: session / execution
    c(alice, session(wfRev), true, "org member, workflow"),
    c(alice, execution(wfRev), true, "org member, workflow"),
    c(alice, session(wfRev.lowercased()), true, "UUID spelling of the revision"),
    c(bob, execution(wfRev), true, "read member"),
    c(dave, session(wfRev), true, "blob member, workflow"),
    c(eve, session(wfRev), false, "private"),
    c(carol, session(wfRev), false, "another org"),
    c(alice, session(onnxRev), false, "onnx blob: no sessions"),
    c(alice, execution(onnxRev), false, "onnx blob: no executions"),
    c(eve, session(pubRev), false, "public but scheduler blob"),
    c(alice, session(pubRev), false, "scheduler blob even for a member"),
    c(eve, session(pubWfRev), true, "public workflow blob"),
    c(eve, execution(pubWfRev), true, "public workflow blob"),
    c(carol, session(revInB), true, "own org"),
    c(alice, session("ghost"), false, "unknown revision"),
    c(alice, session(wfBlob), false, "a blob id is not a revision id"),
    c(keyOrgA, session(wfRev), true, "org key, workflow revision in org"),
    c(keyOrgA, execution(wfRev), true, "org key"),
    c(keyOrgA, session(onnxRev), false, "org key, non-workflow"),
    c(keyOrgA, session(revInB), false, "org key, another org"),
    c(keyOrgA, session(pubWfRev), false, "org key, public revision outside scope"),
    c(keyWf, session(wfRev), true, "blob key, own workflow revision"),
    c(keyWf, execution(wfRev), true, "blob key"),
    c(keyWf, session(revInB), false, "blob key, other blob"),
    c(keyOnnx, session(onnxRev), false, "blob key, non-workflow"),
    c(keyOnnx, core(.revision, onnxRev), true, "blob key, core revision of a non-workflow blob"),
    c(keyPub, session(pubRev), false, "blob key, scheduler blob"),
    c(keyOrgB, session(revInB), true, "org key"),
    c(keyOrgB, execution(pubWfRev), true, "org key, public workflow blob in org"),

    // malformed keys (scope/target mismatch)
    c(alice, SubscriptionKey(scope: .core, scopeID: nil, target: .session, targetID: "S-1"), false, "session in core scope"),
    c(alice, SubscriptionKey(scope: .revision, scopeID: wfRev, target: .blob, targetID: wfBlob), false, "blob in revision scope"),
]

@Suite struct AccessPolicyTests {
    @Test(arguments: accessTable)
    func table(_ row: AccessCase) {
        #expect(AccessPolicy.canRead(row.principal, row.key, in: accessWorld) == row.allowed, "\(row.note)")
    }

    @Test func emptyRegistryAllowsOnlySelf() {
        let empty = RegistrySnapshot()
        #expect(AccessPolicy.canRead(alice, core(.user, "alice"), in: empty))
        #expect(!AccessPolicy.canRead(alice, core(.organization, orgA), in: empty))
        #expect(!AccessPolicy.canRead(keyOrgA, core(.organization, orgA), in: empty))
        #expect(!AccessPolicy.canRead(alice, session(wfRev), in: empty))
    }

    @Test func accessFollowsRegistryChanges() {
        var s = accessWorld
        #expect(AccessPolicy.canRead(bob, core(.blob, wfBlob), in: s))
        s.ok(.deleteOrganizationMember(organizationID: orgA, userID: "bob"))
        #expect(!AccessPolicy.canRead(bob, core(.blob, wfBlob), in: s))
        #expect(!AccessPolicy.canRead(bob, core(.organization, orgA), in: s))

        #expect(AccessPolicy.canRead(carol, core(.revision, pubRev), in: s))
        s.ok(.putBlob(id: pubBlob, body: body(#"{"organization_id":"\#(orgA)","type":"scheduler","visibility":"private"}"#)))
        #expect(!AccessPolicy.canRead(carol, core(.revision, pubRev), in: s))

        #expect(AccessPolicy.canRead(dave, session(wfRev), in: s))
        s.ok(.putBlob(id: wfBlob, body: body(#"{"organization_id":"\#(orgA)","type":"onnx","visibility":"private"}"#)))
        #expect(!AccessPolicy.canRead(dave, session(wfRev), in: s))
        #expect(AccessPolicy.canRead(dave, core(.revision, wfRev), in: s))

        #expect(AccessPolicy.canRead(keyOrgA, core(.blob, wfBlob), in: s))
        s.ok(.putBlob(id: wfBlob, body: body(#"{"organization_id":"\#(orgB)","type":"onnx","visibility":"private"}"#)))
        #expect(!AccessPolicy.canRead(keyOrgA, core(.blob, wfBlob), in: s), "moved out of the key's org")
        #expect(AccessPolicy.canRead(keyOrgB, core(.blob, wfBlob), in: s))
        #expect(AccessPolicy.canRead(keyWf, core(.blob, wfBlob), in: s), "blob key follows the blob")

        s.ok(.deleteOrganization(id: orgB))
        #expect(!AccessPolicy.canRead(keyOrgB, core(.organization, orgB), in: s))
        #expect(!AccessPolicy.canRead(carol, core(.revision, revInB), in: s))
    }

    @Test func principalOfStoredKey() {
        var s = world()
        s.ok(.createAPIKey(body: keyBody(user: "dave", target: "blobs", targetID: wfBlob), keyID: "key_d", secret: "x"))
        let key = s.apiKey(id: "key_d")!
        #expect(RegistryPrincipal(key) == .apiKey(userID: "dave", target: .blobs, targetID: wfBlob))
    }
}
