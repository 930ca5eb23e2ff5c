@testable import BlobHubRealtimeServer
@testable import BlobHubRealtimeHTTPAPI
@testable import BlobHubRealtimeServices
@testable import BlobHubRealtimeTransport
import Foundation
import Testing

/// The header size limit (80 KiB, NIO's decoder default) over a real socket: an oversized request
/// head is answered 431 and the connection closed at once; one under the limit is served.
@Suite struct HeaderLimitTests {
    @Test func oversizedUpgradeHeadersGet431AndTheConnectionCloses() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await RawSocket.connect(port: server.port)
            let startedAt = ContinuousClock.now
            let head = try await socket.request("GET", "/v1", headers: [
                ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13"), ("X-Padding", String(repeating: "a", count: 100 * 1024)),
            ])
            #expect(head.status == 431)
            #expect(head.bodyJSON?["error"] != nil)
            try await socket.waitForEOF(timeout: .seconds(3))
            // Closed right away, not by the 10 s handshake timeout.
            #expect(ContinuousClock.now - startedAt < .seconds(3))
            #expect(try await server.http("GET", "/healthz").status == 200)
        }
    }

    @Test func headersUnderTheLimitAreServed() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let response = try await server.http("GET", "/healthz", headers: [("X-Padding", String(repeating: "a", count: 60 * 1024))])
            #expect(response.status == 200)
        }
    }

    @Test func malformedRequestLineGets400() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await RawSocket.connect(port: server.port)
            try await socket.write("NOT AN HTTP REQUEST\r\n\r\n")
            let head = try await socket.inbox.read("response", timeout: .seconds(5)) { HTTPResponseHead.parse(&$0) }
            #expect(head.status == 400)
            try await socket.waitForEOF(timeout: .seconds(3))
        }
    }
}
