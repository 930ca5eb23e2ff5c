import Crypto
import CryptoExtras
import Foundation
import Testing

@testable import BlobHubRealtimeAuth

@Suite("BearerTokenVerifier")
struct BearerTokenVerifierTests {
    typealias F = TokenFactory

    private func user(_ id: String = "user-1", expiresIn: Int = 3600) -> UserPrincipal {
        UserPrincipal(userID: id, expiresAt: Date(timeIntervalSince1970: Double(F.nowSeconds + expiresIn)))
    }

    // MARK: Signatures and algorithms

    @Test("a valid HS256 token yields its sub and exp")
    func validHS256() async throws {
        let verifier = try await F.verifier()
        #expect(verifier.isEnabled)
        #expect(verifier.acceptedAlgorithms == ["HS256"])
        #expect(await verifier.outcome(F.hs256(F.claims(sub: "user-42"))) == .success(user("user-42")))
    }

    @Test("a token signed with another secret is rejected")
    func wrongSecret() async throws {
        let verifier = try await F.verifier()
        let token = F.hs256(F.claims(), secret: "another-secret-that-is-long-enough-32b")
        #expect(await verifier.outcome(token) == .failure(.invalidCredentials))
    }

    @Test("a tampered payload is rejected")
    func tamperedPayload() async throws {
        let verifier = try await F.verifier()
        let parts = F.hs256(F.claims(sub: "user-1")).split(separator: ".")
        let forged = parts[0] + "." + F.base64URL(F.json(F.claims(sub: "admin"))) + "." + parts[2]
        #expect(await verifier.outcome(String(forged)) == .failure(.invalidCredentials))
    }

    @Test("alg none is rejected", arguments: ["none", "None", "NONE"])
    func algNone(alg: String) async throws {
        let verifier = try await F.verifier()
        #expect(await verifier.outcome(F.unsecured(F.claims(), alg: alg)) == .failure(.invalidCredentials))
        // Also with a signature part that a sloppy verifier might ignore.
        let withSignature = F.unsecured(F.claims(), alg: alg) + F.base64URL(Data("sig".utf8))
        #expect(await verifier.outcome(withSignature) == .failure(.invalidCredentials))
    }

    @Test("algorithm substitution: HS256 signed with the public key PEM as secret is rejected")
    func algorithmSubstitution() async throws {
        for pem in [F.rsaPublicKeyPEM, F.ecPublicKeyPEM] {
            let verifier = try await F.verifier(secret: nil, publicKeyPEM: pem)
            #expect(!verifier.acceptedAlgorithms.contains("HS256"))
            let forged = F.hs256(F.claims(), secret: pem)
            #expect(await verifier.outcome(forged) == .failure(.invalidCredentials))
        }
    }

    @Test("an unconfigured algorithm is rejected even when its signature would be right")
    func unconfiguredAlgorithm() async throws {
        let hmacOnly = try await F.verifier()
        #expect(try await hmacOnly.outcome(F.rs256()) == .failure(.invalidCredentials))
        // HS384 with the right secret: not an accepted algorithm.
        let hs384Header = F.base64URL(F.json(["alg": "HS384", "typ": "JWT"]))
        let input = hs384Header + "." + F.base64URL(F.json(F.claims()))
        let mac = HMAC<SHA384>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(F.secret.utf8)))
        #expect(await hmacOnly.outcome(input + "." + F.base64URL(Data(mac))) == .failure(.invalidCredentials))
    }

    @Test("a valid RS256 token is accepted with an RSA public key")
    func validRS256() async throws {
        let verifier = try await F.verifier(secret: nil, publicKeyPEM: F.rsaPublicKeyPEM)
        #expect(verifier.acceptedAlgorithms == ["RS256"])
        #expect(try await verifier.outcome(F.rs256(sub: "rsa-user")) == .success(user("rsa-user")))
        #expect(try await verifier.outcome(F.es256()) == .failure(.invalidCredentials))
    }

    @Test("a valid ES256 token is accepted with an EC P-256 public key")
    func validES256() async throws {
        let verifier = try await F.verifier(secret: nil, publicKeyPEM: F.ecPublicKeyPEM)
        #expect(verifier.acceptedAlgorithms == ["ES256"])
        #expect(try await verifier.outcome(F.es256(sub: "ec-user")) == .success(user("ec-user")))
        #expect(try await verifier.outcome(F.rs256()) == .failure(.invalidCredentials))
    }

    @Test("a secret and a public key together accept both algorithms")
    func secretAndPublicKey() async throws {
        let verifier = try await F.verifier(publicKeyPEM: F.rsaPublicKeyPEM)
        #expect(verifier.acceptedAlgorithms == ["HS256", "RS256"])
        #expect(await verifier.outcome(F.hs256(F.claims())) == .success(user()))
        #expect(try await verifier.outcome(F.rs256()) == .success(user()))
        #expect(await verifier.outcome(F.hs256(F.claims(), secret: F.rsaPublicKeyPEM)) == .failure(.invalidCredentials))
    }

    @Test("an RS256 token signed by another RSA key is rejected")
    func otherRSAKey() async throws {
        let other = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let verifier = try await F.verifier(secret: nil, publicKeyPEM: other.publicKey.pemRepresentation)
        #expect(try await verifier.outcome(F.rs256()) == .failure(.invalidCredentials))
    }

    @Test("malformed tokens are rejected", arguments: [
        "", "abc", "a.b", "a.b.c.d", "..", "not base64.at all.!", String(repeating: "a", count: 20_000),
    ])
    func malformed(token: String) async throws {
        let verifier = try await F.verifier()
        #expect(await verifier.outcome(token) == .failure(.invalidCredentials))
    }

    @Test("a crit header is rejected")
    func critHeader() async throws {
        let verifier = try await F.verifier()
        let token = F.hs256(F.claims(), header: ["alg": "HS256", "typ": "JWT", "crit": ["exp"]])
        #expect(await verifier.outcome(token) == .failure(.invalidCredentials))
    }

    // MARK: Required claims

    @Test("missing exp is rejected")
    func missingExp() async throws {
        let verifier = try await F.verifier()
        #expect(await verifier.outcome(F.hs256(F.claims(removing: ["exp"]))) == .failure(.invalidCredentials))
    }

    @Test("a non-numeric exp is rejected")
    func stringExp() async throws {
        let verifier = try await F.verifier()
        let token = F.hs256(F.claims(["exp": String(F.nowSeconds + 3600)]))
        #expect(await verifier.outcome(token) == .failure(.invalidCredentials))
    }

    @Test("missing, empty or blank sub is rejected")
    func missingSub() async throws {
        let verifier = try await F.verifier()
        #expect(await verifier.outcome(F.hs256(F.claims(removing: ["sub"]))) == .failure(.invalidCredentials))
        #expect(await verifier.outcome(F.hs256(F.claims(sub: ""))) == .failure(.invalidCredentials))
        #expect(await verifier.outcome(F.hs256(F.claims(sub: "  "))) == .failure(.invalidCredentials))
        #expect(await verifier.outcome(F.hs256(F.claims(["sub": 42]))) == .failure(.invalidCredentials))
    }

    // MARK: Times and leeway

    @Test("expired beyond the leeway is rejected, within the leeway accepted")
    func expiry() async throws {
        let verifier = try await F.verifier(leeway: .seconds(30))
        #expect(await verifier.outcome(F.hs256(F.claims(expiresIn: -31))) == .failure(.invalidCredentials))
        #expect(await verifier.outcome(F.hs256(F.claims(expiresIn: -30))) == .failure(.invalidCredentials))
        #expect(await verifier.outcome(F.hs256(F.claims(expiresIn: -29))) == .success(user(expiresIn: -29)))
        let strict = try await F.verifier(leeway: .zero)
        #expect(await strict.outcome(F.hs256(F.claims(expiresIn: -1))) == .failure(.invalidCredentials))
        #expect(await strict.outcome(F.hs256(F.claims(expiresIn: 1))) == .success(user(expiresIn: 1)))
    }

    @Test("nbf in the future beyond the leeway is rejected, within accepted")
    func notBefore() async throws {
        let verifier = try await F.verifier(leeway: .seconds(30))
        #expect(await verifier.outcome(F.hs256(F.claims(["nbf": F.nowSeconds + 31]))) == .failure(.invalidCredentials))
        #expect(await verifier.outcome(F.hs256(F.claims(["nbf": F.nowSeconds + 30]))) == .success(user()))
        #expect(await verifier.outcome(F.hs256(F.claims(["nbf": F.nowSeconds - 100]))) == .success(user()))
    }

    @Test("iat in the future beyond the leeway is rejected, within accepted")
    func issuedAt() async throws {
        let verifier = try await F.verifier(leeway: .seconds(30))
        #expect(await verifier.outcome(F.hs256(F.claims(["iat": F.nowSeconds + 31]))) == .failure(.invalidCredentials))
        #expect(await verifier.outcome(F.hs256(F.claims(["iat": F.nowSeconds + 29]))) == .success(user()))
        #expect(await verifier.outcome(F.hs256(F.claims(removing: ["iat"]))) == .success(user()))
    }

    @Test("fractional NumericDates are honoured")
    func fractionalTimes() async throws {
        let verifier = try await F.verifier(leeway: .zero)
        let exp = Double(F.nowSeconds) + 0.5
        #expect(
            await verifier.outcome(F.hs256(F.claims(["exp": exp])))
                == .success(UserPrincipal(userID: "user-1", expiresAt: Date(timeIntervalSince1970: exp))))
        #expect(
            await verifier.outcome(F.hs256(F.claims(["exp": exp])), now: F.now.addingTimeInterval(0.6))
                == .failure(.invalidCredentials))
    }

    // MARK: Issuer and audience

    @Test("iss is checked when configured")
    func issuer() async throws {
        let verifier = try await F.verifier(issuer: "https://blobhub.io")
        #expect(await verifier.outcome(F.hs256(F.claims(["iss": "https://blobhub.io"]))) == .success(user()))
        #expect(await verifier.outcome(F.hs256(F.claims(["iss": "https://evil.example"]))) == .failure(.invalidCredentials))
        #expect(await verifier.outcome(F.hs256(F.claims())) == .failure(.invalidCredentials))
        // Not configured: any iss passes.
        let open = try await F.verifier()
        #expect(await open.outcome(F.hs256(F.claims(["iss": "https://evil.example"]))) == .success(user()))
    }

    @Test("aud is checked when configured, as a string or an array")
    func audience() async throws {
        let verifier = try await F.verifier(audience: "realtime")
        #expect(await verifier.outcome(F.hs256(F.claims(["aud": "realtime"]))) == .success(user()))
        #expect(await verifier.outcome(F.hs256(F.claims(["aud": ["api", "realtime"]]))) == .success(user()))
        #expect(await verifier.outcome(F.hs256(F.claims(["aud": "api"]))) == .failure(.invalidCredentials))
        #expect(await verifier.outcome(F.hs256(F.claims(["aud": ["api", "console"]]))) == .failure(.invalidCredentials))
        #expect(await verifier.outcome(F.hs256(F.claims(["aud": [String]()]))) == .failure(.invalidCredentials))
        #expect(await verifier.outcome(F.hs256(F.claims())) == .failure(.invalidCredentials))
        let open = try await F.verifier()
        #expect(await open.outcome(F.hs256(F.claims(["aud": ["api"]]))) == .success(user()))
    }

    // MARK: Refresh tokens

    @Test("refresh tokens are rejected", arguments: [
        ("token_use", "refresh"), ("token_use", "Refresh"), ("typ", "refresh"), ("typ", "REFRESH"),
    ])
    func refreshClaims(claim: String, value: String) async throws {
        let verifier = try await F.verifier()
        #expect(await verifier.outcome(F.hs256(F.claims([claim: value]))) == .failure(.invalidCredentials))
    }

    @Test("a refresh typ in the header is rejected")
    func refreshHeader() async throws {
        let verifier = try await F.verifier()
        #expect(
            await verifier.outcome(F.hs256(F.claims(), header: ["alg": "HS256", "typ": "Refresh"]))
                == .failure(.invalidCredentials))
    }

    @Test("access-token markers are accepted")
    func accessMarkers() async throws {
        let verifier = try await F.verifier()
        #expect(await verifier.outcome(F.hs256(F.claims(["token_use": "access", "typ": "access"]))) == .success(user()))
    }

    // MARK: Configuration

    @Test("an HMAC secret under 32 bytes is rejected at init")
    func shortSecret() async throws {
        let error = await #expect(throws: JWTConfigurationError.self) {
            _ = try await F.verifier(secret: String(repeating: "s", count: 31))
        }
        #expect(error?.description == "--jwt-secret must be at least 32 bytes")
        let verifier = try await F.verifier(secret: String(repeating: "s", count: 32))
        #expect(verifier.isEnabled)
    }

    @Test("a PEM that is not an RSA or EC P-256 public key is rejected at init", arguments: [
        "", "not a pem", P384.Signing.PrivateKey().publicKey.pemRepresentation,
        Curve25519.Signing.PrivateKey().publicKey.rawRepresentation.base64EncodedString(),
    ])
    func badPEM(pem: String) async throws {
        await #expect(throws: JWTConfigurationError.self) {
            _ = try await F.verifier(secret: nil, publicKeyPEM: pem)
        }
    }

    @Test("a private key PEM is rejected with a clear message")
    func privateKeyPEM() async throws {
        let error = await #expect(throws: JWTConfigurationError.self) {
            _ = try await F.verifier(secret: nil, publicKeyPEM: F.ecPrivateKey.pemRepresentation)
        }
        #expect(error?.description.contains("not a private key") == true)
    }

    @Test("a negative leeway is rejected at init")
    func negativeLeeway() async throws {
        await #expect(throws: JWTConfigurationError.self) {
            _ = try await F.verifier(leeway: .seconds(-1))
        }
    }

    @Test("a verifier without keys is disabled and rejects everything")
    func noKeys() async throws {
        let verifier = try await F.verifier(secret: nil)
        #expect(!verifier.isEnabled)
        #expect(verifier.acceptedAlgorithms.isEmpty)
        #expect(await verifier.outcome(F.hs256(F.claims())) == .failure(.invalidCredentials))
        #expect(await verifier.outcome(F.unsecured(F.claims())) == .failure(.invalidCredentials))
        #expect(try await verifier.outcome(F.rs256()) == .failure(.invalidCredentials))
    }

    @Test("leeway is exposed")
    func leewayExposed() async throws {
        #expect(try await F.verifier(leeway: .seconds(7)).leeway == .seconds(7))
    }
}
