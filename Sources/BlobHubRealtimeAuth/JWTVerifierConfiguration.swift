/// How bearer tokens are verified (SPEC §3 "Bearer tokens", §10 `--jwt-*` flags).
public struct JWTVerifierConfiguration: Sendable {
    /// The smallest accepted HS256 secret, in UTF-8 bytes (the SHA-256 output size; jwt-kit asserts on shorter keys).
    public static let minimumHMACSecretBytes = 32

    /// `--jwt-secret`: enables HS256.
    public var hmacSecret: String?
    /// The contents of `--jwt-public-key`: an RSA (RS256) or EC P-256 (ES256) public key in PEM.
    public var publicKeyPEM: String?
    /// `--jwt-issuer`: when set, `iss` must equal it.
    public var issuer: String?
    /// `--jwt-audience`: when set, `aud` (a string or an array of strings) must contain it.
    public var audience: String?
    /// `--jwt-leeway`: clock skew allowed on `exp`, `nbf` and `iat` (and on expiry of open connections).
    public var leeway: Duration

    public init(
        hmacSecret: String? = nil,
        publicKeyPEM: String? = nil,
        issuer: String? = nil,
        audience: String? = nil,
        leeway: Duration = .seconds(30)
    ) {
        self.hmacSecret = hmacSecret
        self.publicKeyPEM = publicKeyPEM
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
