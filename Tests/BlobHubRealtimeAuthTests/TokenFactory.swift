import Crypto
import CryptoExtras
import Foundation
import JWTKit

@testable import BlobHubRealtimeAuth

/// Builds tokens for the tests: by hand where the header or claims must be unusual, with jwt-kit otherwise.
enum TokenFactory {
    static let secret = "0123456789abcdef0123456789abcdef-test-secret"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static var nowSeconds: Int { Int(now.timeIntervalSince1970) }

    /// Generated once: RSA key generation is slow in debug builds.
    static let rsaPrivateKey: _RSA.Signing.PrivateKey = {
        do { return try _RSA.Signing.PrivateKey(keySize: .bits2048) } catch { fatalError("RSA key generation failed: \(error)") }
    }()
    static let ecPrivateKey = P256.Signing.PrivateKey()

    static var rsaPublicKeyPEM: String { rsaPrivateKey.publicKey.pemRepresentation }
    static var ecPublicKeyPEM: String { ecPrivateKey.publicKey.pemRepresentation }

    static func base64URL(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func json(_ object: [String: Any]) -> Data {
        // Sorted keys: stable output; JSONSerialization writes numbers and strings as given.
        try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// Standard access-token claims at ``now``; `overrides` replaces them, `removing` drops some.
    static func claims(
        sub: String = "user-1",
        expiresIn: Int = 3600,
        _ overrides: [String: Any] = [:],
        removing: Set<String> = []
    ) -> [String: Any] {
        var claims: [String: Any] = ["sub": sub, "iat": nowSeconds, "exp": nowSeconds + expiresIn]
        claims.merge(overrides) { _, new in new }
        for name in removing { claims.removeValue(forKey: name) }
        return claims
    }

    /// An HS256 JWT signed by hand with `secret` (any header, any claims).
    static func hs256(
        _ claims: [String: Any],
        header: [String: Any] = ["alg": "HS256", "typ": "JWT"],
        secret: String = secret
    ) -> String {
        let signingInput = base64URL(json(header)) + "." + base64URL(json(claims))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return signingInput + "." + base64URL(Data(mac))
    }

    /// An unsecured JWT (`alg: none`, empty signature).
    static func unsecured(_ claims: [String: Any], alg: String = "none") -> String {
        base64URL(json(["alg": alg, "typ": "JWT"])) + "." + base64URL(json(claims)) + "."
    }

    /// An RS256 JWT signed with jwt-kit.
    static func rs256(sub: String = "user-1", expiresIn: Int = 3600) async throws -> String {
        let keys = try await JWTKeyCollection()
            .add(rsa: Insecure.RSA.PrivateKey(backing: rsaPrivateKey), digestAlgorithm: .sha256)
        return try await keys.sign(SimpleClaims(sub: sub, iat: nowSeconds, exp: nowSeconds + expiresIn))
    }

    /// An ES256 JWT signed with jwt-kit.
    static func es256(sub: String = "user-1", expiresIn: Int = 3600) async throws -> String {
        let keys = try await JWTKeyCollection().add(ecdsa: ES256PrivateKey(pem: ecPrivateKey.pemRepresentation))
        return try await keys.sign(SimpleClaims(sub: sub, iat: nowSeconds, exp: nowSeconds + expiresIn))
    }

    static func verifier(
        secret: String? = secret,
        publicKeyPEM: String? = nil,
        issuer: String? = nil,
        audience: String? = nil,
        leeway: Duration = .seconds(30)
    ) async throws -> BearerTokenVerifier {
        try await BearerTokenVerifier(
            configuration: JWTVerifierConfiguration(
                hmacSecret: secret, publicKeyPEM: publicKeyPEM, issuer: issuer, audience: audience, leeway: leeway))
    }
}

struct SimpleClaims: JWTPayload {
    var sub: String
    var iat: Int
    var exp: Int
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

extension BearerTokenVerifier {
    /// The verification outcome as a value, for `#expect`.
    func outcome(_ token: String, now: Date = TokenFactory.now) async -> Result<UserPrincipal, AuthenticationFailure> {
        do throws(AuthenticationFailure) {
            return .success(try await verify(token, now: now))
        } catch {
            return .failure(error)
        }
    }
}
