// Compact JSON serialization straight into a byte buffer.

public enum JSONWriter: Sendable {
    /// Appends the compact JSON text of `value` (UTF-8). Object members are written in stored order
    /// (duplicates included), numbers as their literal text, strings escaped per `appendString`.
    public static func write(_ value: JSONValue, into buffer: inout [UInt8]) {
        switch value {
        case .null:
            buffer.append(contentsOf: "null".utf8)
        case .bool(let b):
            if b {
                buffer.append(contentsOf: "true".utf8)
            } else {
                buffer.append(contentsOf: "false".utf8)
            }
        case .number(let text):
            buffer.append(contentsOf: text.utf8)
        case .string(let s):
            appendString(s, into: &buffer)
        case .array(let elements):
            buffer.append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if first {
                    first = false
                } else {
                    buffer.append(UInt8(ascii: ","))
                }
                write(element, into: &buffer)
            }
            buffer.append(UInt8(ascii: "]"))
        case .object(let object):
            writeObject(object, into: &buffer)
        }
    }

    /// Appends the compact JSON text of an object.
    public static func writeObject(_ object: JSONObject, into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "{"))
        let keys = object._keys
        let values = object._values
        for i in keys.indices {
            if i > 0 { buffer.append(UInt8(ascii: ",")) }
            appendString(keys[i], into: &buffer)
            buffer.append(UInt8(ascii: ":"))
            write(values[i], into: &buffer)
        }
        buffer.append(UInt8(ascii: "}"))
    }

    /// Appends `string` as a quoted JSON string. Escapes `"` and `\` and the control characters
    /// below 0x20 (`\b \f \n \r \t`, others as `\u00xx`); `/` and non-ASCII text are written as is (UTF-8).
    public static func appendString(_ string: String, into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var runStart = 0
            var i = 0
            let count = utf8.count
            let raw = UnsafeRawBufferPointer(utf8)
            while true {
                // Skip 8 bytes that need no escaping at a time, stopping exactly at the first that does.
                while i &+ 8 <= count {
                    let mask = SWAR.escapeMask(SWAR.load(raw, i))
                    if mask != 0 {
                        i &+= mask.trailingZeroBitCount &>> 3
                        break
                    }
                    i &+= 8
                }
                guard i < count else { break }
                let c = utf8[i]
                if c >= 0x20 && c != UInt8(ascii: "\"") && c != UInt8(ascii: "\\") {
                    i += 1
                    continue
                }
                if runStart < i {
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                }
                appendEscape(c, into: &buffer)
                i += 1
                runStart = i
            }
            if runStart < count {
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<count]))
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    @inline(__always)
    private static func appendEscape(_ c: UInt8, into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\\"))
        switch c {
        case UInt8(ascii: "\""): buffer.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\"))
        case 0x08: buffer.append(UInt8(ascii: "b"))
        case 0x0C: buffer.append(UInt8(ascii: "f"))
        case 0x0A: buffer.append(UInt8(ascii: "n"))
        case 0x0D: buffer.append(UInt8(ascii: "r"))
        case 0x09: buffer.append(UInt8(ascii: "t"))
        default:
            buffer.append(UInt8(ascii: "u"))
            buffer.append(UInt8(ascii: "0"))
            buffer.append(UInt8(ascii: "0"))
            buffer.append(hexDigits[Int(c >> 4)])
            buffer.append(hexDigits[Int(c & 0x0F)])
        }
    }

    /// The compact JSON text of `value` as UTF-8 bytes.
    public static func serialize(_ value: JSONValue) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(128)
        write(value, into: &buffer)
        return buffer
    }

    /// The compact JSON text of `value`.
    public static func string(_ value: JSONValue) -> String {
        String(decoding: serialize(value), as: UTF8.self)
    }
}
