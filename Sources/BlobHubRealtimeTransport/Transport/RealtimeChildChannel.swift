import BlobHubRealtimeAuth
import BlobHubRealtimeServices
import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOSSL

/// What became of a new TCP connection after its first request.
enum NegotiatedChannel: Sendable {
    /// Upgraded: the connection now belongs to its `WebSocketConnectionHandler`.
    case webSocket
    /// A plain HTTP connection for Hummingbird's router.
    case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    /// An upgrade request that was refused: answered and closed on the event loop already.
    case refused
}

/// Hummingbird child channel that serves HTTP through the router and upgrades `/v1` to a WebSocket
/// handled by one NIO handler per connection (no task per connection once upgraded).
package struct RealtimeChildChannel: ServerChildChannel, HTTPChannelHandler {
    package struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NegotiatedChannel>
        package let channel: any Channel
        let connectionID: String
    }

    package let responder: HTTPChannelHandler.Responder
    let gate: UpgradeGate
    let services: ConnectionServices
    /// `POST /v1/events` on plain HTTP connections, served on the loop by `PublishRequestHandler`.
    let publishing: Publishing
    let idleTimeout: Duration?
    /// `--tls-cert`/`--tls-key`: TLS is the first handler of every connection (https and wss).
    let tls: NIOSSLContext?

    package init(responder: @escaping HTTPChannelHandler.Responder, gate: UpgradeGate, services: ConnectionServices, publishing: Publishing, idleTimeout: Duration?, tls: NIOSSLContext?) {
        self.responder = responder
        self.gate = gate
        self.services = services
        self.publishing = publishing
        self.idleTimeout = idleTimeout
        self.tls = tls
    }

    package struct Publishing: Sendable {
        let endpoint: PublishEndpoint
        let dates: HTTPDateCache

        package init(endpoint: PublishEndpoint, dates: HTTPDateCache) {
            self.endpoint = endpoint
            self.dates = dates
        }
    }

    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            if let size = services.configuration.socketSendBufferBytes {
                try channel.syncOptions?.setOption(.socketOption(.so_sndbuf), value: SocketOptionValue(size))
            }
            if let tls {
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
            }
            let connectionID = UUID().uuidString.lowercased()
            let decision = NIOLoopBoundBox<Result<AuthenticatedClient, UpgradeRejection>?>(nil, eventLoop: channel.eventLoop)
            let upgrader = WebSocketUpgrader(gate: gate, services: services, decision: decision, connectionID: connectionID)
            let idleTimeout = self.idleTimeout
            let secure = tls != nil
            let publishing = self.publishing
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration<NegotiatedChannel>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if case .failure(let rejection) = decision.value {
                            // Never the request's headers in logs: they may hold the credential that was refused.
                            logger.debug("upgrade refused", metadata: ["connection_id": "\(connectionID)", "status": "\(rejection.status.code)", "reason": "\(rejection.message)"])
                            HTTPErrorAnswer.send(status: rejection.status, message: rejection.message,
                                                 extraHeaders: rejection.extraHeaders, on: channel)
                            return .refused
                        }
                        // Ahead of the HTTPTypes conversion: publishes skip it and the router's handlers.
                        try channel.pipeline.syncOperations.addHandler(
                            PublishRequestHandler(endpoint: publishing.endpoint, dates: publishing.dates)
                        )
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: secure))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        return .http(asyncChannel)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgradeConfiguration)
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let metrics = services.metrics
            let guardHandler = PendingHandshakeHandler(timeout: .init(services.configuration.handshakeTimeout)) { metrics.handshake(.timeout) }
            try channel.pipeline.syncOperations.addHandler(guardHandler, name: "handshake-guard")
            let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            try channel.pipeline.syncOperations.addHandler(RequestHeadErrorHandler(), name: "request-head-errors")
            // Once the first request is understood, the connection belongs to HTTP or WebSocket handling.
            // (Removed by name: the handlers themselves are not Sendable and this callback is.)
            negotiated.whenComplete { _ in
                channel.pipeline.removeHandler(name: "handshake-guard", promise: nil)
                channel.pipeline.removeHandler(name: "request-head-errors", promise: nil)
            }
            return Value(negotiated: negotiated, channel: channel, connectionID: connectionID)
        }
    }

    /// NIO takes an upgrade only as a connection's first request, so one that comes later on a keep-alive
    /// connection reaches the router (answered 426). Node's `fetch` and `WebSocket` share one connection
    /// pool per origin, so that is what a Node program that publishes and then subscribes sends: closing the
    /// connection after the answer makes the client's retry open a fresh connection, which upgrades.
    package static func closingAfterLateUpgrades(_ responder: @escaping HTTPChannelHandler.Responder) -> HTTPChannelHandler.Responder {
        { request, writer, channel in
            try await responder(request, writer, channel)
            if request.headers[.upgrade]?.lowercased() == "websocket" {
                // after the answer's bytes went out (the write above is on the loop ahead of this task)
                channel.eventLoop.scheduleTask(in: .milliseconds(20)) { channel.close(promise: nil) }
            }
        }
    }

    package func handle(value: Value, logger: Logger) async {
        var logger = logger
        logger[metadataKey: "connection_id"] = .string(value.connectionID)
        do {
            switch try await value.negotiated.get() {
            case .webSocket, .refused:
                return
            case .http(let asyncChannel):
                await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
                    await handleHTTP(asyncChannel: asyncChannel, logger: logger)
                }
            }
        } catch {
            logger.debug("connection setup failed", metadata: ["error": "\(error)"])
            try? await value.channel.close()
        }
    }
}
