import BlobHubRealtimeServices
import HTTPTypes
import NIOCore
import NIOHTTP1

/// Serves `POST /v1/events` on the connection's event loop, with no task, async stream or router per
/// request (SPEC §8); every other request passes through to the router unchanged.
///
/// Sits right after NIO's HTTP/1 decoder and encoder, ahead of the conversion to `HTTPTypes` and
/// Hummingbird's connection-state handler: a publish pays for neither (they were a sixth of its CPU).
/// So it keeps what those would do for it: `Connection: close` and HTTP/1.0 without keep-alive close
/// after the answer, and a graceful-shutdown quiesce that arrives while a publish is being answered
/// closes the connection once the answer is written (passed on, it would close it before).
/// Requests are answered strictly in order: while a publish waits for the store, or a router request has
/// not finished its response, later request parts are held, and once any are held the socket is not read
/// (a pipelining client cannot make it buffer more than one read). The answer is written when the append completes:
/// inline for the memory store, one hop from the writer for SQLite.
final class PublishRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// Reading a publish request (its body in `body`, or its refusal in `refusal`).
        case reading(close: Bool)
        /// The publish is with the store; its answer is not written yet.
        case publishing
        /// A router request is in flight: later requests wait until its response ends.
        case forwarding
    }

    private let endpoint: PublishEndpoint
    private let dates: HTTPDateCache
    private var state = State.idle
    /// Parts of later requests, held while one is being answered.
    private var held = CircularBuffer<HTTPServerRequestPart>()
    /// The channel asked to read while requests were held: passed on once they are served.
    private var readPending = false
    /// The publish request being read; nil once it was refused.
    private var body: ByteBuffer?
    private var refusal: PublishEndpoint.Reply?
    /// Parts were passed to the router outside a read cycle: it needs a read-complete to see them.
    private var forwardedOutsideRead = false
    /// The server is shutting down: close once the publish being answered is written.
    private var quiescing = false
    /// The peer's end of input arrived while a publish was in flight or requests were held: passed on once
    /// they are answered.
    private var inputClosedPending = false
    private var context: ChannelHandlerContext?

    init(endpoint: PublishEndpoint, dates: HTTPDateCache) {
        self.endpoint = endpoint
        self.dates = dates
    }

    /// The context of NIO's HTTP/1 response encoder: an answer written there goes to the socket (or TLS) as
    /// one pre-encoded buffer, without passing the encoder. Only used while no router response is in
    /// progress (the encoder is then between responses, so skipping it cannot interleave with its output).
    private var encoderContext: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // `RealtimeChildChannel` adds this handler behind NIO's HTTP/1 server handlers, so the encoder is there.
        guard let encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) else {
            preconditionFailure("PublishRequestHandler needs NIO's HTTPResponseEncoder ahead of it in the pipeline")
        }
        encoderContext = encoder
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        encoderContext = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if held.isEmpty, accept(part, context: context) { return }
        held.append(part)
    }

    /// Handles `part` if the state allows it now; false when it has to wait for the current answer.
    private func accept(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) -> Bool {
        switch (state, part) {
        case (.publishing, _), (.forwarding, .head), (.reading, .head):
            return false
        case (.idle, .head(let head)):
            if head.method == .POST, Self.isPublishPath(head.uri) {
                let close = !head.isKeepAlive
                if authorizes(head.headers.first(name: "authorization")) {
                    body = context.channel.allocator.buffer(capacity: 0)
                } else {
                    refusal = .unauthorized
                }
                state = .reading(close: close)
            } else {
                state = .forwarding
                forward(part, context: context)
            }
        case (.forwarding, _), (.idle, _):
            // The router's request body, also after its response ended early (the router drains it).
            forward(part, context: context)
        case (.reading, .body(var chunk)):
            guard body != nil else { break }
            if body!.readableBytes + chunk.readableBytes > PublishEndpoint.maxBodyBytes {
                body = nil
                refusal = .tooLarge
            } else if body!.readableBytes == 0 {
                body = chunk  // the usual single-chunk body: no copy
            } else {
                body!.writeBuffer(&chunk)
            }
        case (.reading(let close), .end):
            state = .publishing
            let request = body
            body = nil
            guard let request else {
                writeReply(refusal ?? .tooLarge, close: close)
                refusal = nil
                return true
            }
            let loop = context.eventLoop
            let bound = NIOLoopBound(self, eventLoop: loop)
            endpoint.handle(body: request) { reply in
                if loop.inEventLoop {
                    bound.value.writeReply(reply, close: close)
                } else {
                    loop.execute { bound.value.writeReply(reply, close: close) }
                }
            }
        }
        return true
    }

    /// The last `Authorization` value this connection presented that was accepted: a keep-alive publisher
    /// sends the same one with every request, and a plain comparison with what this same client sent
    /// before reveals nothing (a different value is checked in full, in constant time). The keys are
    /// fixed for the server's lifetime, so an accepted value stays valid.
    private var acceptedAuthorization: String?

    private func authorizes(_ authorization: String?) -> Bool {
        if let authorization, authorization == acceptedAuthorization { return true }
        guard endpoint.authorizes(authorization) else { return false }
        acceptedAuthorization = authorization
        return true
    }

    private func forward(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        forwardedOutsideRead = true
        context.fireChannelRead(wrapInboundOut(part))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        forwardedOutsideRead = false
        context.fireChannelReadComplete()
    }

    /// `/v1/events`, also with a trailing slash or a query (as the router matches it).
    static func isPublishPath(_ uri: String) -> Bool {
        var path = uri.utf8[...]
        if let query = path.firstIndex(of: UInt8(ascii: "?")) { path = path[..<query] }
        if path.count > 1, path.last == UInt8(ascii: "/") { path = path.dropLast() }
        return path.elementsEqual(PublishEndpoint.path.utf8)
    }

    // MARK: Outbound

    /// The router's response parts: its request is done when `.end` passes.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        if case .end = unwrapOutboundIn(data), case .forwarding = state {
            state = .idle
            serveHeld(context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The peer ended its side of TCP (it may still read): passed on, the connection closes at once, so a
        // publish in flight or a held request would never be answered. It waits for their answers instead.
        if case .inputClosed? = event as? ChannelEvent, isPublishing || !held.isEmpty {
            inputClosedPending = true
            return
        }
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        switch state {
        case .reading, .publishing:
            quiescing = true  // closed by `writeReply`
        case .idle, .forwarding:
            // Nothing of ours in flight: Hummingbird's handler closes now or after the router's answer.
            held.removeAll()
            context.fireUserInboundEventTriggered(event)
        }
    }

    func read(context: ChannelHandlerContext) {
        // Reading goes on while a publish waits for the store (a client that waits for each answer sends
        // nothing meanwhile, and holding the read would cost two `epoll_ctl` calls per request); it stops
        // once parts of a later request are held, so a pipelining client still cannot make this connection
        // buffer more than one read.
        if !held.isEmpty {
            readPending = true
        } else {
            context.read()
        }
    }

    private func writeReply(_ reply: PublishEndpoint.Reply, close: Bool) {
        guard let context, let encoderContext, case .publishing = state else { return }
        let close = close || quiescing
        // A promise only when the connection closes after the answer: none per keep-alive publish.
        let written = close ? context.eventLoop.makePromise(of: Void.self) : nil
        encoderContext.writeAndFlush(NIOAny(encode(reply, close: close, allocator: context.channel.allocator)), promise: written)
        if let written {
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
            return
        }
        state = .idle
        serveHeld(context: context)
    }

    /// The whole response in one buffer: status line, headers, body.
    private func encode(_ reply: PublishEndpoint.Reply, close: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 160 + reply.body.count)
        buffer.writeString("HTTP/1.1 \(reply.status.code) \(reply.status.reasonPhrase)\r\n")
        buffer.writeString("Content-Type: application/json\r\nContent-Length: \(reply.body.count)\r\nDate: ")
        buffer.writeString(dates.current())
        buffer.writeString("\r\n")
        for field in reply.headers {
            buffer.writeString("\(field.name.canonicalName): \(field.value)\r\n")
        }
        if close { buffer.writeString("Connection: close\r\n") }
        buffer.writeString("\r\n")
        buffer.writeBytes(reply.body)
        return buffer
    }

    /// Serves the held parts that can go now, then the read that waited for them.
    private func serveHeld(context: ChannelHandlerContext) {
        forwardedOutsideRead = false
        // Taken off before `accept`: an answer written inline (memory store) serves the rest from there.
        while let part = held.popFirst() {
            guard accept(part, context: context) else {
                held.prepend(part)
                break
            }
        }
        // The async channel hands reads to the router at read-complete.
        if forwardedOutsideRead {
            forwardedOutsideRead = false
            context.fireChannelReadComplete()
        }
        if held.isEmpty, readPending {
            readPending = false
            context.read()
        }
        if held.isEmpty, inputClosedPending, !isPublishing {
            inputClosedPending = false
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
    }

    private var isPublishing: Bool {
        if case .publishing = state { return true }
        return false
    }
}
