import Foundation
import JWTKit

/// Mints HS256 access tokens (CLI `token` command, `POST /v1/admin/tokens`, tests).
public enum TokenMinter {
    /// Claims set by the minter itself, which `extraClaims` may not override.
    public static let reservedClaims: Set<String> = ["sub", "iat", "exp"]

    /// A signed HS256 JWT with `sub` = `userID`, `iat` = `now`, `exp` = `now + ttl` (whole seconds,
    /// rounded down), plus `extraClaims` as string claims (e.g. `iss`, `aud`, `token_use`).
    ///
    /// - Throws: ``JWTConfigurationError`` for a secret shorter than 32 bytes, an empty user id, or an
    ///   extra claim named `sub`, `iat` or `exp`.
    public static func mintHS256(
        secret: String,
        userID: String,
        ttl: Duration,
        now: Date = Date(),
        extraClaims: [String: String] = [:]
    ) async throws -> String {
        guard secret.utf8.count >= JWTVerifierConfiguration.minimumHMACSecretBytes else {
            throw JWTConfigurationError(
                "--jwt-secret must be at least \(JWTVerifierConfiguration.minimumHMACSecretBytes) bytes")
        }
        guard !userID.isEmpty else {
            throw JWTConfigurationError("the user id must not be empty")
        }
        if let reserved = extraClaims.keys.first(where: reservedClaims.contains) {
            throw JWTConfigurationError("extra claim \"\(reserved)\" is set by the minter")
        }
        let issuedAt = now.timeIntervalSince1970.rounded(.down)
        let expiresAt = (now.timeIntervalSince1970 + ttl.timeInterval).rounded(.down)
        guard let iat = Int(exactly: issuedAt), let exp = Int(exactly: expiresAt) else {
            throw JWTConfigurationError("token times out of range")
        }
        let claims = MintedClaims(sub: userID, iat: iat, exp: exp, extra: extraClaims)
        let keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }
}

/// The payload written by ``TokenMinter``: fixed claims plus arbitrary string claims.
private struct MintedClaims: JWTPayload {
    var sub: String
    var iat: Int
    var exp: Int
    var extra: [String: String]

    init(sub: String, iat: Int, exp: Int, extra: [String: String]) {
        self.sub = sub
        self.iat = iat
        self.exp = exp
        self.extra = extra
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { self.stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        self.sub = try container.decode(String.self, forKey: Key("sub"))
        self.iat = try container.decode(Int.self, forKey: Key("iat"))
        self.exp = try container.decode(Int.self, forKey: Key("exp"))
        var extra: [String: String] = [:]
        for key in container.allKeys where !TokenMinter.reservedClaims.contains(key.stringValue) {
            if let value = try? container.decode(String.self, forKey: key) {
                extra[key.stringValue] = value
            }
        }
        self.extra = extra
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (name, value) in extra {
            try container.encode(value, forKey: Key(name))
        }
        try container.encode(sub, forKey: Key("sub"))
        try container.encode(iat, forKey: Key("iat"))
        try container.encode(exp, forKey: Key("exp"))
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
