import Crypto
import Foundation

/// Hand-built HS256 tokens with exactly the claims a test wants (numbers, odd types, refresh markers).
enum JWTCrafter {
    static func hs256(claims: String, header: String = #"{"alg":"HS256","typ":"JWT"}"#, secret: String = TestSecrets.jwtSecret) -> String {
        let signingInput = "\(base64url(header)).\(base64url(claims))"
        let mac = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        let signature = Data(mac).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "\(signingInput).\(signature)"
    }

    static var now: Int { Int(Date().timeIntervalSince1970) }
}
