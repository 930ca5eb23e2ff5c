import Foundation

/// Decoding of the base64 credential carried in a `Sec-WebSocket-Protocol` list element.
///
/// SPEC §3 (decided): standard or URL-safe alphabet, padded or unpadded. Browsers refuse `=` and `/`
/// in subprotocol values, so browser clients send unpadded URL-safe base64.
enum Base64Credential {
    /// The decoded UTF-8 text, or nil when the value is not valid base64 (in any of the four accepted
    /// forms), decodes to nothing, or is not valid UTF-8.
    static func decode(_ value: some StringProtocol) -> String? {
        guard let data = decodeBytes(value), !data.isEmpty else { return nil }
        return String(validating: data, as: UTF8.self)
    }

    /// The decoded bytes of standard or URL-safe base64, padded or unpadded; nil when invalid.
    static func decodeBytes(_ value: some StringProtocol) -> Data? {
        var body = Substring(value)
        // Padding is optional, but when present it must be at the end, at most two characters,
        // and bring the length to a multiple of four.
        var padding = 0
        while body.last == "=" {
            body.removeLast()
            padding += 1
        }
        guard !body.isEmpty, padding <= 2 else { return nil }
        if padding > 0, (body.utf8.count + padding) % 4 != 0 { return nil }

        var normalized = [UInt8]()
        normalized.reserveCapacity(body.utf8.count + 3)
        for byte in body.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                normalized.append(byte)
            case UInt8(ascii: "-"):
                normalized.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"):
                normalized.append(UInt8(ascii: "/"))
            default:
                return nil  // "=" in the middle, whitespace, ".", anything non-ASCII
            }
        }
        // A single leftover character cannot encode a whole byte.
        guard normalized.count % 4 != 1 else { return nil }
        while normalized.count % 4 != 0 {
            normalized.append(UInt8(ascii: "="))
        }
        return Data(base64Encoded: Data(normalized))
    }
}
