import Foundation
import Testing

/// SPEC §2/§12: `GET /client/blobhub-realtime.js` serves the bytes of `clients/js/blobhub-realtime.js`
/// (compiled in as a package resource of BlobHubRealtimeWeb, so a bare binary serves it).
@Suite struct ClientScriptRouteTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func servedScriptEqualsRepositoryFile() async throws {
        let expected = [UInt8](try Data(contentsOf: Self.root.appendingPathComponent("clients/js/blobhub-realtime.js")))
        try await withTestServer { (server: TestServerHandle) async throws in
            let response = try await server.http("GET", "/client/blobhub-realtime.js")
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "text/javascript")
            #expect(response.header("Access-Control-Allow-Origin") == "*")
            #expect(response.body.count == expected.count)
            #expect(response.body == expected, "the served module is not clients/js/blobhub-realtime.js")
        }
    }

    @Test func scriptIsOnlyServedForGet() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let response = try await server.http("POST", "/client/blobhub-realtime.js")
            #expect(response.status == 405)
            #expect(response.header("Allow") == "GET")
            #expect(try await server.http("GET", "/client/other.js").status == 404)
        }
    }
}
