import BlobHubRealtimeAuth
import BlobHubRealtimeServices
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The `/v1` WebSocket upgrader: NIO's typed HTTP upgrade protocol, with our own pipeline.
///
/// NIO's `NIOTypedWebSocketServerUpgrader` installs `WebSocketFrameEncoder`, which takes frames and
/// re-encodes (and for shared buffers, copies) every outbound message. We install only the frame
/// decoder and write pre-encoded frames (`ServerFrame`) directly, so one event's bytes are shared
/// by all recipients.
final class WebSocketUpgrader: NIOTypedHTTPServerProtocolUpgrader, Sendable {
    typealias UpgradeResult = NegotiatedChannel

    let supportedProtocol = "websocket"
    let requiredUpgradeHeaders: [String] = []

    private let gate: UpgradeGate
    private let services: ConnectionServices
    /// Where the decision is kept between the 101 response and the pipeline change (same event loop).
    private let decision: NIOLoopBoundBox<Result<AuthenticatedClient, UpgradeRejection>?>
    /// The TCP connection's id, kept by the WebSocket so every log line of the connection carries it.
    private let connectionID: String

    init(gate: UpgradeGate, services: ConnectionServices, decision: NIOLoopBoundBox<Result<AuthenticatedClient, UpgradeRejection>?>, connectionID: String) {
        self.gate = gate
        self.services = services
        self.decision = decision
        self.connectionID = connectionID
    }

    struct Refused: Error {}

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        let decision = self.decision
        if let rejection = gate.refuseAtOnce(upgradeRequest) {
            decision.value = .failure(rejection)
            return channel.eventLoop.makeFailedFuture(Refused())
        }
        let promise = channel.eventLoop.makePromise(of: Result<AuthenticatedClient, UpgradeRejection>.self)
        let gate = self.gate
        promise.completeWithTask { await gate.decide(upgradeRequest) }
        return promise.futureResult.flatMapThrowing { result in
            decision.value = result
            guard case .success(let client) = result else { throw Refused() }
            var headers = initialResponseHeaders
            headers.add(name: "Sec-WebSocket-Accept", value: Self.acceptValue(for: upgradeRequest.headers.first(name: "Sec-WebSocket-Key") ?? ""))
            if let marker = client.selectedSubprotocol {
                headers.add(name: "Sec-WebSocket-Protocol", value: marker)
            }
            return headers
        }
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<NegotiatedChannel> {
        channel.eventLoop.makeCompletedFuture {
            guard case .success(let client) = decision.value else { throw Refused() }
            decision.value = nil
            let maxFrame = max(services.configuration.maxMessageBytes, 125)
            let clientAddress = services.configuration.trustedProxies.clientAddress(
                peer: channel.remoteAddress?.ipAddress,
                forwardedFor: upgradeRequest.headers["X-Forwarded-For"]
            )
            let handler = WebSocketConnectionHandler(services: services, principal: client.principal, connectionID: connectionID, clientAddress: clientAddress)
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxFrame)))
            try channel.pipeline.syncOperations.addHandler(handler)
            return .webSocket
        }
    }

    /// RFC 6455 §4.2.2: base64(SHA-1(key + GUID)).
    static func acceptValue(for key: String) -> String {
        let digest = Insecure.SHA1.hash(data: Data((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))
        return Data(digest).base64EncodedString()
    }
}
