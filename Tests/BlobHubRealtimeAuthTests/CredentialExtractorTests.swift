import Foundation
import NIOHTTP1
import Testing

@testable import BlobHubRealtimeAuth

@Suite("CredentialExtractor")
struct CredentialExtractorTests {
    private func extract(_ pairs: [(String, String)]) -> Result<PresentedCredential, AuthenticationFailure> {
        CredentialExtractor.extract(from: HTTPHeaders(pairs))
    }

    private func bearerHeader(_ token: String) -> PresentedCredential {
        PresentedCredential(credential: .bearer(token), transport: .header)
    }

    // MARK: Authorization

    @Test("Authorization: Bearer <token> is a bearer credential", arguments: [
        "Bearer abc.def.ghi", "bearer abc.def.ghi", "BEARER abc.def.ghi", "Bearer    abc.def.ghi", "  Bearer abc.def.ghi  ",
    ])
    func bearerHeaderAccepted(value: String) {
        #expect(extract([("Authorization", value)]) == .success(bearerHeader("abc.def.ghi")))
    }

    @Test("malformed Authorization is invalid", arguments: [
        "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer    ", "Bearerabc.def.ghi", "Token abc.def.ghi",
        "Bearer abc def", "", "abc.def.ghi", "Bearer\tabc.def.ghi",
    ])
    func malformedAuthorization(value: String) {
        #expect(extract([("Authorization", value)]) == .failure(.invalidCredentials))
    }

    @Test("two Authorization lines are invalid")
    func twoAuthorizationLines() {
        #expect(extract([("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer d.e.f")]) == .failure(.invalidCredentials))
    }

    // MARK: X-API-Key

    @Test("X-API-Key is an API-key credential, trimmed")
    func apiKeyHeader() {
        #expect(
            extract([("X-API-Key", "  bhk_secret  ")])
                == .success(PresentedCredential(credential: .apiKey("bhk_secret"), transport: .header)))
        #expect(
            extract([("x-api-key", "bhk_secret")])
                == .success(PresentedCredential(credential: .apiKey("bhk_secret"), transport: .header)))
    }

    @Test("empty X-API-Key is invalid", arguments: ["", "   "])
    func emptyAPIKey(value: String) {
        #expect(extract([("X-API-Key", value)]) == .failure(.invalidCredentials))
    }

    // MARK: Precedence

    @Test("Authorization beats X-API-Key")
    func authorizationBeatsAPIKey() {
        #expect(extract([("X-API-Key", "bhk_secret"), ("Authorization", "Bearer a.b.c")]) == .success(bearerHeader("a.b.c")))
    }

    @Test("Authorization beats the subprotocol")
    func authorizationBeatsSubprotocol() {
        let headers = [
            ("Sec-WebSocket-Protocol", "x-api-key.base64, \(Fixtures.credentialStandardPadded)"),
            ("Authorization", "Bearer a.b.c"),
        ]
        #expect(extract(headers) == .success(bearerHeader("a.b.c")))
    }

    @Test("X-API-Key beats the subprotocol")
    func apiKeyBeatsSubprotocol() {
        let headers = [
            ("Sec-WebSocket-Protocol", "authorization.bearer.base64, \(Fixtures.credentialStandardPadded)"),
            ("X-API-Key", "bhk_secret"),
        ]
        #expect(extract(headers) == .success(PresentedCredential(credential: .apiKey("bhk_secret"), transport: .header)))
    }

    @Test("an invalid Authorization does not fall back to a valid X-API-Key or subprotocol")
    func invalidAuthorizationDoesNotFallBack() {
        let headers = [
            ("Authorization", "Basic dXNlcjpwYXNz"),
            ("X-API-Key", "bhk_secret"),
            ("Sec-WebSocket-Protocol", "x-api-key.base64, \(Fixtures.credentialStandardPadded)"),
        ]
        #expect(extract(headers) == .failure(.invalidCredentials))
    }

    @Test("an invalid X-API-Key does not fall back to a valid subprotocol")
    func invalidAPIKeyDoesNotFallBack() {
        let headers = [
            ("X-API-Key", " "),
            ("Sec-WebSocket-Protocol", "authorization.bearer.base64, \(Fixtures.credentialStandardPadded)"),
        ]
        #expect(extract(headers) == .failure(.invalidCredentials))
    }

    // MARK: Subprotocol

    @Test("the four base64 forms are accepted for both markers", arguments: [
        CredentialExtractor.bearerSubprotocolMarker, CredentialExtractor.apiKeySubprotocolMarker,
    ], Fixtures.credentialForms)
    func subprotocolForms(marker: String, encoded: String) {
        let result = extract([("Sec-WebSocket-Protocol", "\(marker), \(encoded)")])
        let credential: Credential =
            marker == CredentialExtractor.bearerSubprotocolMarker
            ? .bearer(Fixtures.credential) : .apiKey(Fixtures.credential)
        #expect(result == .success(PresentedCredential(credential: credential, transport: .subprotocol(marker: marker))))
    }

    @Test("the fixture exercises every alphabet difference")
    func fixtureIsMeaningful() {
        let standard = Fixtures.credentialStandardPadded
        #expect(standard.contains("+") && standard.contains("/") && standard.hasSuffix("="))
        #expect(Set(Fixtures.credentialForms).count == 4)
    }

    @Test("the marker matches case-insensitively and is echoed as the client sent it")
    func markerCaseInsensitive() {
        let result = extract([("Sec-WebSocket-Protocol", "Authorization.Bearer.BASE64, \(Fixtures.credentialURLSafeUnpadded)")])
        #expect(
            result
                == .success(
                    PresentedCredential(
                        credential: .bearer(Fixtures.credential), transport: .subprotocol(marker: "Authorization.Bearer.BASE64"))))
    }

    @Test("other subprotocol values are ignored")
    func otherSubprotocolsIgnored() {
        let result = extract([("Sec-WebSocket-Protocol", "graphql-ws, x-api-key.base64,\(Fixtures.credentialURLSafeUnpadded) , chat")])
        #expect(
            result
                == .success(
                    PresentedCredential(credential: .apiKey(Fixtures.credential), transport: .subprotocol(marker: "x-api-key.base64"))))
    }

    @Test("the list may span several header lines")
    func severalHeaderLines() {
        let result = extract([
            ("Sec-WebSocket-Protocol", "chat, authorization.bearer.base64"),
            ("Sec-WebSocket-Protocol", Fixtures.credentialURLSafeUnpadded),
        ])
        #expect(
            result
                == .success(
                    PresentedCredential(
                        credential: .bearer(Fixtures.credential), transport: .subprotocol(marker: "authorization.bearer.base64"))))
    }

    @Test("when both markers appear the bearer one wins")
    func bearerMarkerWins() {
        let apiKeyValue = Data("the-api-key".utf8).base64EncodedString()
        let result = extract([
            ("Sec-WebSocket-Protocol", "x-api-key.base64, \(apiKeyValue), authorization.bearer.base64, \(Fixtures.credentialStandardPadded)")
        ])
        #expect(
            result
                == .success(
                    PresentedCredential(
                        credential: .bearer(Fixtures.credential), transport: .subprotocol(marker: "authorization.bearer.base64"))))
    }

    @Test("a marker without a value is invalid", arguments: [
        "authorization.bearer.base64", "x-api-key.base64", "chat, x-api-key.base64", "authorization.bearer.base64, ,",
    ])
    func markerWithoutValue(value: String) {
        #expect(extract([("Sec-WebSocket-Protocol", value)]) == .failure(.invalidCredentials))
    }

    @Test("an undecodable, empty or non-UTF-8 value is invalid", arguments: [
        "!!!!", "abc=def", "a", "abcde", "==", "a===", "abc.def", "//4=", "//4", "x-api-key.base64",
    ])
    func undecodableValue(value: String) {
        #expect(extract([("Sec-WebSocket-Protocol", "authorization.bearer.base64, \(value)")]) == .failure(.invalidCredentials))
        #expect(extract([("Sec-WebSocket-Protocol", "x-api-key.base64, \(value)")]) == .failure(.invalidCredentials))
    }

    @Test("a bearer marker with a bad value does not fall back to a valid API-key marker")
    func badBearerMarkerDoesNotFallBack() {
        let apiKeyValue = Data("the-api-key".utf8).base64EncodedString()
        let result = extract([("Sec-WebSocket-Protocol", "x-api-key.base64, \(apiKeyValue), authorization.bearer.base64, !!!!")])
        #expect(result == .failure(.invalidCredentials))
    }

    // MARK: Missing

    @Test("no credential is missingCredentials", arguments: [
        [(String, String)](),
        [("Sec-WebSocket-Protocol", "chat, graphql-ws")],
        [("Host", "example.com"), ("Cookie", "token=abc")],
    ])
    func missing(headers: [(String, String)]) {
        #expect(extract(headers) == .failure(.missingCredentials))
    }

    @Test("failure messages")
    func messages() {
        #expect(AuthenticationFailure.missingCredentials.message == "missing credentials")
        #expect(AuthenticationFailure.invalidCredentials.message == "invalid credentials")
    }
}
