import BlobHubRealtimeAuth
import BlobHubRealtimeServer
import BlobHubRealtimeServices
import CryptoExtras
import Foundation
import Testing

/// `--jwt-jwks-url` and several `--jwt-public-key`s (issue 16): keys from the identity provider's JWKS
/// document, fetched over real HTTP on loopback, rotated while connections are open.
@Suite(.serialized) struct JWKSTests {
    static let python = ["/usr/bin/python3", "/usr/local/bin/python3"].contains { FileManager.default.isExecutableFile(atPath: $0) }

    /// The upgrade's HTTP status with `token` as bearer credential (101 = accepted).
    private func handshakeStatus(_ server: TestServerHandle, _ token: String) async throws -> Int {
        let (socket, head) = try await TestWebSocket.handshake(port: server.port, headers: [("Authorization", "Bearer \(token)")])
        await socket.close()
        return head.status
    }

    private func waitUntilReady(_ server: TestServerHandle) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if try await server.http("GET", "/readyz").status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ByteInbox.Timeout(what: "/readyz 200")
    }

    /// A ready node whose only signing keys come from a JWKS server on loopback serving `keys` (fetched again only for
    /// an unknown kid, at most every `minimumRefresh`).
    private func withJWKSNode(_ keys: [JWKSKey], grace: Duration = .seconds(600), minimumRefresh: Duration = .milliseconds(1),
                              _ body: (JWKSHTTPServer, TestServerHandle) async throws -> Void) async throws {
        let jwks = try await JWKSHTTPServer(document: JWKSKey.document(keys))
        try await jwks.start()
        defer { jwks.stop() }
        try await withTestServer({
            $0.jwtSecret = nil
            $0.jwtJWKSSources = [jwks.url]
            $0.jwtJWKSRefresh = .seconds(3600)
            $0.jwtJWKSGrace = grace
            $0.jwtJWKSMinRefreshInterval = minimumRefresh
        }) { (server: TestServerHandle) async throws in
            try await waitUntilReady(server)
            try await body(jwks, server)
        }
    }

    @Test(.enabled(if: python, "needs python3 for the JWKS HTTP server"))
    func rotationWhileConnectionsAreOpen() async throws {
        let old = JWKSKey.ec("key-2026-11"), new = JWKSKey.ed25519("key-2026-12"), later = JWKSKey.ec("key-2027-01")
        // A grace long enough for a loaded machine: only "still within the grace" is checked here (see the next test).
        try await withJWKSNode([old], grace: .seconds(120)) { jwks, server in
            let connection = try await TestWebSocket.connect(port: server.port, headers: [("Authorization", "Bearer \(try old.token())")])
            _ = try await connection.initialize()

            // The provider rotates: the new key comes, the old one goes from the document.
            try jwks.publish(JWKSKey.document([new]))
            #expect(try await handshakeStatus(server, try new.token()) == 101, "an unknown kid fetches the document again")
            // The open connection refreshes in band with a new-key token.
            let refreshed = try await connection.call(#"{"jsonrpc":"2.0","id":2,"method":"status/authenticate","params":{"token":"\#(try new.token(ttl: 7200))"}}"#)
            #expect(refreshed["result"] != nil, "\(refreshed)")
            // Old-key tokens keep working through the grace period.
            #expect(try await handshakeStatus(server, try old.token()) == 101)
            try jwks.publish(JWKSKey.document([new, later]))
            #expect(try await handshakeStatus(server, try later.token()) == 101)
            #expect(try await handshakeStatus(server, try old.token()) == 101, "still within the grace period")
            // The connection opened with the old key lives on (its token has not expired).
            #expect(try await connection.call(#"{"jsonrpc":"2.0","id":3,"method":"status/ping"}"#)["result"] != nil)
            // A token naming a kid nobody publishes, signed by a key nobody has: refused.
            #expect(try await handshakeStatus(server, try JWKSKey.ec("key-2026-12").token()) == 401)
            await connection.close()
        }
    }

    @Test(.enabled(if: python, "needs python3 for the JWKS HTTP server"))
    func droppedKeyStopsWorkingAfterTheGrace() async throws {
        let old = JWKSKey.ec("key-2026-11"), new = JWKSKey.ed25519("key-2026-12"), later = JWKSKey.ec("key-2027-01")
        try await withJWKSNode([old], grace: .seconds(1)) { jwks, server in
            #expect(try await handshakeStatus(server, try old.token()) == 101)
            // The old key leaves the document (seen by the fetch for the new kid); the grace starts.
            try jwks.publish(JWKSKey.document([new]))
            #expect(try await handshakeStatus(server, try new.token()) == 101)
            try await Task.sleep(for: .milliseconds(1500))
            // Past the grace, once a refresh ran (here caused by another unknown kid): the old key is gone.
            try jwks.publish(JWKSKey.document([new, later]))
            #expect(try await handshakeStatus(server, try later.token()) == 101)
            #expect(try await handshakeStatus(server, try old.token()) == 401)
            #expect(try await handshakeStatus(server, try new.token()) == 101)
        }
    }

    @Test(.enabled(if: python, "needs python3 for the JWKS HTTP server"))
    func unreachableAtStartThenServed() async throws {
        let key = JWKSKey.ed25519("k1")
        let jwks = try await JWKSHTTPServer(document: JWKSKey.document([key]))
        defer { jwks.stop() }
        try await withTestServer({ $0.jwtSecret = nil; $0.jwtJWKSSources = [jwks.url] }) { (server: TestServerHandle) async throws in
            // Nothing listens yet: the node runs, but says it is not ready and refuses bearer tokens.
            let readiness = try await server.http("GET", "/readyz")
            #expect(readiness.status == 503)
            #expect(readiness.bodyText == #"{"status":"no signing keys"}"#)
            #expect(try await handshakeStatus(server, try key.token()) == 401)
            #expect(try await server.http("GET", "/healthz").status == 200)
            // The provider comes up: the node retries within seconds, becomes ready and accepts the token.
            try await jwks.start()
            try await waitUntilReady(server)
            #expect(try await handshakeStatus(server, try key.token()) == 101)
        }
    }

    @Test(.enabled(if: python, "needs python3 for the JWKS HTTP server"))
    func failedRefreshesKeepTheKeysAndUnknownKIDsAreRateLimited() async throws {
        let first = JWKSKey.ec("a"), second = JWKSKey.ec("b"), third = JWKSKey.ec("c")
        try await withJWKSNode([first], minimumRefresh: .seconds(3600)) { jwks, server in
            // One fetch for an unknown kid…
            try jwks.publish(JWKSKey.document([first, second]))
            #expect(try await handshakeStatus(server, try second.token()) == 101)
            // …and no second one within the interval: made-up kids cannot flood the provider.
            try jwks.publish(JWKSKey.document([first, second, third]))
            #expect(try await handshakeStatus(server, try third.token()) == 401)
            // The provider goes away: the keys fetched last stay.
            jwks.stop()
            #expect(try await handshakeStatus(server, try first.token()) == 101)
            #expect(try await handshakeStatus(server, try second.token()) == 101)
            #expect(try await server.http("GET", "/readyz").status == 200, "ready: keys were loaded once")
        }
    }

    /// A JWKS file (a path, not a URL) with every supported key type; entries that must not be used are skipped.
    @Test func fileSourceWithEveryKeyTypeAndSkippedEntries() async throws {
        let rsa = JWKSKey.rsa(try _RSAKeyCache.key, kid: "r1"), ec = JWKSKey.ec("e1"), ed = JWKSKey.ed25519("o1")
        let secret = String(repeating: "s", count: 40)
        let skipped: [[String: String]] = [
            ["kty": "oct", "kid": "h1", "k": "c3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nz"],  // an HMAC secret: never from a JWKS
            ec.jwk.merging(["kid": "enc", "use": "enc"]) { $1 },
            ec.jwk.merging(["kid": "wrong-alg", "alg": "RS256"]) { $1 },
            ec.jwk.merging(["kid": "private", "d": "AAAA"]) { $1 },
            ["kty": "EC", "crv": "P-384", "kid": "p384", "x": "AAAA", "y": "AAAA"],
        ]
        try await withTemporaryDirectory { directory in
            let file = directory.appendingPathComponent("jwks.json")
            try Data(JWKSKey.document([rsa, ec, ed], extra: skipped).utf8).write(to: file)
            try await withTestServer({ $0.jwtSecret = nil; $0.jwtJWKSSources = [file.path] }) { (server: TestServerHandle) async throws in
                try await waitUntilReady(server)
                for key in [rsa, ec, ed] {
                    #expect(try await handshakeStatus(server, try key.token()) == 101, "\(key.algorithm)")
                    #expect(try await handshakeStatus(server, try key.token(kid: .some(nil))) == 101, "\(key.algorithm) without kid")
                }
                // HS256 with the oct key's secret: no HS256 key exists. alg none: never.
                let hs256 = JWTCrafter.hs256(claims: #"{"sub":"u","exp":\#(JWTCrafter.now + 60)}"#, header: #"{"alg":"HS256","kid":"h1"}"#, secret: secret)
                #expect(try await handshakeStatus(server, hs256) == 401)
                let none = base64url(#"{"alg":"none","kid":"e1"}"#) + "." + base64url(#"{"sub":"u","exp":\#(JWTCrafter.now + 60)}"#) + "."
                #expect(try await handshakeStatus(server, none) == 401)
                // A skipped entry's kid finds no key, although the same EC key (as "e1") would verify the signature.
                #expect(try await handshakeStatus(server, try ec.token(kid: "enc")) == 401)
            }
        }
    }

    /// Several static public keys (rotation without a JWKS endpoint), of different types.
    @Test func severalStaticPublicKeys() async throws {
        let ec = JWKSKey.ec("unused"), ed = JWKSKey.ed25519("unused")
        try await withTemporaryDirectory { directory in
            var paths: [String] = []
            for (index, key) in [ec, ed].enumerated() {
                let file = directory.appendingPathComponent("key-\(index).pem")
                try Data(key.publicKeyPEM.utf8).write(to: file)
                paths.append(file.path)
            }
            try await withTestServer({ $0.jwtPublicKeyPaths = paths }) { (server: TestServerHandle) async throws in
                #expect(try await server.http("GET", "/readyz").status == 200)
                #expect(try await handshakeStatus(server, try ec.token(kid: .some(nil))) == 101)
                #expect(try await handshakeStatus(server, try ed.token(kid: .some(nil))) == 101)
                #expect(try await handshakeStatus(server, try JWKSKey.ed25519("x").token(kid: .some(nil))) == 401)
                #expect(try await handshakeStatus(server, try server.token()) == 101, "the HS256 secret still works beside them")
            }
        }
    }
}

/// One RSA key for the suite: generating it is slow in debug builds.
enum _RSAKeyCache {
    static let key: _RSA.Signing.PrivateKey = {
        do { return try _RSA.Signing.PrivateKey(keySize: .bits2048) } catch { fatalError("RSA key generation failed: \(error)") }
    }()
}
