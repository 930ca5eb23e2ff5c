import BlobHubRealtimeIdentity
import NIOHTTP1

/// Finds the credential of a WebSocket upgrade request (SPEC §3).
public enum CredentialExtractor {
    /// The subprotocol marker announcing a base64 bearer token in the next list element.
    public static let bearerSubprotocolMarker = "authorization.bearer.base64"
    /// The subprotocol marker announcing a base64 API key in the next list element.
    public static let apiKeySubprotocolMarker = "x-api-key.base64"

    /// SPEC §3 precedence: `Authorization` wins, then `X-API-Key`, then the subprotocol. A
    /// present-but-malformed credential is `.invalidCredentials` and never falls back to another one.
    ///
    /// - `Authorization` must be `Bearer <token>`: scheme case-insensitive, one or more spaces, a
    ///   non-empty token without whitespace. Anything else (another scheme, no token, several
    ///   `Authorization` lines) is invalid.
    /// - `X-API-Key` must have a non-empty value after trimming; several lines are invalid.
    /// - `Sec-WebSocket-Protocol` is a comma-separated list, possibly spread over several header
    ///   lines (empty elements are ignored). The marker `authorization.bearer.base64` or
    ///   `x-api-key.base64` (case-insensitive) is followed by the base64 credential as the next
    ///   element: standard or URL-safe alphabet, padded or unpadded. A missing, undecodable, empty
    ///   or non-UTF-8 value is invalid. When both markers appear, the bearer marker wins (same order
    ///   as the headers: bearer before API key); its value alone decides. Other subprotocol values
    ///   are ignored, and a list without a marker counts as no credential.
    /// - Nothing present: `.missingCredentials`. Query strings are never looked at.
    public static func extract(from headers: HTTPHeaders) -> Result<PresentedCredential, AuthenticationFailure> {
        let authorization = headers["Authorization"]
        if !authorization.isEmpty {
            guard authorization.count == 1, let token = bearerToken(fromAuthorization: authorization[0]) else {
                return .failure(.invalidCredentials)
            }
            return .success(PresentedCredential(credential: .bearer(token), transport: .header))
        }

        let apiKey = headers["X-API-Key"]
        if !apiKey.isEmpty {
            let value = apiKey.count == 1 ? trimmed(apiKey[0]) : ""
            guard !value.isEmpty else { return .failure(.invalidCredentials) }
            return .success(PresentedCredential(credential: .apiKey(String(value)), transport: .header))
        }

        return subprotocolCredential(headers["Sec-WebSocket-Protocol"])
    }

    /// The token of `Bearer <token>`, or nil when the value has any other shape.
    static func bearerToken(fromAuthorization value: String) -> String? {
        let value = trimmed(value)
        guard let space = value.firstIndex(of: " ") else { return nil }
        guard asciiCaseInsensitiveEquals(value[..<space], "bearer") else { return nil }
        let token = trimmed(value[space...])
        guard !token.isEmpty, !token.contains(where: \.isWhitespace) else { return nil }
        return String(token)
    }

    static func subprotocolCredential(_ lines: [String]) -> Result<PresentedCredential, AuthenticationFailure> {
        let elements = lines.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map(trimmed)
            .filter { !$0.isEmpty }

        let markers: [(marker: String, makeCredential: (String) -> Credential)] = [
            (bearerSubprotocolMarker, Credential.bearer),
            (apiKeySubprotocolMarker, Credential.apiKey),
        ]
        for (marker, makeCredential) in markers {
            guard let index = elements.firstIndex(where: { asciiCaseInsensitiveEquals($0, marker) }) else { continue }
            let valueIndex = elements.index(after: index)
            guard valueIndex < elements.endIndex,
                let decoded = Base64Credential.decode(elements[valueIndex])
            else {
                return .failure(.invalidCredentials)
            }
            return .success(
                PresentedCredential(
                    credential: makeCredential(decoded),
                    transport: .subprotocol(marker: String(elements[index]))
                )
            )
        }
        return .failure(.missingCredentials)
    }

    /// ASCII-only case folding: header tokens are ASCII, and Unicode folding (e.g. the Kelvin sign
    /// folding to "k") must not let a non-ASCII value pass for a marker.
    static func asciiCaseInsensitiveEquals(_ lhs: some StringProtocol, _ rhs: some StringProtocol) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        return zip(lhs.utf8, rhs.utf8).allSatisfy { asciiLower($0) == asciiLower($1) }
    }

    private static func asciiLower(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }

    private static func trimmed(_ value: some StringProtocol) -> Substring {
        let value = Substring(value)
        guard let start = value.firstIndex(where: { !$0.isWhitespace }),
            let end = value.lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return value[start...end]
    }
}
