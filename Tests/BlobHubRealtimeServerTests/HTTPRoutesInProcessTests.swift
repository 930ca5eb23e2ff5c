@testable import BlobHubRealtimeServer
@testable import BlobHubRealtimeHTTPAPI
@testable import BlobHubRealtimeServices
@testable import BlobHubRealtimeTransport
import BlobHubRealtimeProtocol
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// The node's HTTP routes in process (HummingbirdTesting, no socket), on a real node with a memory store:
/// probes, error bodies, 405, the admin and publish APIs' keys, and a publish through the router. The socket
/// tests (HTTPRoutesTests, PublishTests, RegistryAPITests, …) cover the same routes over TCP and the
/// event-loop publish path.
@Suite struct HTTPRoutesInProcessTests {
    static func withRouter(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        var configuration = ServerConfiguration()
        configuration.store = "memory"
        configuration.adminKey = TestKeys.admin
        configuration.publisherKey = TestKeys.publisher
        configuration.jwtSecret = TestSecrets.jwtSecret
        var logger = Logger(label: "in-process")
        logger.logLevel = .critical
        let server = try await RealtimeServer(configuration: configuration, logger: logger)
        try await Application(router: server.makeHTTP().router).test(.router, body)
    }

    static func json(_ buffer: ByteBuffer) -> JSONValue? {
        try? JSONParser.parse(Array(buffer.readableBytesView))
    }

    @Test("probes answer; unknown paths get the JSON 404; a known path with another method gets 405 with Allow")
    func probesAndErrors() async throws {
        try await Self.withRouter { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/nowhere", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(Self.json(response.body)?.objectValue?["error"]?.objectValue?["code"]?.int64Value == 404)
            }
            try await client.execute(uri: "/healthz", method: .delete) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow]?.contains("GET") == true)
                #expect(Self.json(response.body)?.objectValue?["error"]?.objectValue?["code"]?.int64Value == 405)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("blobhub_"))
            }
        }
    }

    @Test("the admin API wants the admin key; with it a registry write answers the stored object, and stats count it")
    func adminAPI() async throws {
        try await Self.withRouter { client in
            let body = ByteBuffer(string: #"{"name":"One"}"#)
            try await client.execute(uri: "/v1/admin/organizations/org-1", method: .put, body: body) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/admin/organizations/org-1", method: .put,
                                     headers: [.authorization: "Bearer \(TestKeys.publisher)"], body: body) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/admin/organizations/org-1", method: .put,
                                     headers: [.authorization: "Bearer \(TestKeys.admin)"], body: body) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response.body)?.objectValue?["name"]?.stringValue == "One")
            }
            try await client.execute(uri: "/v1/admin/organizations/org-1/members/u", method: .put,
                                     headers: [.authorization: "Bearer \(TestKeys.admin)"], body: ByteBuffer(string: #"{"role":"owner"}"#)) { response in
                #expect(response.status == .badRequest)
                #expect(Self.json(response.body)?.objectValue?["error"]?.objectValue?["field"]?.stringValue == "role")
            }
            try await client.execute(uri: "/v1/admin/stats", method: .get, headers: [.authorization: "Bearer \(TestKeys.admin)"]) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response.body)?.objectValue?["connections"] != nil)
            }
        }
    }

    @Test("a publish through the router: 401 without a key, 400 for a body that is not JSON, 202 with offsets; a retry is idempotent")
    func publish() async throws {
        try await Self.withRouter { client in
            let event = ByteBuffer(string: sessionEvent("flow.entered", id: "in-process-1"))
            try await client.execute(uri: "/v1/events", method: .post, body: event) { response in
                #expect(response.status == .unauthorized)
            }
            let key: HTTPFields = [.authorization: "Bearer \(TestKeys.publisher)"]
            try await client.execute(uri: "/v1/events", method: .post, headers: key, body: ByteBuffer(string: "{")) { response in
                #expect(response.status == .badRequest)
            }
            var offsets: [Int64] = []
            for _ in 0..<2 {
                try await client.execute(uri: "/v1/events", method: .post, headers: key, body: event) { response in
                    #expect(response.status == .accepted)
                    let events = Self.json(response.body)?.objectValue?["events"]?.arrayValue
                    #expect(events?.first?.objectValue?["id"]?.stringValue == "in-process-1")
                    offsets += events?.compactMap { $0.objectValue?["offset"]?.int64Value } ?? []
                }
            }
            #expect(offsets == [1, 1])
        }
    }
}
