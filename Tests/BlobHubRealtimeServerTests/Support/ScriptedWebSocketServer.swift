import BlobHubRealtimeProtocol
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// A WebSocket server on loopback whose every answer a test scripts, for client behaviour the real server
/// produces only by chance (e.g. a close arriving in the same write as a reply). Each text frame a client
/// sends is handed to `script` with the number of its connection (1, 2, … in accept order); the frames the
/// script returns go out in one write and one flush, so the client reads them together.
final class ScriptedWebSocketServer: Sendable {
    /// One JSON-RPC request a client sent.
    struct Request: Sendable {
        let connection: Int
        let id: Int64?
        let method: String?
    }

    /// What the server sends back for a request.
    enum Reply: Sendable {
        /// A JSON text frame (e.g. a response or a notification).
        case text(String)
        /// A close frame with this code.
        case close(UInt16)
    }

    /// Connections upgraded so far, counted by the child channels' loops.
    private final class Counter: Sendable {
        let value = Mutex(0)
    }

    private let channel: any Channel
    private let accepted: Counter
    var port: Int { channel.localAddress?.port ?? 0 }
    /// Connections upgraded so far.
    var connections: Int { accepted.value.withLock { $0 } }

    private init(channel: any Channel, accepted: Counter) {
        self.channel = channel
        self.accepted = accepted
    }

    static func start(_ script: @escaping @Sendable (Request) -> [Reply]) async throws -> ScriptedWebSocketServer {
        let accepted = Counter()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                    upgradePipelineHandler: { channel, _ in
                        let number = accepted.value.withLock { $0 += 1; return $0 }
                        return channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(Responder(connection: number, script: script))
                        }
                    }
                )
                return channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return ScriptedWebSocketServer(channel: channel, accepted: accepted)
    }

    func stop() async {
        try? await channel.close()
    }

    /// Answers each text frame with the script's replies; answers a client's close and pings like a server.
    private final class Responder: ChannelInboundHandler, Sendable {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let connection: Int
        let script: @Sendable (Request) -> [Reply]

        init(connection: Int, script: @escaping @Sendable (Request) -> [Reply]) {
            self.connection = connection
            self.script = script
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            switch frame.opcode {
            case .text:
                let bytes = frame.unmaskedData.readableBytesView
                let message = (try? JSONParser.parse(Array(bytes)))?.objectValue
                let request = Request(connection: connection, id: message?["id"]?.int64Value, method: message?["method"]?.stringValue)
                for reply in script(request) {
                    switch reply {
                    case .text(let text):
                        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text))), promise: nil)
                    case .close(let code):
                        var data = ByteBuffer()
                        data.writeInteger(code)
                        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)), promise: nil)
                    }
                }
                context.flush()
            case .connectionClose:
                context.close(promise: nil)
            default:
                break
            }
        }
    }
}
