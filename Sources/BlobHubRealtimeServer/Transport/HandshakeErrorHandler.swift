import NIOCore
import NIOHTTP1

/// Answers a first request that cannot be parsed (garbage bytes, oversized headers) with 400 (431
/// for headers over NIO's limit) and closes. The pipeline runs without NIO's HTTP error handler, so
/// without this such a peer kept its socket until the handshake timeout (found by GarbageTests).
/// Sits at the tail of the pipeline until the first request is negotiated.
final class HandshakeErrorHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias OutboundOut = HTTPServerResponsePart
    static let name = "handshake-errors"

    private var answered = false

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Only the HTTP decoder's errors: a refused upgrade also passes through here and is answered elsewhere.
        guard let parserError = error as? HTTPParserError else { return context.fireErrorCaught(error) }
        guard !answered else { return }
        answered = true
        let status: HTTPResponseStatus = parserError == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest
        let body = ErrorBody.json(code: Int(status.code), message: status.reasonPhrase)
        let headers: HTTPHeaders = ["Content-Type": "application/json", "Content-Length": String(body.count), "Connection": "close"]
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
