@testable import BlobHubRealtimeProtocol

/// Parses, returning the error instead of throwing it.
func parseResult(_ bytes: [UInt8], maxDepth: Int = 64) -> Result<JSONValue, JSONParseError> {
    do throws(JSONParseError) {
        return .success(try JSONParser.parse(bytes, maxDepth: maxDepth))
    } catch {
        return .failure(error)
    }
}

func parseError(_ bytes: [UInt8], maxDepth: Int = 64) -> JSONParseError? {
    if case .failure(let e) = parseResult(bytes, maxDepth: maxDepth) { return e }
    return nil
}

func parseError(_ text: String, maxDepth: Int = 64) -> JSONParseError? {
    parseError(Array(text.utf8), maxDepth: maxDepth)
}

func parsed(_ text: String) -> JSONValue? {
    if case .success(let v) = parseResult(Array(text.utf8)) { return v }
    return nil
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Runs a typed-throwing params decoder, returning the error.
func decodeError<T>(_ body: () throws(RPCError) -> T) -> RPCError? {
    do throws(RPCError) {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

func decodeValue<T>(_ body: () throws(RPCError) -> T) -> T? {
    do throws(RPCError) {
        return try body()
    } catch {
        return nil
    }
}

/// A deterministic PRNG for generated round-trip cases.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
