import NIOCore
import NIOHTTP1

/// A JSON error answer (`{"error":{"code","message"}}`, `Connection: close`) written straight into the
/// HTTP/1 pipeline, after which the connection is closed. For peers turned away before they have a
/// connection of their own (unparsable first request, refused upgrade): no async channel and no task,
/// so a full node can refuse connections by the thousand cheaply.
enum HTTPErrorAnswer {
    static func parts(status: HTTPResponseStatus, message: String, extraHeaders: [(String, String)] = []) -> [HTTPServerResponsePart] {
        let body = ErrorBody.json(code: Int(status.code), message: message)
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(body.count)), ("Connection", "close")])
        headers.add(contentsOf: extraHeaders)
        return [.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)),
                .body(.byteBuffer(ByteBuffer(bytes: body))), .end(nil)]
    }

    /// Writes the answer from the pipeline's tail and closes once it is flushed.
    static func send(_ parts: [HTTPServerResponsePart], on channel: any Channel) {
        let pipeline = channel.pipeline.syncOperations
        for part in parts.dropLast() { pipeline.write(NIOAny(part), promise: nil) }
        pipeline.writeAndFlush(NIOAny(parts[parts.count - 1])).whenComplete { _ in channel.close(promise: nil) }
    }
}
