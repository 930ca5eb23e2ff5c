import BlobHubRealtimeProtocol
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization

/// Opens one authenticated WebSocket (NIO's typed client upgrader), or reports the HTTP refusal.
enum WebSocketDialer {
    typealias Socket = NIOAsyncChannel<WebSocketFrame, WebSocketFrame>

    private enum Outcome: Sendable {
        case upgraded(Socket)
        case refused(EventLoopFuture<(Int, String)>)
    }

    /// A client TLS context and the name the server must prove (nil: an IP address, matched without SNI).
    struct TLS: Sendable {
        let context: NIOSSLContext
        let serverHostname: String?

        init(_ settings: ClientTLS, host: String) throws {
            var configuration = TLSConfiguration.makeClientConfiguration()   // full verification, system roots
            do {
                if let file = settings.trustedCAFile {
                    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
                }
                context = try NIOSSLContext(configuration: configuration)
            } catch {
                throw RealtimeClientError.tls("cannot use \(settings.trustedCAFile.map { "CA file \($0)" } ?? "the system trust store"): \(error)")
            }
            let name = settings.serverName ?? host
            serverHostname = Self.isIPAddress(name) ? nil : name
        }

        static func isIPAddress(_ host: String) -> Bool {
            host.contains(":") || (!host.isEmpty && host.allSatisfy { $0.isNumber || $0 == "." })
        }
    }

    /// `timeout` bounds the whole dial (TCP connect, TLS, upgrade, a refusal's body): a server that accepts the
    /// connection and never answers fails it `.timedOut` instead of holding the caller (and a reconnect loop) forever.
    static func dial(host: String, port: Int, path: String, credential: ClientCredential, viaSubprotocol: Bool,
                     tls: TLS? = nil, maxFrameSize: Int = 1 << 24, timeout: Duration = .seconds(10)) async throws -> Socket {
        let dialing = DialState()
        let timer = Task {
            try await Task.sleep(for: timeout)
            dialing.expire()?.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            return try await connectAndUpgrade(host: host, port: port, path: path, credential: credential, viaSubprotocol: viaSubprotocol,
                                               tls: tls, maxFrameSize: maxFrameSize, timeout: timeout, dialing: dialing)
        } catch let error as RealtimeClientError {
            throw error
        } catch {
            // Closed by the timer (the upgrade or the refusal's read then fails with a channel error), or NIO's own
            // connect timeout (the same bound) came first.
            if dialing.timedOut { throw RealtimeClientError.timedOut }
            if case .connectTimeout = error as? ChannelError { throw RealtimeClientError.timedOut }
            throw error
        }
    }

    /// The dial's channel once connected, for the timer to close, and whether the timer fired.
    private final class DialState: Sendable {
        private let state = Mutex<(channel: (any Channel)?, timedOut: Bool)>((nil, false))

        /// The timer fired: the channel to close, if connected yet.
        func expire() -> (any Channel)? { state.withLock { $0.timedOut = true; return $0.channel } }

        /// Connected: true when the timer fired already (the caller closes the channel).
        func connected(_ channel: any Channel) -> Bool { state.withLock { $0.channel = channel; return $0.timedOut } }

        var timedOut: Bool { state.withLock { $0.timedOut } }
    }

    private static func connectAndUpgrade(host: String, port: Int, path: String, credential: ClientCredential, viaSubprotocol: Bool,
                                          tls: TLS?, maxFrameSize: Int, timeout: Duration,
                                          dialing: DialState) async throws -> Socket {
        var headers = HTTPHeaders([("Host", "\(host):\(port)")])
        switch (credential, viaSubprotocol) {
        case (.bearer(let token), false): headers.add(name: "Authorization", value: "Bearer \(token)")
        case (.apiKey(let key), false): headers.add(name: "X-API-Key", value: key)
        case (.bearer(let token), true): headers.add(name: "Sec-WebSocket-Protocol", value: "authorization.bearer.base64, \(base64url(token))")
        case (.apiKey(let key), true): headers.add(name: "Sec-WebSocket-Protocol", value: "x-api-key.base64, \(base64url(key))")
        }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)

        let outcome: EventLoopFuture<Outcome> = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(TimeAmount(timeout))
            .connect(host: host, port: port) { channel in
                // The timer closes it if the dial is still running then (at once, when it fired already).
                if dialing.connected(channel) { channel.close(promise: nil) }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // Verifies the chain and the name during the handshake; a failure fails the dial.
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname))
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<Outcome>(maxFrameSize: maxFrameSize) { channel, _ in
                        channel.eventLoop.makeCompletedFuture { .upgraded(try Socket(wrappingChannelSynchronously: channel)) }
                    }
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration(
                        upgradeRequestHead: head,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture {
                                let capture = ResponseCapture(promise: channel.eventLoop.makePromise())
                                try channel.pipeline.syncOperations.addHandler(capture)
                                return .refused(capture.promise.futureResult)
                            }
                        }
                    )
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: .init(upgradeConfiguration: configuration))
                }
            }
        switch try await outcome.get() {
        case .upgraded(let socket):
            return socket
        case .refused(let response):
            let (status, body) = try await response.get()
            let message = (try? JSONParser.parse(body))?.objectValue?["error"]?.objectValue?["message"]?.stringValue ?? body
            throw RealtimeClientError.refused(status: status, message: message)
        }
    }

    static func base64url(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// Collects a refused upgrade's response (status and body).
private final class ResponseCapture: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<(Int, String)>
    private var status = 0
    private var body = ""
    private var done = false

    private func finish(_ result: Result<(Int, String), any Error>) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
    }

    init(promise: EventLoopPromise<(Int, String)>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = Int(head.status.code)
        case .body(let buffer): body += String(buffer: buffer)
        case .end:
            finish(.success((status, body)))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.success((status, body)))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }
}
