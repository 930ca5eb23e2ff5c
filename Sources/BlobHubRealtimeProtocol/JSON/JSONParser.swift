// A strict RFC 8259 JSON parser working directly on UTF-8 bytes.

/// Why and where parsing failed. `offset` is the byte offset in the input.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "\(reason) (at byte \(offset))" }
}

public enum JSONParser: Sendable {
    /// Strict RFC 8259 parser. Input must be valid UTF-8 (invalid UTF-8 inside strings is rejected, and
    /// any non-ASCII byte outside a string is a syntax error). Whitespace around the value is allowed;
    /// trailing garbage is rejected; a byte order mark is rejected.
    ///
    /// Rejects: leading zeros (`01`), `+1`, `.5`, `1.`, `NaN`/`Infinity`, unescaped control characters
    /// (< 0x20) in strings, invalid escapes, lone surrogates in `\u` escapes, nesting deeper than
    /// `maxDepth` arrays/objects (a top-level `[]` has depth 1).
    ///
    /// Duplicate object keys are kept in order (see `JSONObject`), numbers keep their exact text.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws(JSONParseError) -> JSONValue {
        var state = JSONParserState(bytes: bytes, maxDepth: maxDepth)
        return try state.parseDocument()
    }

    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBytes { buffer in
            do throws(JSONParseError) {
                return .success(try parse(buffer, maxDepth: maxDepth))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    public static func parse(_ string: String, maxDepth: Int = 64) throws(JSONParseError) -> JSONValue {
        var string = string
        let result: Result<JSONValue, JSONParseError> = string.withUTF8 { buffer in
            do throws(JSONParseError) {
                return .success(try parse(UnsafeRawBufferPointer(buffer), maxDepth: maxDepth))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

// ASCII code units used by the parser.
private let quote = UInt8(ascii: "\"")
private let backslash = UInt8(ascii: "\\")
private let slash = UInt8(ascii: "/")
private let openBrace = UInt8(ascii: "{")
private let closeBrace = UInt8(ascii: "}")
private let openBracket = UInt8(ascii: "[")
private let closeBracket = UInt8(ascii: "]")
private let comma = UInt8(ascii: ",")
private let colon = UInt8(ascii: ":")
private let minus = UInt8(ascii: "-")
private let plus = UInt8(ascii: "+")
private let dot = UInt8(ascii: ".")
private let zero = UInt8(ascii: "0")
private let nine = UInt8(ascii: "9")
private let one = UInt8(ascii: "1")

/// Word-at-a-time byte tests ("SIMD within a register") on 8 bytes loaded little-endian (byte 0 in the
/// low bits). A mask has the high bit set in (at least) the LOWEST byte that matches, and never below
/// it, so `mask.trailingZeroBitCount / 8` is the index of the first matching byte.
enum SWAR {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080

    @inline(__always)
    static func load(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Bytes < `n` (n ≤ 128).
    @inline(__always)
    static func lessMask(_ n: UInt64, _ w: UInt64) -> UInt64 {
        (w &- ones &* n) & ~w & highs
    }

    /// Bytes equal to `b`.
    @inline(__always)
    static func equalMask(_ b: UInt64, _ w: UInt64) -> UInt64 {
        let x = w ^ (ones &* b)
        return (x &- ones) & ~x & highs
    }

    /// Bytes a JSON string cannot contain as is: `"`, `\\`, < 0x20.
    @inline(__always)
    static func escapeMask(_ w: UInt64) -> UInt64 {
        lessMask(0x20, w) | equalMask(0x22, w) | equalMask(0x5C, w)
    }

    /// The same, plus non-ASCII bytes (which the parser validates).
    @inline(__always)
    static func stringScanMask(_ w: UInt64) -> UInt64 {
        escapeMask(w) | (w & highs)
    }
}

@inline(__always)
private func isDigit(_ c: UInt8) -> Bool { c &- zero < 10 }

struct JSONParserState {
    let bytes: UnsafeRawBufferPointer
    let end: Int
    let maxDepth: Int
    var pos: Int = 0
    /// Reused buffer for strings that contain escapes.
    var scratch: [UInt8] = []

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.end = bytes.count
        self.maxDepth = maxDepth
    }

    // MARK: errors

    func error(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? pos, reason: reason)
    }

    func unexpected(at offset: Int? = nil) -> JSONParseError {
        let at = offset ?? pos
        guard at < end else { return error("unexpected end of input", at: at) }
        let c = bytes[at]
        if c >= 0x21 && c < 0x7F {
            return error("unexpected character '\(Character(Unicode.Scalar(c)))'", at: at)
        }
        let hex = String(c, radix: 16, uppercase: true)
        return error("unexpected byte 0x\(hex.count == 1 ? "0" + hex : hex)", at: at)
    }

    // MARK: structure

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < end {
            switch bytes[pos] {
            case 0x20, 0x0A, 0x0D, 0x09: pos += 1
            default: return
            }
        }
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        guard pos < end else { throw error(end == 0 ? "empty input" : "unexpected end of input") }
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard pos == end else {
            throw error("unexpected data after the JSON value: \(unexpected().reason)")
        }
        return value
    }

    /// `depth` is the number of containers enclosing the value.
    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard pos < end else { throw error("unexpected end of input") }
        switch bytes[pos] {
        case openBrace:
            return try parseObject(depth: depth + 1)
        case openBracket:
            return try parseArray(depth: depth + 1)
        case quote:
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case minus, zero...nine:
            return .number(try parseNumber())
        default:
            throw unexpected()
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let n = literal.utf8CodeUnitCount
        let p = literal.utf8Start
        for i in 0..<n {
            guard pos + i < end, bytes[pos + i] == p[i] else {
                throw error("invalid literal (expected '\(literal)')")
            }
        }
        pos += n
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
        pos += 1  // {
        var object = JSONObject()
        skipWhitespace()
        guard pos < end else { throw error("unexpected end of input in an object") }
        if bytes[pos] == closeBrace {
            pos += 1
            return .object(object)
        }
        object.reserveCapacity(8)
        while true {
            guard pos < end else { throw error("unexpected end of input in an object") }
            guard bytes[pos] == quote else {
                throw error("expected a string key in an object")
            }
            let key = try parseString()
            skipWhitespace()
            guard pos < end else { throw error("unexpected end of input in an object") }
            guard bytes[pos] == colon else { throw error("expected ':' after an object key") }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            object.append(key: key, value: value)
            skipWhitespace()
            guard pos < end else { throw error("unexpected end of input in an object") }
            let c = bytes[pos]
            if c == comma {
                pos += 1
                skipWhitespace()
                continue
            }
            if c == closeBrace {
                pos += 1
                return .object(object)
            }
            throw error("expected ',' or '}' in an object")
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
        pos += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        guard pos < end else { throw error("unexpected end of input in an array") }
        if bytes[pos] == closeBracket {
            pos += 1
            return .array(elements)
        }
        elements.reserveCapacity(8)
        while true {
            let value = try parseValue(depth: depth)
            elements.append(value)
            skipWhitespace()
            guard pos < end else { throw error("unexpected end of input in an array") }
            let c = bytes[pos]
            if c == comma {
                pos += 1
                skipWhitespace()
                continue
            }
            if c == closeBracket {
                pos += 1
                return .array(elements)
            }
            throw error("expected ',' or ']' in an array")
        }
    }

    // MARK: numbers

    /// Validates the RFC 8259 number grammar and returns the literal text.
    mutating func parseNumber() throws(JSONParseError) -> String {
        let start = pos
        if bytes[pos] == minus {
            pos += 1
        }
        guard pos < end else { throw error("invalid number: expected a digit") }
        let first = bytes[pos]
        if first == zero {
            pos += 1
            if pos < end && isDigit(bytes[pos]) {
                throw error("invalid number: leading zeros are not allowed", at: start)
            }
        } else if first >= one && first <= nine {
            pos += 1
            while pos < end && isDigit(bytes[pos]) { pos += 1 }
        } else {
            throw error("invalid number: expected a digit")
        }
        if pos < end && bytes[pos] == dot {
            pos += 1
            guard pos < end && isDigit(bytes[pos]) else {
                throw error("invalid number: expected a digit after the decimal point")
            }
            while pos < end && isDigit(bytes[pos]) { pos += 1 }
        }
        if pos < end && (bytes[pos] | 0x20) == UInt8(ascii: "e") {
            pos += 1
            if pos < end && (bytes[pos] == plus || bytes[pos] == minus) { pos += 1 }
            guard pos < end && isDigit(bytes[pos]) else {
                throw error("invalid number: expected a digit in the exponent")
            }
            while pos < end && isDigit(bytes[pos]) { pos += 1 }
        }
        return makeString(from: start, to: pos)
    }

    // MARK: strings

    /// A String from already validated UTF-8 bytes of the input.
    @inline(__always)
    func makeString(from start: Int, to stop: Int) -> String {
        let count = stop - start
        if count == 0 { return "" }
        let source = UnsafeRawBufferPointer(rebasing: bytes[start..<stop])
        return String(unsafeUninitializedCapacity: count) { destination in
            UnsafeMutableRawBufferPointer(destination).copyMemory(from: source)
            return count
        }
    }

    /// Parses a string starting at the opening quote.
    mutating func parseString() throws(JSONParseError) -> String {
        let open = pos
        pos += 1
        let start = pos
        while true {
            // Skip plain ASCII 8 bytes at a time, stopping exactly at the first byte that needs a look.
            while pos &+ 8 <= end {
                let mask = SWAR.stringScanMask(SWAR.load(bytes, pos))
                if mask != 0 {
                    pos &+= mask.trailingZeroBitCount &>> 3
                    break
                }
                pos &+= 8
            }
            guard pos < end else { break }
            let c = bytes[pos]
            if c == quote {
                let s = makeString(from: start, to: pos)
                pos += 1
                return s
            }
            if c == backslash {
                return try parseEscapedString(open: open, start: start)
            }
            if c < 0x20 {
                throw error("unescaped control character in a string")
            }
            if c < 0x80 {
                pos += 1
            } else {
                pos += try utf8SequenceLength(at: pos)
            }
        }
        throw error("unterminated string", at: open)
    }

    /// The slow path: `pos` is at the first backslash; `start..<pos` is plain validated text.
    mutating func parseEscapedString(open: Int, start: Int) throws(JSONParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]))
        while pos < end {
            let c = bytes[pos]
            if c == quote {
                pos += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if c == backslash {
                let escapeStart = pos
                pos += 1
                guard pos < end else { break }
                let e = bytes[pos]
                pos += 1
                switch e {
                case quote, backslash, slash: scratch.append(e)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4(escapeStart: escapeStart)
                    if scalar >= 0xD800 && scalar <= 0xDBFF {
                        guard pos + 1 < end, bytes[pos] == backslash, bytes[pos + 1] == UInt8(ascii: "u") else {
                            throw error("lone high surrogate in a \\u escape", at: escapeStart)
                        }
                        let lowStart = pos
                        pos += 2
                        let low = try hex4(escapeStart: lowStart)
                        guard low >= 0xDC00 && low <= 0xDFFF else {
                            throw error("lone high surrogate in a \\u escape", at: escapeStart)
                        }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                        throw error("lone low surrogate in a \\u escape", at: escapeStart)
                    }
                    appendUTF8(scalar)
                default:
                    throw error("invalid escape sequence in a string", at: escapeStart)
                }
                continue
            }
            if c < 0x20 {
                throw error("unescaped control character in a string")
            }
            if c < 0x80 {
                scratch.append(c)
                pos += 1
            } else {
                let n = try utf8SequenceLength(at: pos)
                scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)]))
                pos += n
            }
        }
        throw error("unterminated string", at: open)
    }

    /// Reads the 4 hex digits of a `\u` escape at `pos`.
    mutating func hex4(escapeStart: Int) throws(JSONParseError) -> UInt32 {
        guard pos + 4 <= end else { throw error("invalid \\u escape: expected 4 hex digits", at: escapeStart) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let digit: UInt8
            switch c {
            case zero...nine: digit = c - zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw error("invalid \\u escape: expected 4 hex digits", at: escapeStart)
            }
            value = value << 4 | UInt32(digit)
            pos += 1
        }
        return value
    }

    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (scalar >> 6)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (scalar >> 12)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (scalar >> 18)))
            scratch.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }

    /// Validates one multi-byte UTF-8 sequence starting at `i` (whose lead byte is ≥ 0x80) and returns
    /// its length. Rejects overlong forms, surrogates (U+D800–U+DFFF) and code points above U+10FFFF.
    @inline(__always)
    func utf8SequenceLength(at i: Int) throws(JSONParseError) -> Int {
        @inline(__always) func byte(_ j: Int) -> UInt8 { j < end ? bytes[j] : 0 }
        @inline(__always) func isContinuation(_ b: UInt8) -> Bool { b & 0xC0 == 0x80 }
        let b0 = bytes[i]
        let b1 = byte(i + 1)
        switch b0 {
        case 0xC2...0xDF:
            if isContinuation(b1) { return 2 }
        case 0xE0:
            if b1 >= 0xA0 && b1 <= 0xBF && isContinuation(byte(i + 2)) { return 3 }
        case 0xE1...0xEC, 0xEE...0xEF:
            if isContinuation(b1) && isContinuation(byte(i + 2)) { return 3 }
        case 0xED:
            if b1 >= 0x80 && b1 <= 0x9F && isContinuation(byte(i + 2)) { return 3 }
        case 0xF0:
            if b1 >= 0x90 && b1 <= 0xBF && isContinuation(byte(i + 2)) && isContinuation(byte(i + 3)) { return 4 }
        case 0xF1...0xF3:
            if isContinuation(b1) && isContinuation(byte(i + 2)) && isContinuation(byte(i + 3)) { return 4 }
        case 0xF4:
            if b1 >= 0x80 && b1 <= 0x8F && isContinuation(byte(i + 2)) && isContinuation(byte(i + 3)) { return 4 }
        default:
            break
        }
        throw error("invalid UTF-8 in a string", at: i)
    }
}
