import BlobHubRealtimeAuth
@testable import BlobHubRealtimeServer
@testable import BlobHubRealtimeHTTPAPI
@testable import BlobHubRealtimeServices
@testable import BlobHubRealtimeTransport
import Foundation
import Logging
import NIOSSL

/// Secrets used by the tests' servers.
enum TestSecrets {
    static let jwtSecret = "test-secret-0123456789abcdef0123456789abcdef"
}

/// A real server on a loopback port, for the duration of `body`.
func withTestServer<T>(
    apiKeys: (any APIKeyResolver)? = nil,
    _ configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: (TestServerHandle) async throws -> T
) async throws -> T {
    var configuration = ServerConfiguration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.store = "memory"
    configuration.jwtSecret = TestSecrets.jwtSecret
    configure(&configuration)
    var logger = Logger(label: "test-server")
    logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    let server = try await RealtimeServer(configuration: configuration, logger: logger, apiKeys: apiKeys)
    let running = Task { try await server.run(signals: []) }
    defer { running.cancel() }
    let port = try await server.waitUntilListening()
    let handle = TestServerHandle(server: server, port: port)
    let result = try await body(handle)
    running.cancel()
    _ = await running.result
    return result
}

struct TestServerHandle: Sendable {
    let server: RealtimeServer
    let port: Int
    /// Set for a TLS server: HTTP and WebSocket helpers then speak TLS trusting the test's certificate.
    var clientTLS: NIOSSLContext? = nil

    func token(user: String = "user-1", ttl: Duration = .seconds(3600), now: Date = Date(), extraClaims: [String: String] = [:]) async throws -> String {
        try await TokenMinter.mintHS256(secret: TestSecrets.jwtSecret, userID: user, ttl: ttl, now: now, extraClaims: extraClaims)
    }

    /// A connected, not yet initialized WebSocket authenticated as `user`.
    func connect(user: String = "user-1") async throws -> TestWebSocket {
        try await TestWebSocket.connect(port: port, headers: [("Authorization", "Bearer \(try await token(user: user))")], tls: clientTLS)
    }

    /// A connected and initialized WebSocket.
    func connectInitialized(user: String = "user-1") async throws -> TestWebSocket {
        let socket = try await connect(user: user)
        _ = try await socket.initialize()
        return socket
    }

    func http(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) async throws -> HTTPResponseHead {
        let socket = try await RawSocket.connect(port: port, tls: clientTLS)
        defer { Task { await socket.close() } }
        return try await socket.request(method, path, headers: headers, body: body)
    }
}
