import BlobHubRealtimeServices
import NIOCore
import NIOHTTP1

/// A JSON error answer (`{"error":{"code","message"}}`, `Connection: close`) written straight into the
/// HTTP/1 pipeline, after which the connection is closed. For peers turned away before they have a
/// connection of their own (unparsable first request, refused upgrade): no async channel and no task,
/// so a full node can refuse connections by the thousand cheaply.
enum HTTPErrorAnswer {
    /// Writes the answer from the pipeline's tail (on the channel's event loop) and closes once it is flushed.
    static func send(status: HTTPResponseStatus, message: String, extraHeaders: [(String, String)] = [], on channel: any Channel) {
        let body = ErrorBody.json(code: Int(status.code), message: message)
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(body.count)), ("Connection", "close")])
        headers.add(contentsOf: extraHeaders)
        let pipeline = channel.pipeline.syncOperations
        pipeline.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        pipeline.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        pipeline.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
