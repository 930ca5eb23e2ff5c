import BlobHubRealtimeIdentity
import Foundation
import JWTKit

/// The claims of a bearer access token, decoded leniently (every claim optional) and then checked by
/// ``validate(now:policy:)``.
///
/// jwt-kit calls ``verify(using:)`` right after the signature check, but that hook has no clock and no
/// configuration; so it does nothing and ``BearerTokenVerifier`` calls ``validate(now:policy:)`` after
/// the signature verified. Times are decoded as plain numbers (NumericDate may be fractional).
struct AccessTokenClaims: JWTPayload, Equatable {
    var sub: String?
    var exp: Double?
    var nbf: Double?
    var iat: Double?
    var iss: String?
    /// `aud` as an array whether the token carries a string or an array of strings.
    var aud: [String]?
    var tokenUse: String?
    var typ: String?

    enum CodingKeys: String, CodingKey {
        case sub, exp, nbf, iat, iss, aud, typ
        case tokenUse = "token_use"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.sub = try container.decodeIfPresent(String.self, forKey: .sub)
        self.exp = try container.decodeIfPresent(Double.self, forKey: .exp)
        self.nbf = try container.decodeIfPresent(Double.self, forKey: .nbf)
        self.iat = try container.decodeIfPresent(Double.self, forKey: .iat)
        self.iss = try container.decodeIfPresent(String.self, forKey: .iss)
        if let single = try? container.decodeIfPresent(String.self, forKey: .aud) {
            self.aud = [single]
        } else {
            self.aud = try container.decodeIfPresent([String].self, forKey: .aud)
        }
        self.tokenUse = try container.decodeIfPresent(String.self, forKey: .tokenUse)
        self.typ = try container.decodeIfPresent(String.self, forKey: .typ)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(sub, forKey: .sub)
        try container.encodeIfPresent(exp, forKey: .exp)
        try container.encodeIfPresent(nbf, forKey: .nbf)
        try container.encodeIfPresent(iat, forKey: .iat)
        try container.encodeIfPresent(iss, forKey: .iss)
        try container.encodeIfPresent(aud, forKey: .aud)
        try container.encodeIfPresent(tokenUse, forKey: .tokenUse)
        try container.encodeIfPresent(typ, forKey: .typ)
    }

    /// Claim checks happen in ``validate(now:policy:)``, which knows the clock and the configuration.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// The user this access token authenticates, or nil when a required claim is missing or any check fails:
    /// `sub` present and not blank; `exp` present and `now < exp + leeway`; `nbf - leeway <= now`;
    /// `iat - leeway <= now`; `iss` / `aud` when the policy sets them; not a refresh token
    /// (`token_use` or `typ` equal to `refresh`, case-insensitive).
    func validate(now: Date, policy: AccessTokenPolicy) -> UserPrincipal? {
        let now = now.timeIntervalSince1970
        let leeway = policy.leewaySeconds
        guard let sub, !sub.allSatisfy(\.isWhitespace) else { return nil }
        guard let exp, exp.isFinite, now < exp + leeway else { return nil }
        if let nbf {
            guard nbf.isFinite, nbf - leeway <= now else { return nil }
        }
        if let iat {
            guard iat.isFinite, iat - leeway <= now else { return nil }
        }
        if let issuer = policy.issuer, iss != issuer { return nil }
        if let audience = policy.audience, !(aud ?? []).contains(audience) { return nil }
        if Self.saysRefresh(tokenUse) || Self.saysRefresh(typ) { return nil }
        return UserPrincipal(userID: sub, expiresAt: Date(timeIntervalSince1970: exp))
    }

    /// Whether a `token_use` / `typ` value marks a refresh token (only access tokens connect).
    static func saysRefresh(_ value: String?) -> Bool {
        guard let value else { return false }
        return CredentialExtractor.asciiCaseInsensitiveEquals(value.trimmingCharacters(in: .whitespaces), "refresh")
    }
}

/// The configured claim expectations.
struct AccessTokenPolicy: Sendable {
    var issuer: String?
    var audience: String?
    var leewaySeconds: Double
}

extension Duration {
    /// The duration in (fractional) seconds (also the server's: token leeway, ping interval, retention).
    package var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
