import Testing
@testable import BlobHubRealtimeProtocol

@Suite("JSONParser")
struct JSONParserTests {
    // MARK: accepted documents (JSONTestSuite y_ cases and more)

    static let accepted: [String] = [
        "[[]   ]", #"[""]"#, "[]", #"["a"]"#, "[false]", #"[null, 1, "1", {}]"#, "[null]", "[1\n]", " [1]",
        "[1,null,null,null,2]", "[2] ", "[123e65]", "[0e+1]", "[0e1]", "[ 4]",
        "[-0.000000000000000000000000000000000000000000000000000000000000000000000000000000000001]",
        "[20e1]", "[-0]", "[-123]", "[-1]", "[1E22]", "[1E-2]", "[1E+2]", "[123e45]", "[123.456e78]",
        "[1e-2]", "[1e+2]", "[123]", "[123.456789]", "[-1e+9999]", "[1.5e-9999]",
        "[-237462374673276894279832749832423479823246327846]", "[100000000000000000000]",
        #"{"asd":"sdf", "dfg":"fgh"}"#, #"{"asd":"sdf"}"#, #"{"a":"b","a":"c"}"#, #"{"a":"b","a":"b"}"#,
        "{}", #"{"":0}"#, #"{"foo\u0000bar": 42}"#, #"{ "min": -1.0e+28, "max": 1.0e+28 }"#, #"{"a":[]}"#,
        #"{"title":"\u041f\u043e\u043b\u0442\u043e\u0440\u0430 \u0417\u0435\u043c\u043b\u0435\u043a\u043e\u043f\u0430" }"#,
        "{\n\"a\": \"b\"\n}", #"["\u0060\u012a\u12AB"]"#, #"["\uD801\udc37"]"#, #"["\ud83d\ude39\ud83d\udc8d"]"#,
        #"["\"\\\/\b\f\n\r\t"]"#, #"["\\u0000"]"#, #"["\""]"#, #"["a/*b*/c/*d//e"]"#, #"["\\a"]"#, #"["\\n"]"#,
        #"["\u0012"]"#, #"["\uFFFF"]"#, #"["asd"]"#, #"[ "asd"]"#, #"["\uDBFF\uDFFF"]"#, #"["new\u00A0line"]"#,
        "[\"\u{10FFFF}\"]", "[\"\u{FFFF}\"]", #"["\u0000"]"#, #"["\u002c"]"#, #"["π"]"#, "[\"\u{1BFFF}\"]",
        #"["asd "]"#, #"" ""#, #"["\uD834\uDd1e"]"#, #"["\u0821"]"#, #"["\u0123"]"#, "[\"\u{2028}\"]",
        "[\"\u{2029}\"]", #"["\u0061\u30af\u30EA\u30b9"]"#, #"["new\u000Aline"]"#, "[\"\u{7F}\"]", #"["\uA66D"]"#,
        #"["\u005C"]"#, #"["⍂㈴⍂"]"#, #"["\uDBFF\uDFFE"]"#, #"["\uD83F\uDFFE"]"#, #"["\u200B"]"#, #"["\u2064"]"#,
        #"["\uFDD0"]"#, #"["\uFFFE"]"#, #"["\u0022"]"#, #"["€𝄞"]"#, "[\"a\u{7F}a\"]", "false", "42", "-0.1",
        "null", #""asd""#, "true", #""""#, "[\"a\"]\n", "[true]", " [] ", " \t\r\n{} \t\r\n",
        #"{"a":{"b":{"c":[1,{"d":null}]}}}"#, "0", "-0", "0.0", "1E400", "[1,[2,[3,[4]]]]",
    ]

    @Test("accepts valid JSON", arguments: accepted)
    func acceptsValid(_ text: String) throws {
        let value = try JSONParser.parse(text)
        // Whatever was parsed survives a write/parse cycle unchanged.
        let reparsed = try JSONParser.parse(JSONWriter.serialize(value))
        #expect(reparsed == value)
    }

    // MARK: rejected documents (JSONTestSuite n_ cases and more)

    static let rejected: [String] = [
        "[1 true]", #"["": 1]"#, #"[""],"#, "[,1]", "[1,,2]", #"["x",,]"#, #"["x"]]"#, #"["",]"#, #"["x""#, "[x",
        "[3[4]]", "[1:2]", "[,]", "[-]", #"[   , ""]"#, "[\"a\",\n4\n,1,", "[1,]", "[1,,]", "[\"\u{0B}a\"\\f]",
        "[*]", #"[""#, "[1,", "[1,\n1\n,1", "[{}", "[fals]", "[nul]", "[tru]", "123\u{0}", "[++1234]", "[+1]",
        "[+Inf]", "[-01]", "[-1.0.]", "[-2.]", "[-NaN]", "[.-1]", "[.2e-3]", "[0.1.2]", "[0.3e+]", "[0.3e]",
        "[0.e1]", "[0E+]", "[0E]", "[0e+]", "[0e]", "[1.0e+]", "[1.0e-]", "[1.0e]", "[1 000.0]", "[1eE2]",
        "[2.e+3]", "[2.e-3]", "[2.e3]", "[9.e+]", "[Inf]", "[NaN]", "[１]", "[1+2]", "[0x1]", "[0x42]",
        "[Infinity]", "[0e+-1]", "[-123.123foo]", "[-Infinity]", "[-foo]", "[- 1]", "[-012]", "[-.123]",
        "[-1x]", "[1ea]", "[1.]", "[.123]", "[1.2a-3]", "[1.8011670033376514H-308]", "[012]", "01", "+1",
        ".5", "1.", "NaN", "Infinity", "-Infinity", "00", "-", "1e", "1e+",
        #"["x", truth]"#, #"{[: "x"}"#, #"{"x", null}"#, #"{"x"::"b"}"#, "{🇨🇭}", #"{"a":"a" 123}"#,
        "{key: 'value'}", #"{"a" b}"#, #"{:"b"}"#, #"{"a" "b"}"#, #"{"a":"#, #"{"a""#, "{1:1}",
        "{9999E9999:1}", "{null:null,null:null}", #"{"id":0,,,,,}"#, "{'a':0}", #"{"id":0,}"#,
        #"{"a":"b"}/**/"#, #"{"a":"b"}/**//"#, #"{"a":"b"}//"#, #"{"a":"b",,"c":"d"}"#, #"{a: "b"}"#,
        #"{"a":"a"#, #"{ "foo" : "bar", "a" }"#, #"{"a":"b"}#"#, " ", "",
        #"["\uD800\"]"#, #"["\uD800\u"]"#, #"["\uD800\u1"]"#, #"["\uD800\u1x"]"#, "[é]", #"["\x00"]"#,
        #"["\\\"]"#, "[\"\\\t\"]", #"["\🌀"]"#, #"["\"]"#, #"["\u00A"]"#, #"["\uD834\uDd"]"#,
        #"["\uD800\uD800\x"]"#, #"["\a"]"#, #"["\uqqqq"]"#, #"[\u0020"asd"]"#, #"[\n]"#, #"""#,
        "['single quote']", "abc", #"["\"#, "[\"a\u{0}a\"]", "[\"new\nline\"]", "[\"\t\"]", #""\UA66D""#,
        #"""x"#, "<.>", "[<null>]", "[1]x", "[1]]", #"["asd]"#, "aå", "[True]", "1]", #"{"x": true,"#,
        "[][]", "]", "[", "[\u{0}]", "2@", "{}}", #"{"":"#, #"{"a":/*comment*/"b"}"#, #"{"a": true} "x""#,
        "['", "[,", "[{", #"["a"#, #"["a""#, "{", "{]", "{,", "{[", #"{"a"#, "{'a'", "*", #"{"a":"b"}#{}"#,
        "[\u{2060}]", #"[\u000A""]"#, "[1", "[ false, nul", "[ true, fals", "[ false, tru", #"{"asd":"asd""#,
        "å", "[\u{0C}]", "\u{FEFF}{}", "[\"\u{1F}\"]", "nulll", "truee", "[1,2", "{\"a\":1", "\"abc",
        #"["\uDFAA"]"#, #"["\uDADA"]"#, #"["\uD888\u1234"]"#, #"["\uD800\n"]"#, #"["\uD800\uD800\n"]"#,
        #"["\uDd1e\uD834"]"#, #"["\u00"]"#, #"["\u"]"#,
    ]

    @Test("rejects invalid JSON", arguments: rejected)
    func rejectsInvalid(_ text: String) {
        #expect(parseError(text) != nil, "accepted \(text.debugDescription)")
    }

    static let invalidUTF8: [[UInt8]] = [
        [0x5B, 0x61, 0xE5, 0x5D],                          // [a\xE5]
        [0x5B, 0xFF, 0x5D],                                // [\xFF]
        [0x5B, 0x22, 0xFF, 0x22, 0x5D],                    // ["\xFF"]
        [0x5B, 0x22, 0x81, 0x22, 0x5D],                    // lone continuation byte
        [0x5B, 0x22, 0xF4, 0xBF, 0xBF, 0xBF, 0x22, 0x5D],  // above U+10FFFF
        [0x5B, 0x22, 0xF5, 0x80, 0x80, 0x80, 0x22, 0x5D],  // lead byte F5
        [0x5B, 0x22, 0xC0, 0xAF, 0x22, 0x5D],              // overlong 2 bytes
        [0x5B, 0x22, 0xC1, 0xBF, 0x22, 0x5D],              // overlong 2 bytes
        [0x5B, 0x22, 0xE0, 0x80, 0xAF, 0x22, 0x5D],        // overlong 3 bytes
        [0x5B, 0x22, 0xF0, 0x80, 0x80, 0xAF, 0x22, 0x5D],  // overlong 4 bytes
        [0x5B, 0x22, 0xFC, 0x83, 0xBF, 0xBF, 0xBF, 0xBF, 0x22, 0x5D],  // 6-byte form
        [0x5B, 0x22, 0xE0, 0xFF, 0x22, 0x5D],              // truncated
        [0x5B, 0x22, 0xE6, 0x97, 0xA5, 0xD1, 0x88, 0xFA, 0x22, 0x5D],  // 日ш\xFA
        [0x5B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D],        // UTF-8 encoded surrogate U+D800
        [0x5B, 0x22, 0xED, 0xBF, 0xBF, 0x22, 0x5D],        // UTF-8 encoded surrogate U+DFFF
        [0x5B, 0x22, 0xE9, 0x22, 0x5D],                    // ISO-8859-1 é
        [0x22, 0xE2, 0x82],                                // truncated at end of input
        [0x22, 0xE2, 0x82, 0x22],                          // truncated before the quote
        [0x5B, 0x22, 0x5C, 0x75, 0xE5, 0x22, 0x5D],        // ["\u\xE5"]
        [0x5B, 0x22, 0x5C, 0x5C, 0xE5, 0x22, 0x5D],        // ["\\\xE5"]
        [0x22, 0x61, 0x5C, 0x6E, 0xC3, 0x22],              // escape then invalid UTF-8
        [0xEF, 0xBB, 0x7B, 0x7D],                          // incomplete BOM
        [0xEF, 0xBB, 0xBF],                                // BOM, no data
        [0xEF, 0xBB, 0xBF, 0x7B, 0x7D],                    // BOM + {}
        [0xE5],                                            // lone invalid byte
        [0xFF, 0xFE, 0x5B, 0x00, 0x5D, 0x00],              // UTF-16LE with BOM
        [0x5B, 0x00, 0x5D],                                // NUL outside a string
    ]

    @Test("rejects invalid UTF-8 and stray bytes", arguments: invalidUTF8)
    func rejectsInvalidUTF8(_ input: [UInt8]) {
        #expect(parseError(input) != nil)
    }

    @Test func acceptsEveryValidUTF8Length() throws {
        // 1, 2, 3 and 4 byte sequences at the edges of their ranges, raw and with an escape before them.
        let samples = ["\u{7F}", "\u{80}", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}", "\u{FFFF}", "\u{10000}", "\u{10FFFF}"]
        for s in samples {
            #expect(try JSONParser.parse("\"\(s)\"") == .string(s))
            #expect(try JSONParser.parse("\"\\n\(s)\"") == .string("\n" + s))
        }
    }

    // MARK: numbers

    static let numberLiterals: [String] = [
        "0", "-0", "1", "-1", "12345678901234567890", "-12345678901234567890123456789", "1.5", "-1.5",
        "0.000001", "1e3", "1E3", "1e+3", "1e-3", "1.0e+28", "-0.0", "0e0", "9223372036854775807",
        "9223372036854775808", "-9223372036854775809", "3.141592653589793238462643383279",
        "123.456e-789", "1.0", "10", "100E00",
    ]

    @Test("number literal text is kept exactly", arguments: numberLiterals)
    func numberTextPreserved(_ literal: String) throws {
        #expect(try JSONParser.parse(literal) == .number(literal))
        #expect(try JSONParser.parse("[\(literal)]") == .array([.number(literal)]))
        let object = try JSONParser.parse(#"{"n":\#(literal)}"#)
        #expect(object.objectValue?["n"] == .number(literal))
        #expect(JSONWriter.string(object) == #"{"n":\#(literal)}"#)
    }

    @Test func numbersTerminatedByDelimiters() throws {
        #expect(try JSONParser.parse("[1,2.5,-3e2]") == [.number("1"), .number("2.5"), .number("-3e2")])
        #expect(try JSONParser.parse(#"{"a":0}"#) == ["a": 0])
        #expect(try JSONParser.parse(" 7 ") == .number("7"))
    }

    // MARK: strings

    @Test func decodesEscapes() throws {
        #expect(try JSONParser.parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(try JSONParser.parse(#""\u0041\u00e9\u00E9\u4e2d""#) == .string("Aéé中"))
        #expect(try JSONParser.parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try JSONParser.parse(#""a\u0000b""#).stringValue?.utf8.count == 3)
        #expect(try JSONParser.parse(#""x\ty""#) == .string("x\ty"))
        #expect(try JSONParser.parse(#""\u005C""#) == .string("\\"))
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try JSONParser.parse(#""\uD83D\uDE00""#) == .string("😀"))
        #expect(try JSONParser.parse(#""\ud834\udd1e""#) == .string("𝄞"))
        #expect(try JSONParser.parse(#""\uDBFF\uDFFF""#) == .string("\u{10FFFF}"))
        #expect(try JSONParser.parse(#""\uD800\uDC00""#) == .string("\u{10000}"))
        #expect(try JSONParser.parse(#""a\uD83D\uDE00b😀""#) == .string("a😀b😀"))
    }

    @Test func rejectsLoneSurrogates() {
        for text in [#""\uD800""#, #""\uDBFF x""#, #""\uDC00""#, #""\uDFFF\uD800""#, #""\uD800\uD800""#,
                     #""\uD800\u0041""#, #""\uD800\n""#, #""\uD800""#, #""\uD83D""#] {
            let error = parseError(text)
            #expect(error != nil, "accepted \(text)")
            #expect(error?.reason.contains("surrogate") == true, "\(text): \(String(describing: error))")
        }
    }

    @Test func keepsRawUnicode() throws {
        let s = "héllo, 世界 🌍 \u{1F1E8}\u{1F1ED} \u{200B}"
        #expect(try JSONParser.parse("\"\(s)\"") == .string(s))
        #expect(try JSONParser.parse(#"{"\#(s)":"\#(s)"}"#).objectValue?[s] == .string(s))
    }

    @Test func rejectsControlCharactersInStrings() {
        for c in 0..<0x20 {
            let input: [UInt8] = [0x22, 0x61, UInt8(c), 0x22]
            #expect(parseError(input)?.reason.contains("control character") == true, "byte \(c)")
            let escaped: [UInt8] = [0x22, 0x5C, 0x6E, UInt8(c), 0x22]  // after an escape (slow path)
            #expect(parseError(escaped) != nil, "byte \(c) after escape")
        }
        #expect(parsed("\"\u{7F}\"") == .string("\u{7F}"))
    }

    // MARK: structure

    @Test func parsesStructures() throws {
        let value = try JSONParser.parse(#" { "a" : [ 1 , { "b" : null } , true , false , "s" ] , "c" : { } } "#)
        #expect(value == ["a": [1, ["b": nil], true, false, "s"], "c": .object(JSONObject())])
        #expect(value.objectValue?.keys == ["a", "c"])
    }

    @Test func keepsDuplicateKeysInOrderAndLastWins() throws {
        let value = try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#)
        let object = try #require(value.objectValue)
        #expect(object.keys == ["a", "b", "a"])
        #expect(object["a"] == .number("3"))
        #expect(JSONWriter.string(value) == #"{"a":1,"b":2,"a":3}"#)
    }

    @Test func keepsKeyOrder() throws {
        let text = #"{"z":1,"a":2,"m":3,"b":4,"y":5}"#
        let value = try JSONParser.parse(text)
        #expect(value.objectValue?.keys == ["z", "a", "m", "b", "y"])
        #expect(JSONWriter.string(value) == text)
    }

    // MARK: depth

    static func nested(_ depth: Int, open: String = "[", close: String = "]") -> String {
        String(repeating: open, count: depth) + String(repeating: close, count: depth)
    }

    @Test func depthLimit() throws {
        #expect(parsed(Self.nested(64)) != nil)
        let error = parseError(Self.nested(65))
        #expect(error?.reason.contains("nesting") == true)
        #expect(error?.offset == 64)
        let objects = String(repeating: #"{"a":"#, count: 64) + "1" + String(repeating: "}", count: 64)
        #expect(parsed(objects) != nil)
        let tooDeep = String(repeating: #"{"a":"#, count: 65) + "1" + String(repeating: "}", count: 65)
        #expect(parseError(tooDeep) != nil)
        let mixed = String(repeating: #"[{"a":"#, count: 32) + "1" + String(repeating: "}]", count: 32)
        #expect(parsed(mixed) != nil)
        let mixedTooDeep = "[" + mixed + "]"
        #expect(parseError(mixedTooDeep) != nil)
    }

    @Test func customDepthLimit() throws {
        #expect(throws: Never.self) { try JSONParser.parse("[[1]]", maxDepth: 2) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse("[[1]]", maxDepth: 1) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse("[]", maxDepth: 0) }
        #expect(try JSONParser.parse("1", maxDepth: 0) == .number("1"))
        #expect(try JSONParser.parse(Self.nested(200), maxDepth: 200) != .null)
    }

    @Test func hugeNestingIsRejectedWithoutCrashing() {
        #expect(parseError(String(repeating: "[", count: 100_000)) != nil)
        #expect(parseError(String(repeating: #"{"a":"#, count: 100_000)) != nil)
    }

    // MARK: errors

    @Test func errorOffsets() {
        #expect(parseError("") == JSONParseError(offset: 0, reason: "empty input"))
        #expect(parseError("   ")?.offset == 3)
        #expect(parseError("[1,]")?.offset == 3)
        #expect(parseError(#"{"a" 1}"#)?.offset == 5)
        #expect(parseError("[01]")?.offset == 1)
        #expect(parseError("[1] x")?.offset == 4)
        #expect(parseError(#"["abc"#)?.offset == 1)
        #expect(parseError([0x22, 0x61, 0xFF, 0x22])?.offset == 2)
        #expect(parseError(#""ab\q""#)?.offset == 3)
        #expect(parseError("tru")?.offset == 0)
        #expect(parseError("[1,]")?.reason.isEmpty == false)
    }

    @Test func errorDescriptionNamesOffset() throws {
        let error = try #require(parseError("[1,]"))
        #expect(error.description.contains("3"))
        #expect(error.description.contains(error.reason))
    }

    // MARK: entry points

    @Test func allEntryPointsAgree() throws {
        let text = #"{"k":[1,"é",null,{"x":-2.5e3}]}"#
        let fromString = try JSONParser.parse(text)
        let fromArray = try JSONParser.parse(Array(text.utf8))
        let fromRaw = try Array(text.utf8).withUnsafeBytes { buffer in try JSONParser.parse(buffer) }
        #expect(fromString == fromArray)
        #expect(fromArray == fromRaw)
        // A buffer that is a slice of a larger one.
        let padded = Array("xx\(text)yy".utf8)
        let fromSlice = try padded.withUnsafeBytes { buffer in
            try JSONParser.parse(UnsafeRawBufferPointer(rebasing: buffer[2..<(buffer.count - 2)]))
        }
        #expect(fromSlice == fromString)
        // Empty buffer (nil base address).
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(empty) }
    }

    @Test func stringEntryPointWithNonNativeString() throws {
        let substringBacked = String("  [\"ü\"]  ".dropFirst(2))
        #expect(try JSONParser.parse(substringBacked) == ["ü"])
    }
}
