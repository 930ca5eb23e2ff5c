// A JSON value tree that keeps what matters for a faithful round trip:
// object member order (including duplicate keys) and the exact text of numbers.

/// A JSON value. Numbers keep their literal text exactly as it appeared in the input.
///
/// Equality and hashing are structural: numbers compare by text (`1.0` ≠ `1`), objects compare
/// their members in order.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// The number's exact literal text, e.g. `"12345678901234567890"`, `"1.5"`, `"-0"`, `"1e3"`.
    /// When building values by hand the text must be a valid RFC 8259 number; the writer emits it verbatim.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

extension JSONValue {
    /// A number value holding the decimal text of an integer.
    @inlinable
    public static func integer(_ value: some BinaryInteger) -> JSONValue {
        .number(String(value))
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The literal text of a number value.
    public var numberText: String? {
        if case .number(let n) = self { return n }
        return nil
    }

    /// The value of an integer literal (no fraction, no exponent) that fits in `Int64`; otherwise nil.
    public var int64Value: Int64? {
        guard case .number(let text) = self else { return nil }
        return JSONNumberText.int64(text)
    }

    /// The number as a `Double` (nil for non-numbers).
    public var doubleValue: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

public enum JSONNumberText {
    /// 2^53 - 1: the largest integer every JSON consumer (JavaScript included) reads exactly; the bound of
    /// epoch-millisecond fields, so a published time means the same thing in every client.
    public static let maxSafeInteger: Int64 = 9_007_199_254_740_991

    /// The integer a JSON number denotes, if it is integral and fits: `464`, and also `464.0` or `4.64e2`
    /// (JSON Schema and most encoders treat an integral number as an integer).
    static func int64(_ text: String) -> Int64? {
        if let value = plainInt64(text) { return value }
        guard let digits = integralDigits(text) else { return nil }
        return plainInt64(digits)
    }

    /// `text` (a JSON number with a fraction or exponent) as an integer literal, when it is integral.
    private static func integralDigits(_ text: String) -> String? {
        var body = Substring(text)
        let negative = body.first == "-"
        if negative { body = body.dropFirst() }
        let mantissa: Substring, exponent: Int
        if let e = body.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            // Beyond ±400 no Int64 is left either way (and no huge strings get built).
            guard let exp = Int(body[body.index(after: e)...]), abs(exp) <= 400 else { return nil }
            mantissa = body[..<e]
            exponent = exp
        } else {
            mantissa = body
            exponent = 0
        }
        let parts = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit) else { return nil }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard fraction.allSatisfy(\.isASCIIDigit), parts.count == 1 || !fraction.isEmpty else { return nil }
        let allDigits = String(whole) + String(fraction)
        let point = whole.count + exponent  // position of the decimal point in allDigits
        if point <= 0 { return allDigits.allSatisfy { $0 == "0" } ? "0" : nil }
        if point >= allDigits.count { return (negative ? "-" : "") + allDigits + String(repeating: "0", count: point - allDigits.count) }
        let cut = allDigits.index(allDigits.startIndex, offsetBy: point)
        guard allDigits[cut...].allSatisfy({ $0 == "0" }) else { return nil }
        return (negative ? "-" : "") + allDigits[..<cut]
    }

    /// Parses an integer literal made of an optional `-` and decimal digits only.
    private static func plainInt64(_ text: String) -> Int64? {
        var utf8 = text.utf8.makeIterator()
        var negative = false
        guard var c = utf8.next() else { return nil }
        if c == UInt8(ascii: "-") {
            negative = true
            guard let n = utf8.next() else { return nil }
            c = n
        }
        // Accumulate negatively so that Int64.min fits.
        var acc: Int64 = 0
        while true {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            let (m, o1) = acc.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.subtractingReportingOverflow(Int64(c &- UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            acc = s
            guard let n = utf8.next() else { break }
            c = n
        }
        if negative { return acc }
        let (r, o) = Int64(0).subtractingReportingOverflow(acc)
        return o ? nil : r
    }
}

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension JSONValue: CustomStringConvertible {
    /// The compact JSON text of the value.
    public var description: String { JSONWriter.string(self) }
}

extension JSONValue: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .number(String(value)) }
}

extension JSONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSONValue: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements))
    }
}

/// An ordered collection of JSON object members. Insertion order is preserved, duplicate keys are
/// kept (so a parse/serialize round trip is faithful); lookups see the LAST occurrence of a key.
public struct JSONObject: Sendable, Hashable, Sequence {
    public typealias Element = (key: String, value: JSONValue)

    @usableFromInline var _keys: [String]
    @usableFromInline var _values: [JSONValue]

    public init() {
        _keys = []
        _values = []
    }

    public init(_ pairs: [(String, JSONValue)]) {
        _keys = []
        _values = []
        _keys.reserveCapacity(pairs.count)
        _values.reserveCapacity(pairs.count)
        for (k, v) in pairs {
            _keys.append(k)
            _values.append(v)
        }
    }

    /// The members in stored order (duplicates included).
    public var pairs: [(key: String, value: JSONValue)] {
        var result: [(key: String, value: JSONValue)] = []
        result.reserveCapacity(_keys.count)
        for i in _keys.indices { result.append((key: _keys[i], value: _values[i])) }
        return result
    }

    /// The keys in stored order (duplicates included).
    public var keys: [String] { _keys }

    /// The values in stored order.
    public var values: [JSONValue] { _values }

    public var isEmpty: Bool { _keys.isEmpty }
    public var count: Int { _keys.count }

    @inlinable
    func lastIndex(of key: String) -> Int? {
        var i = _keys.count
        while i > 0 {
            i -= 1
            if _keys[i] == key { return i }
        }
        return nil
    }

    /// Lookup returns the last occurrence of a duplicated key. Setting a value replaces the last
    /// occurrence in place (or appends a new member); setting `nil` removes every occurrence.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let i = lastIndex(of: key) else { return nil }
            return _values[i]
        }
        set {
            if let newValue {
                if let i = lastIndex(of: key) {
                    _values[i] = newValue
                } else {
                    _keys.append(key)
                    _values.append(newValue)
                }
            } else {
                removeValue(forKey: key)
            }
        }
    }

    /// Whether a member with this key exists (a member whose value is JSON null counts).
    public func contains(key: String) -> Bool { lastIndex(of: key) != nil }

    /// Appends a member without looking for an existing one (keeps duplicates).
    public mutating func append(key: String, value: JSONValue) {
        _keys.append(key)
        _values.append(value)
    }

    /// Removes every member with this key; returns the value that lookups saw.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let last = lastIndex(of: key) else { return nil }
        let old = _values[last]
        var i = last
        while i >= 0 {
            if _keys[i] == key {
                _keys.remove(at: i)
                _values.remove(at: i)
            }
            i -= 1
        }
        return old
    }

    public mutating func reserveCapacity(_ n: Int) {
        _keys.reserveCapacity(n)
        _values.reserveCapacity(n)
    }

    public struct Iterator: IteratorProtocol, Sendable {
        @usableFromInline let object: JSONObject
        @usableFromInline var index = 0

        @usableFromInline init(object: JSONObject) { self.object = object }

        @inlinable
        public mutating func next() -> (key: String, value: JSONValue)? {
            guard index < object._keys.count else { return nil }
            defer { index += 1 }
            return (key: object._keys[index], value: object._values[index])
        }
    }

    @inlinable
    public func makeIterator() -> Iterator { Iterator(object: self) }

    public var underestimatedCount: Int { _keys.count }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }
}

extension JSONObject: CustomStringConvertible {
    public var description: String { JSONWriter.string(.object(self)) }
}
