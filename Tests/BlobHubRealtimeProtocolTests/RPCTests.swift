import Testing
@testable import BlobHubRealtimeProtocol

private func decode(_ message: String) -> RPCInbound {
    RPCDecoder.decode(Array(message.utf8))
}

/// The single entry of a non-batch message.
private func single(_ message: String) -> RPCEntry? {
    if case .single(let entry) = decode(message) { return entry }
    return nil
}

private func request(_ message: String) -> RPCRequest? {
    if case .request(let r)? = single(message) { return r }
    return nil
}

private func invalid(_ message: String) -> (id: RPCRequestID?, error: RPCError)? {
    if case .invalid(let id, let error)? = single(message) { return (id, error) }
    return nil
}

@Suite("RPC decoding")
struct RPCDecoderTests {
    // MARK: ids

    @Test func numericID() throws {
        let r = try #require(request(#"{"jsonrpc":"2.0","id":1,"method":"status/ping"}"#))
        #expect(r.id == .number("1"))
        #expect(r.method == "status/ping")
        #expect(r.params == nil)
        #expect(!r.isNotification)
    }

    @Test("numeric ids keep their exact text", arguments: ["12345678901234567890", "1.5", "-0", "1e3", "0", "-7", "1.0E+2"])
    func numericIDText(_ literal: String) throws {
        let r = try #require(request(#"{"jsonrpc":"2.0","id":\#(literal),"method":"m"}"#))
        #expect(r.id == .number(literal))
    }

    @Test func stringID() throws {
        let r = try #require(request(#"{"jsonrpc":"2.0","id":"abc-1","method":"m"}"#))
        #expect(r.id == .string("abc-1"))
        let e = try #require(request(#"{"jsonrpc":"2.0","id":"","method":"m"}"#))
        #expect(e.id == .string(""))
        let u = try #require(request(#"{"jsonrpc":"2.0","id":"\u00e9\"","method":"m"}"#))
        #expect(u.id == .string("é\""))
    }

    @Test func nullIDIsNotANotification() throws {
        let r = try #require(request(#"{"jsonrpc":"2.0","id":null,"method":"m"}"#))
        #expect(r.id == .null)
        #expect(!r.isNotification)
    }

    @Test func absentIDIsANotification() throws {
        let r = try #require(request(#"{"jsonrpc":"2.0","method":"subscription/add","params":{"a":1}}"#))
        #expect(r.id == nil)
        #expect(r.isNotification)
        #expect(r.params == ["a": 1])
    }

    @Test("unreadable ids make an invalid entry without id", arguments: ["true", "false", "{}", "[]", "[1]", #"{"a":1}"#])
    func unreadableID(_ idText: String) throws {
        let entry = try #require(invalid(#"{"jsonrpc":"2.0","id":\#(idText),"method":"m"}"#))
        #expect(entry.id == nil)
        #expect(entry.error.code == .invalidSyntax)
        #expect(entry.error.field == "id")
    }

    @Test func idIsReadFirstEvenWhenItComesLast() throws {
        let entry = try #require(invalid(#"{"jsonrpc":"1.0","method":"m","id":"late"}"#))
        #expect(entry.id == .string("late"))
        #expect(entry.error.field == "jsonrpc")
    }

    // MARK: structure

    @Test("jsonrpc must be exactly \"2.0\"", arguments: [
        #"{"id":1,"method":"m"}"#,
        #"{"jsonrpc":"1.0","id":1,"method":"m"}"#,
        #"{"jsonrpc":2.0,"id":1,"method":"m"}"#,
        #"{"jsonrpc":"2.00","id":1,"method":"m"}"#,
        #"{"jsonrpc":" 2.0","id":1,"method":"m"}"#,
        #"{"jsonrpc":null,"id":1,"method":"m"}"#,
        #"{"jsonrpc":["2.0"],"id":1,"method":"m"}"#,
    ])
    func badJSONRPC(_ message: String) throws {
        let entry = try #require(invalid(message))
        #expect(entry.id == .number("1"))
        #expect(entry.error == .invalidParams(field: "jsonrpc", reason: "must be \"2.0\""))
    }

    @Test func missingMethod() throws {
        let entry = try #require(invalid(#"{"jsonrpc":"2.0","id":"x"}"#))
        #expect(entry.id == .string("x"))
        #expect(entry.error.code == .invalidSyntax)
        #expect(entry.error.field == "method")
    }

    @Test("method must be a string", arguments: ["1", "null", "true", "{}", #"["m"]"#])
    func nonStringMethod(_ methodText: String) throws {
        let entry = try #require(invalid(#"{"jsonrpc":"2.0","id":7,"method":\#(methodText)}"#))
        #expect(entry.id == .number("7"))
        #expect(entry.error == .invalidParams(field: "method", reason: "must be a string"))
    }

    @Test("params must be an object when present", arguments: ["null", "[]", "[1,2]", #""x""#, "1", "true"])
    func nonObjectParams(_ paramsText: String) throws {
        let entry = try #require(invalid(#"{"jsonrpc":"2.0","id":"p","method":"m","params":\#(paramsText)}"#))
        #expect(entry.id == .string("p"))
        #expect(entry.error == .invalidParams(field: "params", reason: "must be an object"))
    }

    @Test func objectParams() throws {
        let r = try #require(request(#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"b":[1],"a":"x"}}"#))
        #expect(r.params?.keys == ["b", "a"])
        #expect(r.params?["a"] == "x")
        let empty = try #require(request(#"{"jsonrpc":"2.0","id":1,"method":"m","params":{}}"#))
        #expect(empty.params == JSONObject())
    }

    @Test func invalidNotificationIsStillAnInvalidEntryWithoutID() throws {
        let entry = try #require(invalid(#"{"jsonrpc":"2.0","method":5}"#))
        #expect(entry.id == nil)
        #expect(entry.error.field == "method")
        let params = try #require(invalid(#"{"jsonrpc":"2.0","method":"m","params":[]}"#))
        #expect(params.id == nil)
        #expect(params.error.field == "params")
    }

    @Test func unknownMembersAreIgnored() throws {
        let r = try #require(request(#"{"extra":{"x":[1]},"jsonrpc":"2.0","id":2,"method":"m","more":null}"#))
        #expect(r == RPCRequest(id: .number("2"), method: "m", params: nil))
    }

    @Test func duplicateMembersLastWins() throws {
        let r = try #require(request(#"{"jsonrpc":"1.0","jsonrpc":"2.0","id":1,"id":2,"method":"a","method":"b"}"#))
        #expect(r.id == .number("2"))
        #expect(r.method == "b")
    }

    @Test func emptyMethodStringIsStructurallyValid() throws {
        let r = try #require(request(#"{"jsonrpc":"2.0","id":1,"method":""}"#))
        #expect(r.method == "")
    }

    // MARK: top-level values

    @Test("unparsable JSON", arguments: ["", "{", #"{"jsonrpc":"2.0","id":1,"method":"m""#, "nul", "[1,]", "{\"a\":01}", "\u{FEFF}{}"])
    func unparsable(_ message: String) throws {
        let entry = try #require(invalid(message))
        #expect(entry.id == nil)
        #expect(entry.error.code == .invalidSyntax)
        #expect(entry.error.reason?.isEmpty == false)
    }

    @Test func invalidUTF8IsUnparsable() throws {
        let inbound = RPCDecoder.decode([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D])
        guard case .single(.invalid(let id, let error)) = inbound else {
            Issue.record("expected a single invalid entry, got \(inbound)")
            return
        }
        #expect(id == nil)
        #expect(error.code == .invalidSyntax)
    }

    @Test("non-object, non-array top-level values", arguments: ["1", #""x""#, "null", "true", "false", "-0.5"])
    func scalarTopLevel(_ message: String) throws {
        let entry = try #require(invalid(message))
        #expect(entry.id == nil)
        #expect(entry.error.code == .invalidSyntax)
    }

    @Test func tooDeepIsUnparsable() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        let params = #"{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":\#(deep)}}"#
        #expect(invalid(params)?.id == nil)
    }

    // MARK: batches

    @Test func emptyBatchIsASingleInvalidEntry() throws {
        let entry = try #require(invalid("[]"))
        #expect(entry.id == nil)
        #expect(entry.error.code == .invalidSyntax)
        let spaced = try #require(invalid(" [ ] "))
        #expect(spaced.id == nil)
    }

    @Test func mixedBatch() throws {
        let message = """
        [{"jsonrpc":"2.0","id":1,"method":"status/ping"},
         {"jsonrpc":"2.0","method":"note"},
         1,
         {"jsonrpc":"2.0","id":"b","method":3},
         [],
         {"jsonrpc":"2.0","id":false,"method":"m"},
         {"jsonrpc":"2.0","id":null,"method":"m","params":{"k":"v"}}]
        """
        guard case .batch(let entries) = decode(message) else {
            Issue.record("expected a batch")
            return
        }
        #expect(entries.count == 7)
        #expect(entries[0] == .request(RPCRequest(id: .number("1"), method: "status/ping")))
        #expect(entries[1] == .request(RPCRequest(id: nil, method: "note")))
        guard case .invalid(nil, let e2) = entries[2] else { Issue.record("entry 2: \(entries[2])"); return }
        #expect(e2.code == .invalidSyntax)
        #expect(entries[3] == .invalid(id: .string("b"), error: .invalidParams(field: "method", reason: "must be a string")))
        guard case .invalid(nil, _) = entries[4] else { Issue.record("entry 4: \(entries[4])"); return }
        guard case .invalid(nil, let e5) = entries[5] else { Issue.record("entry 5: \(entries[5])"); return }
        #expect(e5.field == "id")
        #expect(entries[6] == .request(RPCRequest(id: .null, method: "m", params: ["k": "v"])))
    }

    @Test func batchOfOneIsStillABatch() {
        #expect(decode(#"[{"jsonrpc":"2.0","id":1,"method":"m"}]"#) == .batch([.request(RPCRequest(id: .number("1"), method: "m"))]))
    }

    @Test func batchOfNotifications() {
        let inbound = decode(#"[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}]"#)
        #expect(inbound == .batch([.request(RPCRequest(id: nil, method: "a")), .request(RPCRequest(id: nil, method: "b"))]))
    }

    @Test func rawBufferEntryPointAgrees() {
        let message = Array(#"{"jsonrpc":"2.0","id":"r","method":"m"}"#.utf8)
        let viaBuffer = message.withUnsafeBytes { RPCDecoder.decode($0) }
        #expect(viaBuffer == RPCDecoder.decode(message))
        #expect(viaBuffer == .single(.request(RPCRequest(id: .string("r"), method: "m"))))
    }
}

@Suite("RPC errors")
struct RPCErrorTests {
    @Test func codesAndMessages() {
        #expect(RPCErrorCode.invalidSyntax.rawValue == 400)
        #expect(RPCErrorCode.forbidden.rawValue == 403)
        #expect(RPCErrorCode.methodNotSupported.rawValue == 405)
        #expect(RPCErrorCode.tooManyRequests.rawValue == 429)
        #expect(RPCErrorCode.unexpectedFailure.rawValue == 500)
        #expect(RPCErrorCode.invalidSyntax.message == "Invalid syntax")
        #expect(RPCErrorCode.forbidden.message == "Access forbidden")
        #expect(RPCErrorCode.methodNotSupported.message == "Method not supported")
        #expect(RPCErrorCode.tooManyRequests.message == "Too many requests")
        #expect(RPCErrorCode.unexpectedFailure.message == "Unexpected failure")
    }

    @Test func staticErrors() {
        #expect(RPCError.invalidSyntax == RPCError(.invalidSyntax))
        #expect(RPCError.invalidSyntax.data == nil)
        #expect(RPCError.forbidden.code == .forbidden)
        #expect(RPCError.methodNotSupported.code == .methodNotSupported)
        #expect(RPCError.tooManyRequests.code == .tooManyRequests)
        #expect(RPCError.unexpectedFailure.code == .unexpectedFailure)
        #expect(RPCError.forbidden.data == nil)
    }

    @Test func invalidParams() {
        let e = RPCError.invalidParams(field: "scope", reason: "unknown scope")
        #expect(e.code == .invalidSyntax)
        #expect(e.data == ["field": "scope", "reason": "unknown scope"])
        #expect(e.field == "scope")
        #expect(e.reason == "unknown scope")
        let noField = RPCError.invalidParams(field: nil, reason: "connection not initialized")
        #expect(noField.data == ["reason": "connection not initialized"])
        #expect(noField.field == nil)
    }
}

@Suite("RPC encoding")
struct RPCEncoderTests {
    @Test func resultWithBigNumericID() {
        let out = RPCEncoder.result(id: .number("12345678901234567890"), result: .object(JSONObject()))
        #expect(text(out) == #"{"jsonrpc":"2.0","id":12345678901234567890,"result":{}}"#)
    }

    @Test func resultIDs() {
        #expect(text(RPCEncoder.result(id: .number("1.5"), result: nil)) == #"{"jsonrpc":"2.0","id":1.5,"result":null}"#)
        #expect(text(RPCEncoder.result(id: .string("a\"b"), result: true)) == #"{"jsonrpc":"2.0","id":"a\"b","result":true}"#)
        #expect(text(RPCEncoder.result(id: .null, result: [])) == #"{"jsonrpc":"2.0","id":null,"result":[]}"#)
        #expect(text(RPCEncoder.result(id: nil, result: 1)) == #"{"jsonrpc":"2.0","id":null,"result":1}"#)
    }

    @Test func resultKeepsNestedOrder() {
        let result: JSONValue = ["offset": 1042, "recovered": true, "epoch": "e1"]
        #expect(text(RPCEncoder.result(id: .number("2"), result: result))
                == #"{"jsonrpc":"2.0","id":2,"result":{"offset":1042,"recovered":true,"epoch":"e1"}}"#)
    }

    @Test func errorWithoutData() {
        #expect(text(RPCEncoder.error(id: .number("1"), error: .methodNotSupported))
                == #"{"jsonrpc":"2.0","id":1,"error":{"code":405,"message":"Method not supported"}}"#)
        #expect(text(RPCEncoder.error(id: nil, error: .invalidSyntax))
                == #"{"jsonrpc":"2.0","id":null,"error":{"code":400,"message":"Invalid syntax"}}"#)
        #expect(text(RPCEncoder.error(id: .string("x"), error: .forbidden))
                == #"{"jsonrpc":"2.0","id":"x","error":{"code":403,"message":"Access forbidden"}}"#)
        #expect(text(RPCEncoder.error(id: .number("3"), error: .tooManyRequests))
                == #"{"jsonrpc":"2.0","id":3,"error":{"code":429,"message":"Too many requests"}}"#)
        #expect(text(RPCEncoder.error(id: .number("4"), error: .unexpectedFailure))
                == #"{"jsonrpc":"2.0","id":4,"error":{"code":500,"message":"Unexpected failure"}}"#)
    }

    @Test func errorWithData() {
        let out = RPCEncoder.error(id: .number("2"), error: .invalidParams(field: "scope", reason: "unknown scope"))
        #expect(text(out) == #"{"jsonrpc":"2.0","id":2,"error":{"code":400,"message":"Invalid syntax","data":{"field":"scope","reason":"unknown scope"}}}"#)
    }

    @Test func notification() {
        let params: JSONValue = ["scope": "core", "target": "blob", "target_id": "b1", "offset": 7, "event": ["type": "blob_updated"]]
        let out = RPCEncoder.notification(method: "subscription/event", params: params)
        #expect(text(out) == #"{"jsonrpc":"2.0","method":"subscription/event","params":{"scope":"core","target":"blob","target_id":"b1","offset":7,"event":{"type":"blob_updated"}}}"#)
    }

    @Test func batch() {
        let a = RPCEncoder.result(id: .number("1"), result: [:])
        let b = RPCEncoder.error(id: .null, error: .invalidSyntax)
        #expect(text(RPCEncoder.batch([a, b])) == "[" + text(a) + "," + text(b) + "]")
        #expect(text(RPCEncoder.batch([a])) == "[" + text(a) + "]")
        #expect(text(RPCEncoder.batch([])) == "[]")
    }

    @Test func outputsAreValidJSONThatRoundTrip() throws {
        let out = RPCEncoder.error(id: .string("é\n"), error: RPCError(.forbidden, data: ["why": "x"]))
        let parsed = try JSONParser.parse(out)
        #expect(parsed == ["jsonrpc": "2.0", "id": "é\n", "error": ["code": 403, "message": "Access forbidden", "data": ["why": "x"]]])
    }

    @Test func appendVariantsMatch() {
        var buffer: [UInt8] = []
        RPCEncoder.appendResult(id: .number("1"), result: "ok", into: &buffer)
        #expect(buffer == RPCEncoder.result(id: .number("1"), result: "ok"))
        buffer = []
        RPCEncoder.appendError(id: .number("1"), error: .forbidden, into: &buffer)
        #expect(buffer == RPCEncoder.error(id: .number("1"), error: .forbidden))
        buffer = []
        RPCEncoder.appendNotification(method: "m", params: [:], into: &buffer)
        #expect(buffer == RPCEncoder.notification(method: "m", params: [:]))
    }

    @Test func decodedIDsEchoByteForByte() throws {
        for idText in ["12345678901234567890", "1.5", "-0", "1E+2", #""abc""#, #""\u00e9""#, "null"] {
            let r = try #require(request(#"{"jsonrpc":"2.0","id":\#(idText),"method":"m"}"#))
            let out = text(RPCEncoder.result(id: r.id, result: [:]))
            let expectedID = idText == #""\u00e9""# ? #""é""# : idText
            #expect(out == #"{"jsonrpc":"2.0","id":\#(expectedID),"result":{}}"#)
        }
    }

    @Test func requestIDDescription() {
        #expect(RPCRequestID.string("a").description == #""a""#)
        #expect(RPCRequestID.number("12").description == "12")
        #expect(RPCRequestID.null.description == "null")
        #expect(RPCRequestID.number("1.5").json == .number("1.5"))
    }
}
