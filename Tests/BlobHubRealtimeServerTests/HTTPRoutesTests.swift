import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Testing

/// SPEC §2: probes and the JSON error shape of HTTP routes.
@Suite struct HTTPRoutesTests {
    @Test func healthz() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let response = try await server.http("GET", "/healthz")
            #expect(response.status == 200)
            #expect(response.bodyText == #"{"status":"ok"}"#)
            #expect(response.header("Content-Type") == "application/json")
        }
    }

    @Test func readyzWhileServing() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let response = try await server.http("GET", "/readyz")
            #expect(response.status == 200)
        }
    }

    @Test func unknownPathsAre404JSON() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            for path in ["/", "/nope", "/v1/nothing-here", "/healthz/x"] {
                let response = try await server.http("GET", path)
                #expect(response.status == 404, "\(path)")
                #expect(response.bodyText == #"{"error":{"code":404,"message":"Not found"}}"#, "\(path)")
            }
        }
    }

    /// A known path with a method it does not serve is 405 with `Allow` (not 404), before any key check.
    @Test func unsupportedMethodOnAKnownPathIs405WithAllow() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            for (method, path, allow) in [
                ("DELETE", "/healthz", "GET"), ("TRACE", "/readyz", "GET"), ("GET", "/v1/events", "POST"),
                ("PATCH", "/v1/admin/organizations/org-1", "PUT, DELETE"), ("PUT", "/v1/admin/api-keys", "GET, POST"), ("POST", "/v1", "GET"),
                ("QUERY", "/healthz", "GET"), ("OPTIONS", "/v1/admin/stats", "GET"), ("GET", "/v1/admin/api-keys/key-1", "DELETE"),
            ] {
                let response = try await server.http(method, path)
                #expect(response.status == 405, "\(method) \(path)")
                #expect(response.header("Allow") == allow, "\(method) \(path)")
                #expect(response.bodyJSON?["error"] != nil, "\(method) \(path)")
            }
            // Unknown paths stay 404 whatever the method.
            #expect(try await server.http("DELETE", "/nope").status == 404)
        }
    }

    @Test func plainGetOnWebSocketEndpointAsksForUpgrade() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let response = try await server.http("GET", "/v1")
            #expect(response.status == 426)
            #expect(response.bodyJSON?["error"] != nil)
        }
    }

    /// An upgrade after another request on the same keep-alive connection (what Node's fetch + WebSocket
    /// pool sends) is answered 426 and the connection closed, so the client's retry gets a fresh one;
    /// that fresh connection upgrades.
    @Test func lateUpgradeOnAKeepAliveConnectionIsClosedAndARetryUpgrades() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await RawSocket.connect(port: server.port)
            #expect(try await socket.request("GET", "/healthz").status == 200)
            let upgrade: [(String, String)] = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                               ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]
            #expect(try await socket.request("GET", "/v1", headers: upgrade).status == 426)
            try await socket.waitForEOF(timeout: .seconds(3))
            // A plain keep-alive GET /v1 keeps its connection.
            let plain = try await RawSocket.connect(port: server.port)
            #expect(try await plain.request("GET", "/v1").status == 426)
            #expect(try await plain.request("GET", "/healthz").status == 200)
            await plain.close()
            _ = try await server.connectInitialized()
        }
    }

    /// A peer that connects and never sends a request is dropped after the handshake timeout.
    @Test func silentTCPPeersAreDropped() async throws {
        try await withTestServer({ $0.handshakeTimeout = .milliseconds(300) }) { (server: TestServerHandle) async throws in
            let silent = try await RawSocket.connect(port: server.port)
            try await silent.waitForEOF(timeout: .seconds(5))
            // A half-sent request is dropped too.
            let slow = try await RawSocket.connect(port: server.port)
            try await slow.write("GET /healthz HTTP/1.1\r\nHost: x\r\n")
            try await slow.waitForEOF(timeout: .seconds(5))
        }
    }
}
