import Testing
@testable import BlobHubRealtimeProtocol

@Suite("JSONWriter")
struct JSONWriterTests {
    @Test func writesScalars() {
        #expect(JSONWriter.string(.null) == "null")
        #expect(JSONWriter.string(.bool(true)) == "true")
        #expect(JSONWriter.string(.bool(false)) == "false")
        #expect(JSONWriter.string(.number("12345678901234567890")) == "12345678901234567890")
        #expect(JSONWriter.string(.number("-0")) == "-0")
        #expect(JSONWriter.string(.number("1e3")) == "1e3")
        #expect(JSONWriter.string(.number("1.50")) == "1.50")
        #expect(JSONWriter.string(.string("")) == #""""#)
        #expect(JSONWriter.string(.integer(-42)) == "-42")
        #expect(JSONWriter.string(.integer(UInt64.max)) == "18446744073709551615")
    }

    @Test func writesContainersCompactly() {
        #expect(JSONWriter.string(.array([])) == "[]")
        #expect(JSONWriter.string(.object(JSONObject())) == "{}")
        let value: JSONValue = ["b": [1, "two", nil, true], "a": ["x": [:]], "": []]
        #expect(JSONWriter.string(value) == #"{"b":[1,"two",null,true],"a":{"x":{}},"":[]}"#)
    }

    @Test func escapesQuotesBackslashesAndControlCharacters() {
        #expect(JSONWriter.string(.string("a\"b\\c")) == #""a\"b\\c""#)
        #expect(JSONWriter.string(.string("\n\r\t\u{08}\u{0C}")) == #""\n\r\t\b\f""#)
        #expect(JSONWriter.string(.string("\u{0}\u{1}\u{1F}\u{0B}\u{1B}")) == #""\u0000\u0001\u001f\u000b\u001b""#)
    }

    @Test func escapesEveryControlCharacter() throws {
        for c in 0..<0x20 {
            let s = String(Character(Unicode.Scalar(UInt8(c))))
            let out = JSONWriter.serialize(.string(s))
            #expect(out.allSatisfy { $0 >= 0x20 }, "raw control byte \(c) in output")
            #expect(try JSONParser.parse(out) == .string(s))
        }
    }

    @Test func doesNotEscapeSlashOrNonASCII() {
        #expect(JSONWriter.string(.string("a/b")) == #""a/b""#)
        #expect(JSONWriter.string(.string("é中😀\u{7F}\u{2028}")) == "\"é中😀\u{7F}\u{2028}\"")
        #expect(JSONWriter.serialize(.string("é")) == [0x22, 0xC3, 0xA9, 0x22])
    }

    @Test func appendStringAppendsToExistingBuffer() {
        var buffer: [UInt8] = Array("x=".utf8)
        JSONWriter.appendString("he said \"hi\"\n", into: &buffer)
        #expect(text(buffer) == #"x="he said \"hi\"\n""#)
        JSONWriter.appendString("", into: &buffer)
        #expect(text(buffer).hasSuffix(#"\n""""#))
    }

    @Test func writeAppendsToExistingBuffer() {
        var buffer: [UInt8] = [UInt8(ascii: "[")]
        JSONWriter.write(["k": "v"], into: &buffer)
        buffer.append(UInt8(ascii: "]"))
        #expect(text(buffer) == #"[{"k":"v"}]"#)
    }

    @Test func escapingRunsAroundLongText() {
        let long = String(repeating: "abcdefgh", count: 100)
        let s = long + "\"" + long + "\n" + long
        #expect(JSONWriter.string(.string(s)) == "\"" + long + "\\\"" + long + "\\n" + long + "\"")
    }

    @Test func writesBridgedAndSubstringStrings() {
        let sub = "--a\"b--".dropFirst(2).dropLast(2)
        #expect(JSONWriter.string(.string(String(sub))) == #""a\"b""#)
    }

    // MARK: round trips

    static let compactDocuments: [String] = [
        #"{"jsonrpc":"2.0","id":12345678901234567890,"result":{}}"#,
        #"{"b":1,"a":[1.5,-0,1e3,1E-7,12345678901234567890,true,false,null,"x"]}"#,
        #"{"a":"b","a":"c"}"#,
        #"["é","中文","😀","a/b","\"","\\","\n","\u0001","\u001f"]"#,
        #"[[[[[[]]]]],{},{"":""}]"#,
        #"{"event":{"id":"e1","created_at":1714150000000,"attributes":{"x":-0.0,"y":1.0e+28}}}"#,
        "-0", "0.1", #""""#, "null", "true", "[]",
    ]

    @Test("compact documents round-trip byte for byte", arguments: compactDocuments)
    func compactRoundTrip(_ document: String) throws {
        let value = try JSONParser.parse(document)
        #expect(JSONWriter.string(value) == document)
        #expect(JSONWriter.serialize(value) == Array(document.utf8))
    }

    @Test func nonCompactInputRoundTripsSemantically() throws {
        let input = #" { "a" : [ 1 , 2.50 ] , "s" : "\u00e9\/\u0041\uD83D\uDE00" } "#
        let value = try JSONParser.parse(input)
        #expect(JSONWriter.string(value) == #"{"a":[1,2.50],"s":"é/A😀"}"#)
    }

    static func randomValue(_ rng: inout SplitMix64, depth: Int) -> JSONValue {
        let pick = depth > 4 ? Int.random(in: 0..<4, using: &rng) : Int.random(in: 0..<6, using: &rng)
        switch pick {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2:
            let numbers = ["0", "-0", "7", "-12", "3.25", "1e9", "-2.5E-3", "12345678901234567890123", "0.000"]
            return .number(numbers[Int.random(in: 0..<numbers.count, using: &rng)])
        case 3: return .string(randomString(&rng))
        case 4:
            let n = Int.random(in: 0..<5, using: &rng)
            return .array((0..<n).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            let n = Int.random(in: 0..<5, using: &rng)
            var object = JSONObject()
            for _ in 0..<n { object.append(key: randomString(&rng), value: randomValue(&rng, depth: depth + 1)) }
            return .object(object)
        }
    }

    static func randomString(_ rng: inout SplitMix64) -> String {
        let alphabet: [Unicode.Scalar] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}",
                                          "é", "中", "😀", "\u{10FFFF}", "\u{FFFF}", "\u{2028}"]
        var s = ""
        for _ in 0..<Int.random(in: 0..<8, using: &rng) {
            s.unicodeScalars.append(alphabet[Int.random(in: 0..<alphabet.count, using: &rng)])
        }
        return s
    }

    @Test func generatedValuesRoundTrip() throws {
        var rng = SplitMix64(seed: 0xB10B_4B)
        for _ in 0..<500 {
            let value = Self.randomValue(&rng, depth: 0)
            let bytes = JSONWriter.serialize(value)
            let reparsed = try JSONParser.parse(bytes)
            #expect(reparsed == value)
            #expect(JSONWriter.serialize(reparsed) == bytes)
        }
    }
}
