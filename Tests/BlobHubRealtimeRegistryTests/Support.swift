import BlobHubRealtimeProtocol
import Testing
@testable import BlobHubRealtimeRegistry

/// Parses a JSON object literal for command bodies.
func body(_ json: String) -> JSONObject {
    guard case .object(let object)? = try? JSONParser.parse(json) else {
        Issue.record("not a JSON object: \(json)")
        return JSONObject()
    }
    return object
}

func json(_ text: String) -> JSONValue {
    guard let value = try? JSONParser.parse(text) else {
        Issue.record("not JSON: \(text)")
        return .null
    }
    return value
}

extension RegistrySnapshot {
    /// Applies a command that must succeed.
    @discardableResult
    mutating func ok(
        _ command: RegistryCommand,
        now: Int64 = 1_000,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> RegistryChange {
        do throws(RegistryError) {
            return try apply(command, nowMs: now)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
            return RegistryChange()
        }
    }

    /// Applies a command that must fail; checks the snapshot is unchanged.
    mutating func failure(
        _ command: RegistryCommand,
        now: Int64 = 1_000,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> RegistryError? {
        let before = self
        do throws(RegistryError) {
            _ = try apply(command, nowMs: now)
            Issue.record("expected an error", sourceLocation: sourceLocation)
            return nil
        } catch {
            #expect(self == before, "a failed command changed the snapshot", sourceLocation: sourceLocation)
            return error
        }
    }
}

/// Event field lookup.
func field(_ event: JSONValue, _ name: String) -> String? {
    event.objectValue?[name]?.stringValue
}

func types(_ change: RegistryChange) -> [String] {
    change.events.compactMap { field($0, "type") }
}

// A small world used across suites.
let orgA = "0A06AB3A-DD72-4D42-939A-61DC4EF69418"    // UUID form, upper case as the docs write it
let orgB = "org-b"
let wfBlob = "B1000000-0000-4000-8000-00000000000A"  // workflow, private, in orgA
let pubBlob = "blob-public"                           // scheduler, public, in orgA
let onnxBlob = "blob-onnx"                            // onnx, private, in orgA
let blobInB = "blob-in-b"                             // workflow, private, in orgB
let wfRev = "28E70055-DBB4-4CA8-88BC-133D6CEA68E6"    // revision of wfBlob
let onnxRev = "rev-onnx"                              // revision of onnxBlob
let pubRev = "rev-public"                             // revision of pubBlob
let revInB = "rev-in-b"                               // revision of blobInB

/// orgA: alice (admin), bob (read). orgB: carol (write). wfBlob: dave (read) as blob member.
func world() -> RegistrySnapshot {
    var s = RegistrySnapshot()
    s.ok(.putOrganization(id: orgA, body: body(#"{"name":"Org A"}"#)))
    s.ok(.putOrganization(id: orgB, body: body(#"{}"#)))
    s.ok(.putOrganizationMember(organizationID: orgA, userID: "alice", body: body(#"{"role":"admin"}"#)))
    s.ok(.putOrganizationMember(organizationID: orgA, userID: "bob", body: body(#"{"role":"read"}"#)))
    s.ok(.putOrganizationMember(organizationID: orgB, userID: "carol", body: body(#"{"role":"write"}"#)))
    s.ok(.putBlob(id: wfBlob, body: body(#"{"organization_id":"\#(orgA)","type":"workflow","visibility":"private"}"#)))
    s.ok(.putBlob(id: pubBlob, body: body(#"{"organization_id":"\#(orgA)","type":"scheduler","visibility":"public"}"#)))
    s.ok(.putBlob(id: onnxBlob, body: body(#"{"organization_id":"\#(orgA)","type":"onnx","visibility":"private"}"#)))
    s.ok(.putBlob(id: blobInB, body: body(#"{"organization_id":"\#(orgB)","type":"workflow","visibility":"private"}"#)))
    s.ok(.putBlobMember(blobID: wfBlob, userID: "dave", body: body(#"{"role":"read"}"#)))
    s.ok(.putRevision(id: wfRev, body: body(#"{"blob_id":"\#(wfBlob)","phase":"draft"}"#)))
    s.ok(.putRevision(id: onnxRev, body: body(#"{"blob_id":"\#(onnxBlob)","phase":"commit"}"#)))
    s.ok(.putRevision(id: pubRev, body: body(#"{"blob_id":"\#(pubBlob)","phase":"snapshot"}"#)))
    s.ok(.putRevision(id: revInB, body: body(#"{"blob_id":"\#(blobInB)","phase":"draft"}"#)))
    return s
}

func keyBody(user: String = "alice", target: String, targetID: String, role: String = "read") -> JSONObject {
    body(#"{"user_id":"\#(user)","target":"\#(target)","target_id":"\#(targetID)","role":"\#(role)"}"#)
}
