import Testing
@testable import BlobHubRealtimeProtocol

@Suite("JSONValue and JSONObject")
struct JSONValueTests {
    @Test func accessors() {
        let v: JSONValue = ["s": "x", "n": 5, "b": true, "a": [1], "o": ["k": nil], "z": nil]
        let o = v.objectValue!
        #expect(o["s"]?.stringValue == "x")
        #expect(o["n"]?.stringValue == nil)
        #expect(o["n"]?.int64Value == 5)
        #expect(o["n"]?.numberText == "5")
        #expect(o["n"]?.doubleValue == 5)
        #expect(o["b"]?.boolValue == true)
        #expect(o["s"]?.boolValue == nil)
        #expect(o["a"]?.arrayValue == [.number("1")])
        #expect(o["a"]?.objectValue == nil)
        #expect(o["o"]?.objectValue?["k"] == .null)
        #expect(o["z"]?.isNull == true)
        #expect(o["s"]?.isNull == false)
        #expect(o["missing"] == nil)
        #expect(v.arrayValue == nil)
    }

    @Test func int64Value() {
        #expect(JSONValue.number("0").int64Value == 0)
        #expect(JSONValue.number("-0").int64Value == 0)
        #expect(JSONValue.number("42").int64Value == 42)
        #expect(JSONValue.number("-42").int64Value == -42)
        #expect(JSONValue.number("9223372036854775807").int64Value == Int64.max)
        #expect(JSONValue.number("-9223372036854775808").int64Value == Int64.min)
        #expect(JSONValue.number("9223372036854775808").int64Value == nil)
        #expect(JSONValue.number("-9223372036854775809").int64Value == nil)
        #expect(JSONValue.number("12345678901234567890").int64Value == nil)
        // Integral numbers in fraction or exponent form are integers (JSON Schema's reading).
        #expect(JSONValue.number("1.0").int64Value == 1)
        #expect(JSONValue.number("464.000").int64Value == 464)
        #expect(JSONValue.number("1e3").int64Value == 1000)
        #expect(JSONValue.number("1E+3").int64Value == 1000)
        #expect(JSONValue.number("4.64e2").int64Value == 464)
        #expect(JSONValue.number("12.50e1").int64Value == 125)
        #expect(JSONValue.number("-2.5e1").int64Value == -25)
        #expect(JSONValue.number("-0.0").int64Value == 0)
        #expect(JSONValue.number("0e-5").int64Value == 0)
        #expect(JSONValue.number("1500e-3").int64Value == nil)  // 1.5
        #expect(JSONValue.number("15000e-4").int64Value == nil)  // 1.5
        #expect(JSONValue.number("2000e-3").int64Value == 2)
        #expect(JSONValue.number("1.5").int64Value == nil)
        #expect(JSONValue.number("1e-3").int64Value == nil)
        #expect(JSONValue.number("9.223372036854775807e18").int64Value == Int64.max)
        #expect(JSONValue.number("9.3e18").int64Value == nil)  // overflow
        #expect(JSONValue.number("1e400").int64Value == nil)
        #expect(JSONValue.number("1e99999999999999999999").int64Value == nil)
        #expect(JSONValue.number("1.").int64Value == nil)
        #expect(JSONValue.number(".5").int64Value == nil)
        #expect(JSONValue.number("1e").int64Value == nil)
        #expect(JSONValue.number("").int64Value == nil)
        #expect(JSONValue.number("-").int64Value == nil)
        #expect(JSONValue.string("1").int64Value == nil)
    }

    @Test func literals() {
        #expect(JSONValue(nilLiteral: ()) == .null)
        let b: JSONValue = false
        #expect(b == .bool(false))
        let i: JSONValue = -7
        #expect(i == .number("-7"))
        let s: JSONValue = "hi"
        #expect(s == .string("hi"))
        let a: JSONValue = [1, "x"]
        #expect(a == .array([.number("1"), .string("x")]))
        let o: JSONValue = ["b": 1, "a": 2]
        #expect(o.objectValue?.keys == ["b", "a"])
        let obj: JSONObject = ["k": "v"]
        #expect(obj["k"] == "v")
    }

    @Test func numbersCompareByText() {
        #expect(JSONValue.number("1") != JSONValue.number("1.0"))
        #expect(JSONValue.number("1") == JSONValue.integer(1))
        let set: Set<JSONValue> = [.number("1"), .number("1"), .string("1"), ["a": 1], ["a": 1]]
        #expect(set.count == 3)
    }

    @Test func objectPreservesInsertionOrder() {
        var o = JSONObject()
        o["z"] = 1
        o["a"] = 2
        o["m"] = 3
        #expect(o.keys == ["z", "a", "m"])
        #expect(o.count == 3)
        #expect(!o.isEmpty)
        #expect(o.pairs.map(\.key) == ["z", "a", "m"])
        #expect(o.pairs.map(\.value) == [1, 2, 3])
        #expect(o.map(\.key) == ["z", "a", "m"])
        var seen: [String] = []
        for (key, value) in o {
            seen.append("\(key)=\(value)")
        }
        #expect(seen == ["z=1", "a=2", "m=3"])
    }

    @Test func subscriptSetReplacesInPlace() {
        var o: JSONObject = ["a": 1, "b": 2, "c": 3]
        o["b"] = "two"
        #expect(o.keys == ["a", "b", "c"])
        #expect(o["b"] == "two")
        #expect(JSONWriter.string(.object(o)) == #"{"a":1,"b":"two","c":3}"#)
    }

    @Test func duplicateKeysLastWins() {
        var o = JSONObject([("a", 1), ("b", 2), ("a", 3)])
        #expect(o["a"] == 3)
        #expect(o.count == 3)
        o["a"] = 4
        #expect(o.pairs.map(\.value) == [1, 2, 4])
        #expect(o["a"] == 4)
        o["a"] = nil
        #expect(o.keys == ["b"])
        #expect(o["a"] == nil)
    }

    @Test func explicitNullIsAValue() {
        var o = JSONObject()
        o["k"] = .null
        #expect(o["k"] == .null)
        #expect(o.contains(key: "k"))
        #expect(o.count == 1)
        o["k"] = nil
        #expect(!o.contains(key: "k"))
        #expect(o.isEmpty)
    }

    @Test func removeValueAndAppend() {
        var o = JSONObject()
        o.append(key: "a", value: 1)
        o.append(key: "a", value: 2)
        #expect(o.count == 2)
        #expect(o.removeValue(forKey: "a") == 2)
        #expect(o.isEmpty)
        #expect(o.removeValue(forKey: "a") == nil)
    }

    @Test func objectEqualityIsOrdered() {
        let a: JSONObject = ["x": 1, "y": 2]
        let b: JSONObject = ["y": 2, "x": 1]
        #expect(a != b)
        #expect(a == JSONObject([("x", 1), ("y", 2)]))
    }

    @Test func descriptionIsCompactJSON() {
        let v: JSONValue = ["a": [1, "b"]]
        #expect(v.description == #"{"a":[1,"b"]}"#)
        #expect(v.objectValue!.description == #"{"a":[1,"b"]}"#)
    }
}
