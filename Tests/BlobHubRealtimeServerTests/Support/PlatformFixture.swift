import Foundation
@testable import BlobHubRealtimeServer
@testable import BlobHubRealtimeHTTPAPI
@testable import BlobHubRealtimeServices
@testable import BlobHubRealtimeTransport

enum TestKeys {
    static let admin = "admin-key-for-tests"
    static let publisher = "publisher-key-for-tests"
}

/// Ids of a seeded platform: org-1 with member user-1, a workflow blob, a revision, plus
/// a second org with a private and a public blob for access tests.
enum Fixture {
    static let org = "org-1"
    static let user = "user-1"
    static let outsider = "user-2"
    static let blob = "B10B0000-0000-4000-8000-000000000001"
    static let revision = "0A06AB3A-DD72-4D42-939A-61DC4EF69418"
    static let session = "28E70055-DBB4-4CA8-88BC-133D6CEA68E6"
    static let otherOrg = "org-2"
    static let privateBlob = "blob-private"
    static let privateRevision = "rev-private"
    static let publicBlob = "blob-public"
    static let publicRevision = "rev-public"
    static let onnxBlob = "blob-onnx"
    static let onnxRevision = "rev-onnx"
}

extension TestServerHandle {
    /// Sends an admin request; the body is JSON text.
    func admin(_ method: String, _ path: String, _ body: String? = nil, key: String? = TestKeys.admin) async throws -> HTTPResponseHead {
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if let key { headers.append(("Authorization", "Bearer \(key)")) }
        return try await http(method, "/v1/admin" + path, headers: headers, body: Array((body ?? "").utf8))
    }

    /// Posts events (JSON text) to the publish API.
    func publish(_ body: String, key: String? = TestKeys.publisher) async throws -> HTTPResponseHead {
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if let key { headers.append(("Authorization", "Bearer \(key)")) }
        return try await http("POST", "/v1/events", headers: headers, body: Array(body.utf8))
    }

    /// Publishes and returns the offsets, failing unless the answer is 202.
    @discardableResult
    func publishAccepted(_ body: String) async throws -> [Int] {
        let response = try await publish(body)
        guard response.status == 202, let events = response.bodyJSON?["events"] as? [[String: Any]] else {
            throw PublishFailed(response: response.bodyText, status: response.status)
        }
        return events.compactMap { $0["offset"] as? Int }
    }

    struct PublishFailed: Error { let response: String; let status: Int }

    func seed() async throws {
        let steps: [(String, String)] = [
            ("/organizations/\(Fixture.org)", #"{"name":"Org One"}"#),
            ("/organizations/\(Fixture.org)/members/\(Fixture.user)", #"{"role":"read"}"#),
            ("/blobs/\(Fixture.blob)", #"{"organization_id":"\#(Fixture.org)","type":"workflow","visibility":"private"}"#),
            ("/revisions/\(Fixture.revision)", #"{"blob_id":"\#(Fixture.blob)","phase":"draft"}"#),
            ("/organizations/\(Fixture.otherOrg)", #"{"name":"Org Two"}"#),
            ("/blobs/\(Fixture.privateBlob)", #"{"organization_id":"\#(Fixture.otherOrg)","type":"workflow","visibility":"private"}"#),
            ("/revisions/\(Fixture.privateRevision)", #"{"blob_id":"\#(Fixture.privateBlob)","phase":"commit"}"#),
            ("/blobs/\(Fixture.publicBlob)", #"{"organization_id":"\#(Fixture.otherOrg)","type":"workflow","visibility":"public"}"#),
            ("/revisions/\(Fixture.publicRevision)", #"{"blob_id":"\#(Fixture.publicBlob)","phase":"commit"}"#),
            ("/blobs/\(Fixture.onnxBlob)", #"{"organization_id":"\#(Fixture.org)","type":"onnx","visibility":"private"}"#),
            ("/revisions/\(Fixture.onnxRevision)", #"{"blob_id":"\#(Fixture.onnxBlob)","phase":"commit"}"#),
        ]
        for (path, body) in steps {
            let response = try await admin("PUT", path, body)
            guard response.status == 200 else { throw PublishFailed(response: "\(path): \(response.bodyText)", status: response.status) }
        }
    }

    /// Creates an API key and returns its secret.
    func createAPIKey(target: String, targetID: String, user: String = Fixture.user) async throws -> (id: String, secret: String) {
        let response = try await admin("POST", "/api-keys", #"{"user_id":"\#(user)","target":"\#(target)","target_id":"\#(targetID)","role":"read"}"#)
        guard response.status == 201, let id = response.bodyJSON?["id"] as? String, let key = response.bodyJSON?["key"] as? String else {
            throw PublishFailed(response: response.bodyText, status: response.status)
        }
        return (id, key)
    }
}

/// Test server with admin and publisher keys configured.
func withPlatform<T>(
    _ configure: (inout ServerConfiguration) -> Void = { _ in },
    seed: Bool = true,
    _ body: (TestServerHandle) async throws -> T
) async throws -> T {
    try await withTestServer({ configuration in
        configuration.adminKey = TestKeys.admin
        configuration.publisherKey = TestKeys.publisher
        configure(&configuration)
    }) { server in
        if seed { try await server.seed() }
        return try await body(server)
    }
}

extension TestWebSocket {
    /// Sends subscription/add and returns the response object.
    func subscribe(_ params: String, id: Int = 100) async throws -> [String: Any] {
        try await call(#"{"jsonrpc":"2.0","id":\#(id),"method":"subscription/add","params":\#(params)}"#)
    }

    /// The next `subscription/event` params.
    func nextEvent(timeout: Duration = .seconds(5)) async throws -> [String: Any] {
        while true {
            guard let message = try await nextJSON(timeout: timeout) as? [String: Any] else { continue }
            if message["method"] as? String == "subscription/event", let params = message["params"] as? [String: Any] { return params }
            throw UnexpectedFrame(frame: nil)
        }
    }

    /// Reads `count` event notifications.
    func nextEvents(_ count: Int, timeout: Duration = .seconds(5)) async throws -> [[String: Any]] {
        var events: [[String: Any]] = []
        for _ in 0..<count { events.append(try await nextEvent(timeout: timeout)) }
        return events
    }
}

func sessionParams(revision: String = Fixture.revision, session: String = Fixture.session, types: String? = nil, extra: String = "") -> String {
    let typesPart = types.map { #","types":\#($0)"# } ?? ""
    return #"{"scope":"revision","scope_id":"\#(revision)","target":"session","target_id":"\#(session)"\#(typesPart)\#(extra)}"#
}

func sessionEvent(_ type: String, id: String? = nil, revision: String = Fixture.revision, session: String = Fixture.session, execution: String? = nil, extra: String = "") -> String {
    var fields = [#""type":"\#(type)""#, #""revision_id":"\#(revision)""#, #""session_id":"\#(session)""#]
    if let id { fields.append(#""id":"\#(id)""#) }
    if let execution { fields.append(#""execution_id":"\#(execution)""#) }
    if !extra.isEmpty { fields.append(extra) }
    return "{" + fields.joined(separator: ",") + "}"
}

/// A fresh directory for `body`, removed afterwards.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bhr-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}
