import Foundation
import NIOHTTP1
import Testing

@testable import BlobHubRealtimeAuth

/// A resolver with one known key.
private struct OneKey: APIKeyResolver {
    let secret: String
    let principal: APIKeyPrincipal
    func resolve(secret: String, now: Date) async throws -> APIKeyPrincipal? {
        secret == self.secret ? principal : nil
    }
}

private struct StoreDown: Error {}

/// A resolver whose store is unreachable.
private struct FailingResolver: APIKeyResolver {
    func resolve(secret: String, now: Date) async throws -> APIKeyPrincipal? { throw StoreDown() }
}

@Suite("Authenticator")
struct AuthenticatorTests {
    typealias F = TokenFactory

    static let keyPrincipal = APIKeyPrincipal(
        keyID: "key-1", userID: "user-9", target: .organization("org-1"), role: .read, expiresAt: nil)

    private func authenticator(_ resolver: any APIKeyResolver = OneKey(secret: "bhk_live", principal: keyPrincipal)) async throws
        -> Authenticator
    {
        Authenticator(bearer: try await F.verifier(), apiKeys: resolver)
    }

    private func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    @Test("a bearer header authenticates the user without a subprotocol")
    func bearerHeader() async throws {
        let result = try await authenticator().authenticate(
            headers: HTTPHeaders([("Authorization", "Bearer \(F.hs256(F.claims(sub: "u1")))")]), now: F.now)
        let expected = AuthenticatedClient(
            principal: .user(UserPrincipal(userID: "u1", expiresAt: F.now.addingTimeInterval(3600))), selectedSubprotocol: nil)
        #expect(result == .success(expected))
        #expect(try result.get().principal.userID == "u1")
        #expect(try result.get().principal.expiresAt == F.now.addingTimeInterval(3600))
    }

    @Test("a bearer subprotocol selects the marker")
    func bearerSubprotocol() async throws {
        let token = F.hs256(F.claims(sub: "u1"))
        let result = try await authenticator().authenticate(
            headers: HTTPHeaders([("Sec-WebSocket-Protocol", "authorization.bearer.base64, \(base64(token))")]), now: F.now)
        #expect(try result.get().selectedSubprotocol == "authorization.bearer.base64")
        #expect(try result.get().principal == .user(UserPrincipal(userID: "u1", expiresAt: F.now.addingTimeInterval(3600))))
    }

    @Test("an API key via header or subprotocol resolves to its principal")
    func apiKey() async throws {
        let auth = try await authenticator()
        let viaHeader = try await auth.authenticate(headers: HTTPHeaders([("X-API-Key", "bhk_live")]), now: F.now)
        #expect(viaHeader == .success(AuthenticatedClient(principal: .apiKey(Self.keyPrincipal), selectedSubprotocol: nil)))
        let viaSubprotocol = try await auth.authenticate(
            headers: HTTPHeaders([("Sec-WebSocket-Protocol", "x-api-key.base64, \(base64("bhk_live"))")]), now: F.now)
        #expect(
            viaSubprotocol
                == .success(AuthenticatedClient(principal: .apiKey(Self.keyPrincipal), selectedSubprotocol: "x-api-key.base64")))
        #expect(try viaHeader.get().principal.userID == "user-9")
        #expect(try viaHeader.get().principal.expiresAt == nil)
    }

    @Test("an unknown API key is invalid; NoAPIKeys knows none")
    func unknownAPIKey() async throws {
        let headers = HTTPHeaders([("X-API-Key", "bhk_other")])
        #expect(try await authenticator().authenticate(headers: headers, now: F.now) == .failure(.invalidCredentials))
        let none = try await authenticator(NoAPIKeys())
        #expect(
            try await none.authenticate(headers: HTTPHeaders([("X-API-Key", "bhk_live")]), now: F.now) == .failure(.invalidCredentials))
    }

    @Test("an expired key returned by a resolver is still refused")
    func expiredAPIKey() async throws {
        var expired = Self.keyPrincipal
        expired.expiresAt = F.now.addingTimeInterval(-1)
        let auth = try await authenticator(OneKey(secret: "bhk_live", principal: expired))
        #expect(try await auth.authenticate(headers: HTTPHeaders([("X-API-Key", "bhk_live")]), now: F.now) == .failure(.invalidCredentials))
    }

    @Test("a resolver failure is thrown, not reported as a 401")
    func resolverFailure() async throws {
        let auth = try await authenticator(FailingResolver())
        let error = await #expect(throws: APIKeyResolutionError.self) {
            _ = try await auth.authenticate(headers: HTTPHeaders([("X-API-Key", "bhk_live")]), now: F.now)
        }
        #expect(error?.underlying is StoreDown)
    }

    @Test("missing and invalid credentials are failures")
    func failures() async throws {
        let auth = try await authenticator()
        #expect(try await auth.authenticate(headers: HTTPHeaders(), now: F.now) == .failure(.missingCredentials))
        let expired = F.hs256(F.claims(expiresIn: -3600))
        #expect(
            try await auth.authenticate(headers: HTTPHeaders([("Authorization", "Bearer \(expired)")]), now: F.now)
                == .failure(.invalidCredentials))
        #expect(
            try await auth.authenticate(headers: HTTPHeaders([("Authorization", "Basic abc")]), now: F.now)
                == .failure(.invalidCredentials))
    }

    @Test("an invalid bearer header does not fall back to a valid API key")
    func noFallback() async throws {
        let headers = HTTPHeaders([("Authorization", "Bearer \(F.hs256(F.claims(), secret: "wrong-secret-wrong-secret-wrong-secret"))"), ("X-API-Key", "bhk_live")])
        #expect(try await authenticator().authenticate(headers: headers, now: F.now) == .failure(.invalidCredentials))
    }
}
