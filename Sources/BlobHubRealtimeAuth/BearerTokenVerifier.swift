import BlobHubRealtimeIdentity
import Foundation
import JWTKit

/// Verifies bearer access tokens (SPEC §3 "Bearer tokens").
///
/// Keys live in a ``KeyRing``: each ``SigningKey`` serves the one JWS algorithm its type allows
/// (HS256 for `--jwt-secret`, RS256 / ES256 / EdDSA for public keys, from `--jwt-public-key` or a JWKS
/// document). The token's `alg` header picks the keys, so an algorithm without a key (`none`, HS384,
/// RS256 when only a secret is set, ...) is rejected before any cryptography, and a token can never
/// be checked with a key of another family (algorithm substitution: HS256 signed with the RSA public
/// key as HMAC secret finds no HS256 key). jwt-kit itself does not compare `alg` with the key, hence
/// this routing. A `kid` picks that key first; a `kid` no key has asks the ring's refresher (JWKS
/// sources, rate-limited) once before the token is refused.
///
/// Sendable: a final class whose stored properties are all `let` and Sendable.
public final class BearerTokenVerifier: Sendable {
    /// Tokens longer than this are rejected unparsed (a JWT in a header is far smaller).
    public static let maximumTokenBytes = 16 * 1024
    /// Keys tried per token at most (a kid-less token against many kid-less keys).
    static let maximumCandidates = 8

    /// The leeway applied to `exp`, `nbf` and `iat`; the server applies it to expiry of open connections too.
    public let leeway: Duration
    public let keyRing: KeyRing
    private let policy: AccessTokenPolicy

    /// The JWS algorithms accepted now, following from the keys.
    public var acceptedAlgorithms: Set<String> { keyRing.algorithms }

    /// Whether any key or key source is configured. A verifier without either rejects every bearer token.
    public var isEnabled: Bool { keyRing.isConfigured }

    /// Loads the static keys. No key at all is not an error: the verifier is then disabled.
    ///
    /// - Throws: ``JWTConfigurationError`` when the HMAC secret is shorter than 32 bytes, a PEM is
    ///   neither an RSA (at least 2048 bits), EC P-256 nor Ed25519 public key, or the leeway is negative.
    public init(configuration: JWTVerifierConfiguration) async throws {
        guard configuration.leeway >= .zero else {
            throw JWTConfigurationError("--jwt-leeway must not be negative")
        }
        var keys: [SigningKey] = []
        if let secret = configuration.hmacSecret {
            keys.append(try await .hmac(secret: secret))
        }
        for pem in configuration.publicKeyPEMs {
            keys.append(try await .publicKey(pem: pem))
        }
        self.keyRing = KeyRing(staticKeys: keys, hasSources: configuration.hasKeySources, grace: configuration.keyGrace)
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
    /// key (including `none`); a `crit` header; a bad signature; a missing or blank `sub`;
    /// a missing `exp`; `now >= exp + leeway`; `nbf - leeway > now`; `iat - leeway > now`; an `iss` /
    /// `aud` mismatch when configured; a refresh token (`token_use` claim, or `typ` header or claim,
    /// equal to `refresh`, case-insensitive).
    public func verify(_ token: String, now: Date = Date()) async throws(AuthenticationFailure) -> UserPrincipal {
        guard token.utf8.count <= Self.maximumTokenBytes,
            let header = JOSEHeader.parse(compactToken: token),
            !header.hasCriticalExtensions,
            !AccessTokenClaims.saysRefresh(header.typ),
            SigningKey.supportedAlgorithms.contains(header.alg)
        else {
            throw .invalidCredentials
        }
        var (keys, unknownKID) = keyRing.candidates(algorithm: header.alg, kid: header.kid)
        if unknownKID {
            // A key rotated in at the identity provider: look once more before refusing.
            await keyRing.refreshForUnknownKID()
            keys = keyRing.candidates(algorithm: header.alg, kid: header.kid).keys
        }
        var claims: AccessTokenClaims?
        for key in keys.prefix(Self.maximumCandidates) {
            if let verified = try? await key.keys.verify(token, as: AccessTokenClaims.self) {
                claims = verified
                break
            }
        }
        guard let claims, let principal = claims.validate(now: now, policy: policy) else {
            throw .invalidCredentials
        }
        return principal
    }
}
