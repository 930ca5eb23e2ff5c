import NIOCore
import NIOPosix
import NIOSSL

/// A TCP connection to the server under test, byte for byte: tests write exactly what they mean,
/// including malformed HTTP and WebSocket frames a real client library would refuse to send.
final class RawSocket: Sendable {
    let channel: any Channel
    let inbox: ByteInbox

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let inbox: ByteInbox
        init(inbox: ByteInbox) { self.inbox = inbox }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            inbox.append(unwrapInboundIn(data))
        }
        func channelInactive(context: ChannelHandlerContext) {
            inbox.markClosed()
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            // With remote half-closure allowed, the server's FIN arrives as an event, not as inactivity.
            if case .inputClosed = event as? ChannelEvent { inbox.markClosed() }
            context.fireUserInboundEventTriggered(event)
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            inbox.markClosed()
            context.close(promise: nil)
        }
    }

    private init(channel: any Channel, inbox: ByteInbox) {
        self.channel = channel
        self.inbox = inbox
    }

    /// `tls`: speak TLS (https/wss) to the server, which must present a certificate for `serverHostname`.
    static func connect(port: Int, host: String = "127.0.0.1", tls: NIOSSLContext? = nil, serverHostname: String = "localhost") async throws -> RawSocket {
        let inbox = ByteInbox()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverHostname))
                    }
                    try channel.pipeline.syncOperations.addHandler(Collector(inbox: inbox))
                }
            }
            .connect(host: host, port: port)
            .get()
        return RawSocket(channel: channel, inbox: inbox)
    }

    func write(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    func write(_ text: String) async throws {
        try await write(Array(text.utf8))
    }

    func close() async {
        try? await channel.close()
    }

    /// Waits until the server has closed the TCP connection.
    func waitForEOF(timeout: Duration = .seconds(5)) async throws {
        await inbox.waitForClose(until: ContinuousClock.now + timeout)
        guard inbox.isClosed else { throw ByteInbox.Timeout(what: "connection close") }
    }
}
