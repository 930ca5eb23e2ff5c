import Foundation
import Testing

@testable import BlobHubRealtimeAuth

@Suite("TokenMinter")
struct TokenMinterTests {
    typealias F = TokenFactory

    @Test("a minted token verifies with its user and expiry")
    func mintedTokenVerifies() async throws {
        let token = try await TokenMinter.mintHS256(secret: F.secret, userID: "user-7", ttl: .seconds(3600), now: F.now)
        let verifier = try await F.verifier()
        #expect(
            await verifier.outcome(token)
                == .success(UserPrincipal(userID: "user-7", expiresAt: F.now.addingTimeInterval(3600))))
        // It expires: an hour and a minute later it is rejected.
        #expect(await verifier.outcome(token, now: F.now.addingTimeInterval(3660)) == .failure(.invalidCredentials))
        // And it is bound to the secret.
        let other = try await F.verifier(secret: "another-secret-that-is-long-enough-32b")
        #expect(await other.outcome(token) == .failure(.invalidCredentials))
    }

    @Test("a minted token verifies with the default clock")
    func defaultClock() async throws {
        let token = try await TokenMinter.mintHS256(secret: F.secret, userID: "user-7", ttl: .seconds(60))
        let principal = try await F.verifier().verify(token)
        #expect(principal.userID == "user-7")
    }

    @Test("extra claims are written: iss and aud pass the checks, token_use refresh is rejected")
    func extraClaims() async throws {
        let verifier = try await F.verifier(issuer: "blobhub", audience: "realtime")
        let good = try await TokenMinter.mintHS256(
            secret: F.secret, userID: "u", ttl: .seconds(60), now: F.now, extraClaims: ["iss": "blobhub", "aud": "realtime"])
        #expect(await verifier.outcome(good) == .success(UserPrincipal(userID: "u", expiresAt: F.now.addingTimeInterval(60))))
        let wrongAudience = try await TokenMinter.mintHS256(
            secret: F.secret, userID: "u", ttl: .seconds(60), now: F.now, extraClaims: ["iss": "blobhub", "aud": "other"])
        #expect(await verifier.outcome(wrongAudience) == .failure(.invalidCredentials))
        let refresh = try await TokenMinter.mintHS256(
            secret: F.secret, userID: "u", ttl: .seconds(60), now: F.now,
            extraClaims: ["iss": "blobhub", "aud": "realtime", "token_use": "refresh"])
        #expect(await verifier.outcome(refresh) == .failure(.invalidCredentials))
    }

    @Test("a negative ttl mints an already expired token")
    func negativeTTL() async throws {
        let token = try await TokenMinter.mintHS256(secret: F.secret, userID: "u", ttl: .seconds(-120), now: F.now)
        #expect(try await F.verifier().outcome(token) == .failure(.invalidCredentials))
    }

    @Test("a short secret, an empty user or a reserved extra claim are refused")
    func refusals() async throws {
        await #expect(throws: JWTConfigurationError.self) {
            _ = try await TokenMinter.mintHS256(secret: "short", userID: "u", ttl: .seconds(60))
        }
        await #expect(throws: JWTConfigurationError.self) {
            _ = try await TokenMinter.mintHS256(secret: F.secret, userID: "", ttl: .seconds(60))
        }
        for reserved in ["sub", "exp", "iat"] {
            await #expect(throws: JWTConfigurationError.self) {
                _ = try await TokenMinter.mintHS256(secret: F.secret, userID: "u", ttl: .seconds(60), extraClaims: [reserved: "x"])
            }
        }
    }
}
