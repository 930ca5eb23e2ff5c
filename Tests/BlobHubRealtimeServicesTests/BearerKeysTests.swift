@testable import BlobHubRealtimeServices
import Testing

/// `Authorization: Bearer <key>` parsing for the publish and admin APIs (the keys themselves are
/// checked over HTTP in PublishTests and RegistryAPITests).
@Suite struct BearerKeysTests {
    @Test(arguments: [
        ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER abc", "abc"),
        ("Bearer   abc  ", "abc"), ("Bearer \tabc\t", "abc"), ("Bearer a b", "a b"),
    ])
    func schemeIsCaseInsensitiveAndSpacesAroundTheKeyAreIgnored(header: String, key: String) {
        #expect(BearerKeys.bearerToken(header).map { String(decoding: $0, as: UTF8.self) } == key)
    }

    @Test(arguments: ["", "Bearer", "Bearer ", "Basic abc", "Bearerabc", "Bearer\tabc", "Bearex abc", "Token abc"])
    func otherSchemesAndEmptyKeysAreRefused(header: String) {
        let token = BearerKeys.bearerToken(header)
        #expect(token == nil || token!.isEmpty)
    }
}
