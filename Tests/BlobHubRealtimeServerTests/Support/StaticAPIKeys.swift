import BlobHubRealtimeAuth
import Foundation

/// A fixed set of API keys standing in for the store, to exercise the handshake's API-key seam.
struct StaticAPIKeys: APIKeyResolver {
    var keys: [String: APIKeyPrincipal]

    static let readKey = "bhk_test_read_key_0123456789"
    static let standard = StaticAPIKeys(keys: [
        readKey: APIKeyPrincipal(keyID: "key-1", userID: "user-1", target: .organization("org-1"), role: .read, expiresAt: nil)
    ])

    func resolve(secret: String, now: Date) async throws -> APIKeyPrincipal? {
        keys[secret]
    }
}

/// Base64 in the four forms SPEC §3 accepts.
enum Base64Form: CaseIterable {
    case standardPadded, standardUnpadded, urlSafePadded, urlSafeUnpadded

    func encode(_ text: String) -> String {
        var value = Data(text.utf8).base64EncodedString()
        if self == .urlSafePadded || self == .urlSafeUnpadded {
            value = value.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        }
        if self == .standardUnpadded || self == .urlSafeUnpadded {
            value = value.replacingOccurrences(of: "=", with: "")
        }
        return value
    }
}
