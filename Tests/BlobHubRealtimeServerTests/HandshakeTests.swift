import BlobHubRealtimeServer
import BlobHubRealtimeServices
import BlobHubRealtimeAuth
import Foundation
import Testing

/// SPEC §3: the four credential variants, every refusal before the upgrade, origins, paths, capacity.
@Suite struct HandshakeTests {
    @Test func bearerHeaderUpgrades() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await TestWebSocket.connect(port: server.port, headers: [("Authorization", "Bearer \(try await server.token())")])
            #expect(socket.handshake.header("Sec-WebSocket-Protocol") == nil)
            #expect(socket.handshake.header("Sec-WebSocket-Accept") != nil)
            let reply = try await socket.initialize()
            #expect(reply["result"] != nil)
            await socket.close()
        }
    }

    @Test func trailingSlashPathUpgrades() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await TestWebSocket.connect(port: server.port, path: "/v1/", headers: [("Authorization", "Bearer \(try await server.token())")])
            await socket.close()
        }
    }

    @Test(arguments: Base64Form.allCases)
    func bearerSubprotocolUpgradesInEveryBase64Form(form: Base64Form) async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let token = try await server.token()
            let socket = try await TestWebSocket.connect(
                port: server.port,
                headers: [("Sec-WebSocket-Protocol", "authorization.bearer.base64, \(form.encode(token))")]
            )
            #expect(socket.handshake.header("Sec-WebSocket-Protocol") == "authorization.bearer.base64")
            #expect(!(socket.handshake.headers.contains { $0.1.contains(form.encode(token)) }))
            _ = try await socket.initialize()
            await socket.close()
        }
    }

    @Test(arguments: Base64Form.allCases)
    func apiKeySubprotocolUpgradesInEveryBase64Form(form: Base64Form) async throws {
        try await withTestServer(apiKeys: StaticAPIKeys.standard) { (server: TestServerHandle) async throws in
            let socket = try await TestWebSocket.connect(
                port: server.port,
                headers: [("Sec-WebSocket-Protocol", "x-api-key.base64, \(form.encode(StaticAPIKeys.readKey))")]
            )
            #expect(socket.handshake.header("Sec-WebSocket-Protocol") == "x-api-key.base64")
            await socket.close()
        }
    }

    @Test func apiKeyHeaderUpgrades() async throws {
        try await withTestServer(apiKeys: StaticAPIKeys.standard) { (server: TestServerHandle) async throws in
            let socket = try await TestWebSocket.connect(port: server.port, headers: [("X-API-Key", StaticAPIKeys.readKey)])
            _ = try await socket.initialize()
            await socket.close()
        }
    }

    @Test func missingCredentialsGet401() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let (socket, head) = try await TestWebSocket.handshake(port: server.port, headers: [])
            #expect(head.status == 401)
            #expect(head.header("WWW-Authenticate") == "Bearer")
            #expect(head.header("Content-Type") == "application/json")
            #expect(head.bodyText == #"{"error":{"code":401,"message":"missing credentials"}}"#)
            try await socket.waitForEOF()
        }
    }

    @Test func queryStringCredentialsAreIgnored() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let token = try await server.token()
            let (_, head) = try await TestWebSocket.handshake(port: server.port, path: "/v1?token=\(token)&access_token=\(token)", headers: [])
            #expect(head.status == 401)
            #expect(head.bodyText.contains("missing credentials"))
        }
    }

    /// Every kind of bad bearer token is refused with the same 401 body.
    @Test func invalidTokensGet401() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let now = Date()
            let hs256Header = base64url(#"{"alg":"HS256","typ":"JWT"}"#)
            let noneHeader = base64url(#"{"alg":"none","typ":"JWT"}"#)
            let claims = base64url(#"{"sub":"user-1","exp":\#(Int(now.timeIntervalSince1970) + 3600)}"#)
            let tokens: [String: String] = [
                "garbage": "not-a-jwt",
                "expired": try await server.token(ttl: .seconds(60), now: now.addingTimeInterval(-3600)),
                "not yet valid": JWTCrafter.hs256(claims: #"{"sub":"user-1","exp":\#(JWTCrafter.now + 3600),"nbf":\#(JWTCrafter.now + 600)}"#),
                "issued in the future": JWTCrafter.hs256(claims: #"{"sub":"user-1","exp":\#(JWTCrafter.now + 3600),"iat":\#(JWTCrafter.now + 600)}"#),
                "refresh (token_use)": JWTCrafter.hs256(claims: #"{"sub":"user-1","exp":\#(JWTCrafter.now + 3600),"token_use":"refresh"}"#),
                "refresh (typ)": JWTCrafter.hs256(claims: #"{"sub":"user-1","exp":\#(JWTCrafter.now + 3600),"typ":"refresh"}"#),
                "no exp": JWTCrafter.hs256(claims: #"{"sub":"user-1"}"#),
                "no sub": JWTCrafter.hs256(claims: #"{"exp":\#(JWTCrafter.now + 3600)}"#),
                "expired beyond leeway": JWTCrafter.hs256(claims: #"{"sub":"user-1","exp":\#(JWTCrafter.now - 31)}"#),
                "wrong signature": "\(hs256Header).\(claims).\(base64url("forged"))",
                "alg none": "\(noneHeader).\(claims).",
                "wrong secret": try await TokenMinter.mintHS256(secret: String(repeating: "x", count: 40), userID: "user-1", ttl: .seconds(60)),
            ]
            for (kind, token) in tokens {
                let (_, head) = try await TestWebSocket.handshake(port: server.port, headers: [("Authorization", "Bearer \(token)")])
                #expect(head.status == 401, "\(kind)")
                #expect(head.header("WWW-Authenticate") == "Bearer", "\(kind)")
                #expect(head.bodyText == #"{"error":{"code":401,"message":"invalid credentials"}}"#, "\(kind)")
            }
        }
    }

    @Test func malformedAuthorizationGets401() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            for value in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer "] {
                let (_, head) = try await TestWebSocket.handshake(port: server.port, headers: [("Authorization", value)])
                #expect(head.status == 401, "\(value)")
                #expect(head.bodyText.contains("invalid credentials"), "\(value)")
            }
        }
    }

    @Test func badSubprotocolValueGets401() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            for value in ["authorization.bearer.base64", "authorization.bearer.base64, !!!not-base64!!!", "x-api-key.base64, "] {
                let (_, head) = try await TestWebSocket.handshake(port: server.port, headers: [("Sec-WebSocket-Protocol", value)])
                #expect(head.status == 401, "\(value)")
                #expect(head.bodyText.contains("invalid credentials"), "\(value)")
            }
        }
    }

    @Test func unknownAPIKeyGets401() async throws {
        try await withTestServer(apiKeys: StaticAPIKeys.standard) { (server: TestServerHandle) async throws in
            let (_, head) = try await TestWebSocket.handshake(port: server.port, headers: [("X-API-Key", "bhk_unknown")])
            #expect(head.status == 401)
            #expect(head.bodyText.contains("invalid credentials"))
        }
    }

    /// An invalid credential is never skipped in favour of a valid one of lower precedence.
    @Test func precedenceNeverFallsBack() async throws {
        try await withTestServer(apiKeys: StaticAPIKeys.standard) { (server: TestServerHandle) async throws in
            let token = try await server.token()
            let cases: [(headers: [(String, String)], status: Int)] = [
                ([("Authorization", "Bearer broken"), ("X-API-Key", StaticAPIKeys.readKey)], 401),
                ([("X-API-Key", "bhk_unknown"), ("Sec-WebSocket-Protocol", "authorization.bearer.base64, \(Base64Form.urlSafeUnpadded.encode(token))")], 401),
                ([("Authorization", "Bearer \(token)"), ("X-API-Key", "bhk_unknown")], 101),
                ([("X-API-Key", StaticAPIKeys.readKey), ("Sec-WebSocket-Protocol", "authorization.bearer.base64, \(Base64Form.urlSafeUnpadded.encode("broken"))")], 101),
            ]
            for (index, testCase) in cases.enumerated() {
                let (socket, head) = try await TestWebSocket.handshake(port: server.port, headers: testCase.headers)
                #expect(head.status == testCase.status, "case \(index)")
                await socket.close()
            }
        }
    }

    @Test func disallowedOriginGets403() async throws {
        try await withTestServer({ $0.allowedOrigins = ["https://app.blobhub.io"] }) { (server: TestServerHandle) async throws in
            let auth = ("Authorization", "Bearer \(try await server.token())")
            let (_, refused) = try await TestWebSocket.handshake(port: server.port, headers: [auth, ("Origin", "https://evil.example")])
            #expect(refused.status == 403)
            #expect(refused.bodyJSON?["error"] != nil)
            let allowed = try await TestWebSocket.connect(port: server.port, headers: [auth, ("Origin", "https://app.blobhub.io")])
            await allowed.close()
            let noOrigin = try await TestWebSocket.connect(port: server.port, headers: [auth])
            await noOrigin.close()
        }
    }

    @Test func otherPathsGet404() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let (_, head) = try await TestWebSocket.handshake(port: server.port, path: "/v2", headers: [("Authorization", "Bearer \(try await server.token())")])
            #expect(head.status == 404)
            #expect(head.bodyText == #"{"error":{"code":404,"message":"Not found"}}"#)
        }
    }

    @Test func unsupportedWebSocketVersionGets400() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await RawSocket.connect(port: server.port)
            let head = try await socket.request("GET", "/v1", headers: [
                ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "8"), ("Authorization", "Bearer \(try await server.token())"),
            ])
            #expect(head.status == 400)
            #expect(head.header("Sec-WebSocket-Version") == "13")
        }
    }

    @Test func maxConnectionsGives503() async throws {
        try await withTestServer({ $0.maxConnections = 1 }) { (server: TestServerHandle) async throws in
            let first = try await server.connect()
            let (_, head) = try await TestWebSocket.handshake(port: server.port, headers: [("Authorization", "Bearer \(try await server.token())")])
            #expect(head.status == 503)
            #expect(head.bodyJSON?["error"] != nil)
            await first.close()
        }
    }
}

func base64url(_ text: String) -> String {
    Data(text.utf8).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
}

@Suite struct TokenTimeTests {
    @Test func tokenExpiredWithinLeewayIsAccepted() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let token = JWTCrafter.hs256(claims: #"{"sub":"user-1","exp":\#(JWTCrafter.now - 10)}"#)
            let (socket, head) = try await TestWebSocket.handshake(port: server.port, headers: [("Authorization", "Bearer \(token)")])
            #expect(head.status == 101)
            await socket.close()
        }
    }

    @Test func issuerAndAudienceAreCheckedWhenConfigured() async throws {
        try await withTestServer({ $0.jwtIssuer = "https://auth.blobhub.io"; $0.jwtAudience = "realtime" }) { (server: TestServerHandle) async throws in
            let exp = JWTCrafter.now + 3600
            let cases: [(String, Int)] = [
                (#"{"sub":"u","exp":\#(exp),"iss":"https://auth.blobhub.io","aud":"realtime"}"#, 101),
                (#"{"sub":"u","exp":\#(exp),"iss":"https://auth.blobhub.io","aud":["other","realtime"]}"#, 101),
                (#"{"sub":"u","exp":\#(exp),"iss":"https://evil.example","aud":"realtime"}"#, 401),
                (#"{"sub":"u","exp":\#(exp),"iss":"https://auth.blobhub.io","aud":"other"}"#, 401),
                (#"{"sub":"u","exp":\#(exp),"aud":"realtime"}"#, 401),
            ]
            for (claims, status) in cases {
                let (socket, head) = try await TestWebSocket.handshake(port: server.port, headers: [("Authorization", "Bearer \(JWTCrafter.hs256(claims: claims))")])
                #expect(head.status == status, "\(claims)")
                await socket.close()
            }
        }
    }
}
