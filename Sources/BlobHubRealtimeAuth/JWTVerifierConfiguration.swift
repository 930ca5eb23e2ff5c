/// How bearer tokens are verified (SPEC §3 "Bearer tokens", §10 `--jwt-*` flags).
public struct JWTVerifierConfiguration: Sendable {
    /// The smallest accepted HS256 secret, in UTF-8 bytes (the SHA-256 output size; jwt-kit asserts on shorter keys).
    public static let minimumHMACSecretBytes = 32

    /// `--jwt-secret`: enables HS256.
    public var hmacSecret: String?
    /// The contents of every `--jwt-public-key`: RSA (RS256), EC P-256 (ES256) or Ed25519 (EdDSA)
    /// public keys in PEM. Several at once serve a rotation (old and new key side by side).
    public var publicKeyPEMs: [String]
    /// JWKS sources are configured (`--jwt-jwks-url`); their keys are installed into the verifier's
    /// ``KeyRing`` by whoever fetches them.
    public var hasKeySources: Bool
    /// How long a JWKS key stays usable after its document stopped listing it.
    public var keyGrace: Duration
    /// `--jwt-issuer`: when set, `iss` must equal it.
    public var issuer: String?
    /// `--jwt-audience`: when set, `aud` (a string or an array of strings) must contain it.
    public var audience: String?
    /// `--jwt-leeway`: clock skew allowed on `exp`, `nbf` and `iat` (and on expiry of open connections).
    public var leeway: Duration

    public init(
        hmacSecret: String? = nil,
        publicKeyPEM: String? = nil,
        publicKeyPEMs: [String] = [],
        hasKeySources: Bool = false,
        keyGrace: Duration = .seconds(600),
        issuer: String? = nil,
        audience: String? = nil,
        leeway: Duration = .seconds(30)
    ) {
        self.hmacSecret = hmacSecret
        self.publicKeyPEMs = (publicKeyPEM.map { [$0] } ?? []) + publicKeyPEMs
        self.hasKeySources = hasKeySources
        self.keyGrace = keyGrace
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
    }
}

/// A JWT configuration that cannot be used; `description` is meant for the operator.
public struct JWTConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
