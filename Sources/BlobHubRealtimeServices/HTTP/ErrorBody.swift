import BlobHubRealtimeProtocol

/// The JSON body of every HTTP error (SPEC §2): `{"error":{"code":<status>,"message":"<text>"}}`.
package enum ErrorBody {
    /// `extra` members (e.g. the index and field of a rejected event) follow code and message.
    package static func json(code: Int, message: String, extra: [(String, JSONValue)] = []) -> [UInt8] {
        let error = JSONObject([("code", .number(String(code))), ("message", .string(message))] + extra)
        return JSONWriter.serialize(.object(JSONObject([("error", .object(error))])))
    }
}
