import BlobHubRealtimeProtocol

/// The JSON body of every HTTP error (SPEC §2): `{"error":{"code":<status>,"message":"<text>"}}`.
enum ErrorBody {
    static func json(code: Int, message: String) -> [UInt8] {
        JSONWriter.serialize(
            .object(JSONObject([("error", .object(JSONObject([("code", .number(String(code))), ("message", .string(message))])))]))
        )
    }
}
