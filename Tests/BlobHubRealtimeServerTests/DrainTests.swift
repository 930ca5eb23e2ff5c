import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Testing

/// SPEC §5.4: a real child process drains on SIGTERM/SIGINT: 1001 to every client, readiness 503, exit 0 in time.
@Suite(.serialized) struct DrainTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func signalDrainsAndExitsZero(signal: Int32) async throws {
        let child = try await ServerProcess(arguments: ["--store", "memory", "--jwt-secret", TestSecrets.jwtSecret, "--drain-timeout", "10s"])
        defer { child.terminate() }
        try await child.waitUntilHealthy()
        let handle = RemoteServer(port: child.port)
        // The drain closes one connection per 100 ms step (`DrainPlan`) and waits for each close handshake up to 2 s;
        // these clients never answer theirs, so the drain stays open ~2 s after the last 1001 (~4 s in all), long
        // enough to probe readiness on a loaded machine (with two connections the window was ~2 s, and CI's
        // parallel suite once missed it).
        var clients: [TestWebSocket] = []
        for _ in 0..<20 { clients.append(try await handle.connectInitialized()) }
        #expect(try await handle.http("GET", "/readyz").status == 200)

        let signalledAt = ContinuousClock.now
        child.signal(signal)
        #expect(try await clients[0].expectClose() == 1001)
        #expect(try await handle.http("GET", "/readyz").status == 503)
        let (_, refused) = try await TestWebSocket.handshake(port: child.port, headers: [("Authorization", "Bearer \(try await handle.token())")])
        #expect(refused.status == 503)
        for client in clients.dropFirst() { #expect(try await client.expectClose() == 1001) }

        let status = try await child.waitForExit(timeout: .seconds(12))
        #expect(status == 0, "log: \(child.log)")
        #expect(ContinuousClock.now - signalledAt < .seconds(10))
    }
}

/// The test-server conveniences for a server that runs in another process.
struct RemoteServer {
    let port: Int
    func token(user: String = "user-1") async throws -> String {
        JWTCrafter.hs256(claims: #"{"sub":"\#(user)","exp":\#(JWTCrafter.now + 3600)}"#)
    }
    func connectInitialized() async throws -> TestWebSocket {
        let socket = try await TestWebSocket.connect(port: port, headers: [("Authorization", "Bearer \(try await token())")])
        _ = try await socket.initialize()
        return socket
    }
    func http(_ method: String, _ path: String) async throws -> HTTPResponseHead {
        let socket = try await RawSocket.connect(port: port)
        defer { Task { await socket.close() } }
        return try await socket.request(method, path)
    }
}
