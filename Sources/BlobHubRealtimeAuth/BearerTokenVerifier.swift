import BlobHubRealtimeIdentity
import Foundation
import JWTKit

/// Verifies bearer access tokens (SPEC §3 "Bearer tokens").
///
/// Each configured key lives in its own `JWTKeyCollection`, indexed by the one JWS algorithm it
/// serves: HS256 for `--jwt-secret`, RS256 for an RSA public key, ES256 for an EC P-256 public key.
/// The token's `alg` header picks the collection, so an algorithm without a configured key
/// (`none`, HS384, RS256 when only a secret is set, ...) is rejected before any cryptography, and a
/// token can never be checked with a key of another family (algorithm substitution: HS256 signed with
/// the RSA public key as HMAC secret finds no HS256 key). jwt-kit itself does not compare `alg` with
/// the key, hence this routing.
///
/// Sendable: a final class whose stored properties are all `let` and Sendable
/// (`JWTKeyCollection` is an actor).
public final class BearerTokenVerifier: Sendable {
    /// Tokens longer than this are rejected unparsed (a JWT in a header is far smaller).
    public static let maximumTokenBytes = 16 * 1024

    /// The leeway applied to `exp`, `nbf` and `iat`; the server applies it to expiry of open connections too.
    public let leeway: Duration
    /// The JWS algorithms accepted, following from the configured keys.
    public let acceptedAlgorithms: Set<String>

    private let keysByAlgorithm: [String: JWTKeyCollection]
    private let policy: AccessTokenPolicy

    /// Whether any key is configured. A verifier without keys rejects every bearer token.
    public var isEnabled: Bool { !keysByAlgorithm.isEmpty }

    /// Loads the configured keys. No key at all is not an error: the verifier is then disabled.
    ///
    /// - Throws: ``JWTConfigurationError`` when the HMAC secret is shorter than 32 bytes, the PEM is
    ///   neither an RSA (at least 2048 bits) nor an EC P-256 public key, or the leeway is negative.
    public init(configuration: JWTVerifierConfiguration) async throws {
        guard configuration.leeway >= .zero else {
            throw JWTConfigurationError("--jwt-leeway must not be negative")
        }
        var keys: [String: JWTKeyCollection] = [:]
        if let secret = configuration.hmacSecret {
            keys["HS256"] = try await Self.hmacKeys(secret: secret)
        }
        if let pem = configuration.publicKeyPEM {
            let (algorithm, collection) = try await Self.publicKeys(pem: pem)
            keys[algorithm] = collection
        }
        self.keysByAlgorithm = keys
        self.acceptedAlgorithms = Set(keys.keys)
        self.leeway = configuration.leeway
        self.policy = AccessTokenPolicy(
            issuer: configuration.issuer,
            audience: configuration.audience,
            leewaySeconds: configuration.leeway.timeInterval
        )
    }

    /// The user the token authenticates.
    ///
    /// Rejects (`.invalidCredentials`): no key configured; a malformed token; an `alg` without a
    /// configured key (including `none`); a `crit` header; a bad signature; a missing or blank `sub`;
    /// a missing `exp`; `now >= exp + leeway`; `nbf - leeway > now`; `iat - leeway > now`; an `iss` /
    /// `aud` mismatch when configured; a refresh token (`token_use` claim, or `typ` header or claim,
    /// equal to `refresh`, case-insensitive).
    public func verify(_ token: String, now: Date = Date()) async throws(AuthenticationFailure) -> UserPrincipal {
        guard token.utf8.count <= Self.maximumTokenBytes,
            let header = JOSEHeader.parse(compactToken: token),
            !header.hasCriticalExtensions,
            !AccessTokenClaims.saysRefresh(header.typ),
            let keys = keysByAlgorithm[header.alg]
        else {
            throw .invalidCredentials
        }
        let claims: AccessTokenClaims
        do {
            claims = try await keys.verify(token, as: AccessTokenClaims.self)
        } catch {
            throw .invalidCredentials
        }
        guard let principal = claims.validate(now: now, policy: policy) else {
            throw .invalidCredentials
        }
        return principal
    }

    private static func hmacKeys(secret: String) async throws -> JWTKeyCollection {
        guard secret.utf8.count >= JWTVerifierConfiguration.minimumHMACSecretBytes else {
            throw JWTConfigurationError(
                "--jwt-secret must be at least \(JWTVerifierConfiguration.minimumHMACSecretBytes) bytes")
        }
        return await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    private static func publicKeys(pem: String) async throws -> (algorithm: String, keys: JWTKeyCollection) {
        if let rsa = try? Insecure.RSA.PublicKey(pem: pem) {
            return ("RS256", await JWTKeyCollection().add(rsa: rsa, digestAlgorithm: .sha256))
        }
        if let ec = try? ES256PublicKey(pem: pem) {
            return ("ES256", await JWTKeyCollection().add(ecdsa: ec))
        }
        if pem.contains("PRIVATE KEY") {
            throw JWTConfigurationError(
                "--jwt-public-key must be a public key in PEM (BEGIN PUBLIC KEY), not a private key")
        }
        throw JWTConfigurationError(
            "--jwt-public-key must be an RSA (2048 bits or more) or EC P-256 public key in PEM format")
    }
}
