import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Testing

/// SPEC §5.4: a real child process drains on SIGTERM/SIGINT: 1001 to every client, readiness 503, exit 0 in time.
@Suite(.serialized) struct DrainTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func signalDrainsAndExitsZero(signal: Int32) async throws {
        let child = try await ServerProcess(arguments: ["--store", "memory", "--jwt-secret", TestSecrets.jwtSecret, "--drain-timeout", "3s"])
        defer { child.terminate() }
        try await child.waitUntilHealthy()
        let handle = RemoteServer(port: child.port)
        let quiet = try await handle.connectInitialized()
        let other = try await handle.connectInitialized()
        #expect(try await handle.http("GET", "/readyz").status == 200)

        let signalledAt = ContinuousClock.now
        child.signal(signal)
        // `quiet` never answers the close, so the drain stays open long enough to probe readiness.
        #expect(try await quiet.expectClose() == 1001)
        #expect(try await other.expectClose() == 1001)
        #expect(try await handle.http("GET", "/readyz").status == 503)
        let (_, refused) = try await TestWebSocket.handshake(port: child.port, headers: [("Authorization", "Bearer \(try await handle.token())")])
        #expect(refused.status == 503)

        let status = try await child.waitForExit(timeout: .seconds(6))
        #expect(status == 0, "log: \(child.log)")
        #expect(ContinuousClock.now - signalledAt < .seconds(4))
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
