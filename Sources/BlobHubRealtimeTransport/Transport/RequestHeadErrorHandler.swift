import BlobHubRealtimeServices
import NIOCore
import NIOHTTP1

/// Answers a first request the HTTP decoder cannot parse, then hangs up: 431 when its header block is
/// over the decoder's limit (80 KiB), 400 for anything else malformed. Without it such a peer would
/// hold its connection, unanswered, until the handshake timeout.
///
/// Sits at the end of the pipeline until the first request is understood (then removed).
final class RequestHeadErrorHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart

    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !answered else { return }
        answered = true
        let status: HTTPResponseStatus = parserError == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest
        let message = parserError == .headerOverflow ? "Request header fields too large" : "Malformed HTTP request"
        // This handler is the pipeline's last: writing from the tail is writing from here.
        HTTPErrorAnswer.send(status: status, message: message, on: context.channel)
    }
}
