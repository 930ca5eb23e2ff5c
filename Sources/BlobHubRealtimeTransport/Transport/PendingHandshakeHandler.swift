import BlobHubRealtimeServices
import NIOCore

/// Guards a new TCP connection until its first request has been read: a peer that connects and
/// says nothing (or too slowly) is dropped after `timeout`, and such connections are closed at
/// once when the server quiesces, so they can hold neither a task nor a graceful shutdown.
final class PendingHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private let timedOut: @Sendable () -> Void
    private var timer: Scheduled<Void>?

    /// `timedOut` runs when the timeout drops the connection (metrics: `handshakes_total{outcome="timeout"}`).
    init(timeout: TimeAmount, timedOut: @escaping @Sendable () -> Void = {}) {
        self.timeout = timeout
        self.timedOut = timedOut
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        let timedOut = self.timedOut
        timer = context.eventLoop.scheduleTask(in: timeout) {
            guard channel.isActive else { return }
            timedOut()
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
