import Testing
@testable import BlobHubRealtimeProtocol

/// The word-at-a-time scanning must find exactly the first byte that needs attention, wherever it is.
@Suite("String scanning")
struct StringScanningTests {
    static func word(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { SWAR.load($0, 0) }
    }

    static func firstIndex(_ mask: UInt64) -> Int? {
        mask == 0 ? nil : mask.trailingZeroBitCount / 8
    }

    @Test func masksFindEverySpecialByteInEveryLane() {
        for lane in 0..<8 {
            for b in 0...255 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                bytes[lane] = UInt8(b)
                let w = Self.word(bytes)
                let needsEscape = b < 0x20 || b == 0x22 || b == 0x5C
                #expect(Self.firstIndex(SWAR.escapeMask(w)) == (needsEscape ? lane : nil), "escape lane \(lane) byte \(b)")
                let needsLook = needsEscape || b >= 0x80
                #expect(Self.firstIndex(SWAR.stringScanMask(w)) == (needsLook ? lane : nil), "scan lane \(lane) byte \(b)")
            }
        }
    }

    @Test func masksReportTheLowestOfSeveralMatches() {
        let specials: [UInt8] = [0x00, 0x01, 0x1F, 0x22, 0x5C, 0x80, 0xFF]
        for first in 0..<7 {
            for second in (first + 1)..<8 {
                for a in specials {
                    for b in specials {
                        var bytes = [UInt8](repeating: 0x20, count: 8)
                        bytes[first] = a
                        bytes[second] = b
                        let w = Self.word(bytes)
                        #expect(Self.firstIndex(SWAR.stringScanMask(w)) == first)
                        if a < 0x80 {
                            #expect(Self.firstIndex(SWAR.escapeMask(w)) == first)
                        }
                    }
                }
            }
        }
    }

    static let insertions: [(raw: String, json: String)] = [
        ("\"", #"\""#), ("\\", #"\\"#), ("\n", #"\n"#), ("\u{1}", #"\u0001"#), ("é", "é"), ("中", "中"),
        ("😀", "😀"), ("/", "/"), ("\u{7F}", "\u{7F}"), ("é", #"\u00e9"#), ("😀", #"\ud83d\ude00"#),
    ]

    @Test func parsesSpecialCharactersAtEveryOffset() throws {
        for length in 0..<24 {
            for offset in 0...length {
                for insertion in Self.insertions {
                    let prefix = String(repeating: "x", count: offset)
                    let suffix = String(repeating: "y", count: length - offset)
                    let expected = prefix + insertion.raw + suffix
                    // Alone, and followed by more input (the scan must stop at the string's end).
                    #expect(try JSONParser.parse("\"\(prefix)\(insertion.json)\(suffix)\"") == .string(expected))
                    #expect(try JSONParser.parse("[\"\(prefix)\(insertion.json)\(suffix)\",\"abcdefghijklmnop\"]")
                            == [.string(expected), "abcdefghijklmnop"])
                }
            }
        }
    }

    @Test func rejectsBadBytesAtEveryOffset() {
        let bad: [[UInt8]] = [[0x00], [0x0A], [0x1F], [0xFF], [0xC3], [0xED, 0xA0, 0x80], [0x80]]
        for length in 0..<20 {
            for offset in 0...length {
                for b in bad {
                    let input: [UInt8] = [0x22] + Array(repeating: 0x61, count: offset) + b
                        + Array(repeating: 0x62, count: length - offset) + [0x22]
                    let error = parseError(input)
                    #expect(error?.offset == 1 + offset, "offset \(offset), length \(length), bytes \(b)")
                }
            }
        }
    }

    @Test func writesSpecialCharactersAtEveryOffset() {
        for length in 0..<24 {
            for offset in 0...length {
                for insertion in Self.insertions where !insertion.json.hasPrefix("\\u00e9") && !insertion.json.hasPrefix("\\ud83d") {
                    let prefix = String(repeating: "x", count: offset)
                    let suffix = String(repeating: "y", count: length - offset)
                    #expect(JSONWriter.string(.string(prefix + insertion.raw + suffix)) == "\"\(prefix)\(insertion.json)\(suffix)\"")
                }
            }
        }
    }

    @Test func unterminatedLongStrings() {
        for length in 0..<20 {
            let input = "\"" + String(repeating: "a", count: length)
            #expect(parseError(input) == JSONParseError(offset: 0, reason: "unterminated string"))
        }
    }
}
