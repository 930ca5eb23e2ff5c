import Foundation

/// The fields of a compact JWS header that decide whether a token is even considered.
struct JOSEHeader: Decodable {
    /// `alg`: selects the key; only the algorithms of configured keys are accepted.
    var alg: String
    /// `typ`: a refresh token announced in the header is rejected.
    var typ: String?
    /// `kid`: picks the key among several of the algorithm (JWKS rotation).
    var kid: String?
    /// Whether `crit` is present: no JWS extension is understood here, so such a token is rejected (RFC 7515 §4.1.11).
    var hasCriticalExtensions: Bool

    private enum CodingKeys: String, CodingKey {
        case alg, typ, kid, crit
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.alg = try container.decode(String.self, forKey: .alg)
        self.typ = try container.decodeIfPresent(String.self, forKey: .typ)
        self.kid = try container.decodeIfPresent(String.self, forKey: .kid)
        self.hasCriticalExtensions = container.contains(.crit)
    }

    /// The header of a compact JWS (`header.payload.signature`), or nil when the token does not have
    /// three parts or its header is not base64url-encoded JSON with a string `alg`.
    static func parse(compactToken token: String) -> JOSEHeader? {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty,
            let json = Base64Credential.decodeBytes(Substring(parts[0]))
        else { return nil }
        return try? JSONDecoder().decode(JOSEHeader.self, from: json)
    }
}
