@testable import BlobHubRealtimeServer
@testable import BlobHubRealtimeHTTPAPI
@testable import BlobHubRealtimeServices
@testable import BlobHubRealtimeTransport
import Foundation
import Testing

/// `--log-format json` at debug level: every line is JSON, lines about a connection carry its id,
/// and no credential or secret ever appears (SPEC §11, issue 7).
@Suite struct LogSecretTests {
    private static let adminKey = "ADMIN-KEY-SECRET-7c41e9"
    private static let publisherKey = "PUBLISHER-KEY-SECRET-2b8f03"
    private static let wrongKey = "WRONG-KEY-SECRET-d95a11"
    private static let invalidToken = "eyJhbGciOiJIUzI1NiJ9.INVALID-TOKEN-SECRET-5e2c.c2ln"

    /// Messages of lines that are about one connection.
    private static let connectionMessages: Set<String> = [
        "connection opened", "connection closed", "closing", "upgrade refused", "ping timeout", "connection error",
        "connection setup failed", "replay failed",
    ]

    private struct Remote {
        let port: Int
        func request(_ method: String, _ path: String, key: String?, body: String = "") async throws -> HTTPResponseHead {
            let socket = try await RawSocket.connect(port: port)
            defer { Task { await socket.close() } }
            var headers = [("Content-Type", "application/json")]
            if let key { headers.append(("Authorization", "Bearer \(key)")) }
            return try await socket.request(method, path, headers: headers, body: Array(body.utf8))
        }
    }

    @Test func debugJSONLogsCarryConnectionIDsAndNoSecret() async throws {
        let child = try await ServerProcess(arguments: [
            "--store", "memory", "--log-format", "json", "--log-level", "debug", "--jwt-secret", TestSecrets.jwtSecret,
            "--admin-key", Self.adminKey, "--publisher-key", Self.publisherKey,
            // Not about init timeouts: under a loaded parallel run a connection may wait long for its turn.
            "--init-timeout", "60s",
        ])
        defer { child.terminate() }
        try await child.waitUntilHealthy()
        let remote = Remote(port: child.port)
        var secrets = [TestSecrets.jwtSecret, Self.adminKey, Self.publisherKey, Self.wrongKey, Self.invalidToken]

        // Admin calls (right and wrong key) and a minted token.
        for (path, body) in [
            ("/v1/admin/organizations/\(Fixture.org)", #"{"name":"Org"}"#),
            ("/v1/admin/organizations/\(Fixture.org)/members/\(Fixture.user)", #"{"role":"read"}"#),
            ("/v1/admin/blobs/\(Fixture.blob)", #"{"organization_id":"\#(Fixture.org)","type":"workflow","visibility":"private"}"#),
            ("/v1/admin/revisions/\(Fixture.revision)", #"{"blob_id":"\#(Fixture.blob)","phase":"draft"}"#),
        ] {
            #expect(try await remote.request("PUT", path, key: Self.adminKey, body: body).status == 200)
        }
        #expect(try await remote.request("PUT", "/v1/admin/organizations/x", key: Self.wrongKey, body: "{}").status == 401)
        let created = try await remote.request("POST", "/v1/admin/api-keys", key: Self.adminKey,
                                               body: #"{"user_id":"\#(Fixture.user)","target":"orgs","target_id":"\#(Fixture.org)","role":"read"}"#)
        let apiKey = try #require(created.bodyJSON?["key"] as? String)
        let apiKeyID = try #require(created.bodyJSON?["id"] as? String)
        let minted = try await remote.request("POST", "/v1/admin/tokens", key: Self.adminKey, body: #"{"user_id":"\#(Fixture.user)"}"#)
        let mintedToken = try #require(minted.bodyJSON?["access_token"] as? String)
        let token = JWTCrafter.hs256(claims: #"{"sub":"\#(Fixture.user)","exp":\#(JWTCrafter.now + 3600)}"#)
        secrets += [apiKey, mintedToken, token, base64url(token), base64url(apiKey)]

        // Connections: bearer header (minted token), bearer subprotocol, API key header and subprotocol, invalid ones.
        let bearer = try await TestWebSocket.connect(port: child.port, headers: [("Authorization", "Bearer \(mintedToken)")])
        _ = try await bearer.initialize()
        _ = try await bearer.subscribe(sessionParams())
        let viaSubprotocol = try await TestWebSocket.connect(port: child.port, headers: [
            ("Sec-WebSocket-Protocol", "authorization.bearer.base64, \(base64url(token))"),
        ])
        _ = try await viaSubprotocol.initialize()
        let keyed = try await TestWebSocket.connect(port: child.port, headers: [("X-API-Key", apiKey)])
        _ = try await keyed.initialize()
        _ = try await keyed.subscribe(sessionParams())
        let keyedSubprotocol = try await TestWebSocket.connect(port: child.port, headers: [
            ("Sec-WebSocket-Protocol", "x-api-key.base64, \(base64url(apiKey))"),
        ])
        _ = try await keyedSubprotocol.initialize()
        // In-band refresh with a wrong token, then a right one.
        let refreshed = try await bearer.call(#"{"jsonrpc":"2.0","id":7,"method":"status/authenticate","params":{"token":"\#(Self.invalidToken)"}}"#)
        #expect(refreshed["error"] != nil)
        for headers in [[("Authorization", "Bearer \(Self.invalidToken)")], [("X-API-Key", Self.wrongKey)]] {
            let (socket, head) = try await TestWebSocket.handshake(port: child.port, headers: headers)
            #expect(head.status == 401)
            await socket.close()
        }

        // Publishes (right and wrong key), delivered to both subscribers.
        let published = try await remote.request("POST", "/v1/events", key: Self.publisherKey, body: sessionEvent("flow.entered", execution: "e-1"))
        #expect(published.status == 202)
        #expect(try await remote.request("POST", "/v1/events", key: Self.wrongKey, body: sessionEvent("flow.entered")).status == 401)
        _ = try await bearer.nextEvent()
        _ = try await keyed.nextEvent()

        // Revoking the key closes its connections (4001); a client closes; a protocol violation closes.
        #expect(try await remote.request("DELETE", "/v1/admin/api-keys/\(apiKeyID)", key: Self.adminKey).status == 204)
        #expect(try await keyed.expectClose() == 4001)
        try await viaSubprotocol.sendRaw(ClientFrame.encode(opcode: 0x8, payload: [0x03, 0xE8]))
        #expect(try await viaSubprotocol.expectClose() == 1000)
        try await bearer.sendRaw(ClientFrame.encode(opcode: 0x2, payload: [0]))
        #expect(try await bearer.expectClose() == 1003)

        child.signal(SIGTERM)
        #expect(try await child.waitForExit(timeout: .seconds(15)) == 0)
        let log = child.log
        for secret in secrets {
            #expect(!log.contains(secret), "a secret was logged: \(secret.prefix(12))…")
        }
        var opened: Set<String> = []
        var closed: Set<String> = []
        var refusedUpgrades = 0
        for line in log.split(separator: "\n") where !line.isEmpty {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            let message = object["msg"] as? String ?? ""
            guard Self.connectionMessages.contains(message) else { continue }
            let id = object["connection_id"] as? String ?? ""
            #expect(!id.isEmpty, "no connection id: \(line)")
            if message == "connection opened" { opened.insert(id) }
            if message == "connection closed" { closed.insert(id) }
            if message == "upgrade refused" { refusedUpgrades += 1 }
        }
        #expect(opened.count == 4, "\(log)")
        #expect(closed == opened)
        #expect(refusedUpgrades == 2)
    }

    /// ServiceLifecycle logs every service at debug level: the demo's JWT secret must not ride along.
    @Test func demoAtDebugLevelDoesNotLogItsSecrets() async throws {
        let secret = "DEMO-JWT-SECRET-0123456789abcdef0123456789"
        let child = try await ServerProcess(arguments: [
            "--demo", "--log-format", "json", "--log-level", "trace", "--jwt-secret", secret, "--admin-key", Self.adminKey,
        ])
        defer { child.terminate() }
        _ = try await child.waitForOutput(containing: "Session:")
        child.signal(SIGTERM)
        #expect(try await child.waitForExit(timeout: .seconds(15)) == 0)
        #expect(child.log.contains("Starting service"), "the lifecycle lines this test is about are logged")
        #expect(!child.log.contains(secret))
        #expect(!child.log.contains(Self.adminKey))
    }

    /// A PostgreSQL URL's password never reaches the output, even when the store cannot be opened.
    @Test func storeURLPasswordIsNotPrinted() async throws {
        let child = try await ServerProcess(arguments: [
            "--store", "postgres://realtime:PG-PASSWORD-SECRET-81d2@127.0.0.1:1/realtime", "--log-format", "json", "--log-level", "debug",
        ])
        defer { child.terminate() }
        let status = try await child.waitForExit(timeout: .seconds(20))
        #expect(status != nil && status != 0, "\(child.log)")
        #expect(child.log.contains("--store"), "\(child.log)")
        #expect(!child.log.contains("PG-PASSWORD-SECRET-81d2"), "\(child.log)")
    }

    @Test func urlPasswordsAreRedacted() {
        #expect(SecretRedaction.redactingURLPasswords("--store: cannot open postgres://u:p%40ss@db:5432/x now")
            == "--store: cannot open postgres://u:***@db:5432/x now")
        #expect(SecretRedaction.redactingURLPasswords("postgresql://user:pa:ss@h/db") == "postgresql://user:***@h/db")
        #expect(SecretRedaction.redactingURLPasswords("postgres://user@h/db") == "postgres://user@h/db")
        #expect(SecretRedaction.redactingURLPasswords("sqlite:./file.sqlite") == "sqlite:./file.sqlite")
    }
}
