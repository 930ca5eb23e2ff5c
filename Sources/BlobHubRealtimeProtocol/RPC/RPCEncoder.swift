// Outbound JSON-RPC 2.0 messages as complete UTF-8 JSON texts.

public enum RPCEncoder: Sendable {
    private static let idPrefix: [UInt8] = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
    private static let methodPrefix: [UInt8] = Array(#"{"jsonrpc":"2.0","method":"#.utf8)
    private static let resultKey: [UInt8] = Array(#","result":"#.utf8)
    private static let errorKey: [UInt8] = Array(#","error":{"code":"#.utf8)
    private static let messageKey: [UInt8] = Array(#","message":"#.utf8)
    private static let dataKey: [UInt8] = Array(#","data":"#.utf8)
    private static let paramsKey: [UInt8] = Array(#","params":"#.utf8)

    @inline(__always)
    private static func appendID(_ id: RPCRequestID?, into buffer: inout [UInt8]) {
        switch id {
        case .string(let s)?: JSONWriter.appendString(s, into: &buffer)
        case .number(let n)?: buffer.append(contentsOf: n.utf8)
        case .null?, nil: buffer.append(contentsOf: "null".utf8)
        }
    }

    /// `{"jsonrpc":"2.0","id":…,"result":…}`; a nil id is written as `null`.
    public static func result(id: RPCRequestID?, result: JSONValue) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(64)
        appendResult(id: id, result: result, into: &buffer)
        return buffer
    }

    public static func appendResult(id: RPCRequestID?, result: JSONValue, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: idPrefix)
        appendID(id, into: &buffer)
        buffer.append(contentsOf: resultKey)
        JSONWriter.write(result, into: &buffer)
        buffer.append(UInt8(ascii: "}"))
    }

    /// `{"jsonrpc":"2.0","id":…,"error":{"code":400,"message":"Invalid syntax","data":…}}`;
    /// `data` is omitted when nil; a nil id is written as `null`.
    public static func error(id: RPCRequestID?, error: RPCError) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(96)
        appendError(id: id, error: error, into: &buffer)
        return buffer
    }

    public static func appendError(id: RPCRequestID?, error: RPCError, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: idPrefix)
        appendID(id, into: &buffer)
        buffer.append(contentsOf: errorKey)
        buffer.append(contentsOf: String(error.code.rawValue).utf8)
        buffer.append(contentsOf: messageKey)
        JSONWriter.appendString(error.code.message, into: &buffer)
        if let data = error.data {
            buffer.append(contentsOf: dataKey)
            JSONWriter.write(data, into: &buffer)
        }
        buffer.append(UInt8(ascii: "}"))
        buffer.append(UInt8(ascii: "}"))
    }

    /// `{"jsonrpc":"2.0","method":…,"params":…}`.
    public static func notification(method: String, params: JSONValue) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(128)
        appendNotification(method: method, params: params, into: &buffer)
        return buffer
    }

    public static func appendNotification(method: String, params: JSONValue, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: methodPrefix)
        JSONWriter.appendString(method, into: &buffer)
        buffer.append(contentsOf: paramsKey)
        JSONWriter.write(params, into: &buffer)
        buffer.append(UInt8(ascii: "}"))
    }

    /// `"[" + responses joined by "," + "]"` (each response a complete JSON text).
    public static func batch(_ responses: [[UInt8]]) -> [UInt8] {
        var total = 2 + max(0, responses.count - 1)
        for r in responses { total += r.count }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(total)
        buffer.append(UInt8(ascii: "["))
        for (i, r) in responses.enumerated() {
            if i > 0 { buffer.append(UInt8(ascii: ",")) }
            buffer.append(contentsOf: r)
        }
        buffer.append(UInt8(ascii: "]"))
        return buffer
    }
}
