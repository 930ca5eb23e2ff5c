// API key ids and secrets (SPEC §3 "API keys"): secrets are shown once and stored only as a hash.

import Crypto

public enum APIKeySecrets {
    /// A fresh key: id `"key_"` + 16 random hex digits; secret `"bhk_"` + 32 random bytes in
    /// unpadded base64url (43 characters). Uses the system's cryptographically secure generator.
    public static func generate() -> (id: String, secret: String) {
        var rng = SystemRandomNumberGenerator()
        let idBytes = (0..<8).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        let secretBytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        return ("key_" + hex(idBytes), "bhk_" + base64URL(secretBytes))
    }

    /// Lower-case hex SHA-256 of the secret's UTF-8 bytes.
    public static func hash(_ secret: String) -> String {
        hex(SHA256.hash(data: Array(secret.utf8)))
    }

    /// Whether a string has the shape of a generated secret (cheap pre-check before hashing).
    public static func looksLikeSecret(_ text: String) -> Bool {
        text.hasPrefix("bhk_") && text.utf8.count == 47
            && text.utf8.dropFirst(4).allSatisfy { c in
                (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z"))
                    || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
            }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for b in bytes {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let base64URLAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Unpadded base64url.
    static func base64URL(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(base64URLAlphabet[Int(n >> 18 & 63)])
            out.append(base64URLAlphabet[Int(n >> 12 & 63)])
            out.append(base64URLAlphabet[Int(n >> 6 & 63)])
            out.append(base64URLAlphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out.append(base64URLAlphabet[Int(n >> 18 & 63)])
            out.append(base64URLAlphabet[Int(n >> 12 & 63)])
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(base64URLAlphabet[Int(n >> 18 & 63)])
            out.append(base64URLAlphabet[Int(n >> 12 & 63)])
            out.append(base64URLAlphabet[Int(n >> 6 & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
