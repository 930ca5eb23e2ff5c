import BlobHubRealtimeProtocol
import Foundation
import NIOCore
import NIOWebSocket

/// A BlobHub Realtime client: connects with any of the four credential variants, initializes,
/// manages subscriptions and delivers events as an `AsyncSequence`. After a disconnect (network,
/// server restart, 4013 slow consumer, drain) it reconnects with jittered exponential backoff and
/// resubscribes every subscription with `since` = the last offset it delivered, so the caller sees
/// no gap and no duplicate. A refused credential (401) or a revoked one (4001) is not retried.
/// While it reconnects, requests fail `.closed` (retry them after `.reconnected`) until every subscription is back.
public actor RealtimeClient {
    /// Where and how to connect; `init(url:credential:)` reads it from a `ws://` or `wss://` URL.
    public struct Configuration: Sendable {
        /// Host name or IP address of the server (or its load balancer).
        public var host: String
        /// TCP port (80 for `ws://`, 443 for `wss://` URLs without one).
        public var port: Int
        /// The WebSocket path, `/v1`.
        public var path: String
        /// The credential of the first connection; `authenticate(token:)` replaces it for later reconnects.
        public var credential: ClientCredential
        /// Send the credential as a subprotocol (the browser variant) instead of a header.
        public var viaSubprotocol: Bool
        /// Sent in `status/initialize` (`client_info.name`): shows in the server's logs and admin stats.
        public var clientName: String
        /// Reconnect and resume after a dropped connection (never after 401/403 or close 4001).
        public var reconnect: Bool
        /// The first reconnect delay; it doubles per failed attempt (with jitter) up to `maxBackoff`.
        public var initialBackoff: Duration
        /// The longest reconnect delay.
        public var maxBackoff: Duration
        /// TLS settings (`wss://`); nil connects in plain text (`ws://`).
        public var tls: ClientTLS?
        /// How long a request (the connection's `initialize` included) waits for its answer before it fails
        /// `.timedOut`: a reconnect whose server stalls tries again rather than waiting forever.
        public var requestTimeout: Duration
        /// How long opening a connection (TCP, TLS, the WebSocket upgrade) may take before it fails `.timedOut`:
        /// a server that accepts and never answers the upgrade fails the dial, and a reconnect tries again.
        public var connectTimeout: Duration

        /// Every setting; the defaults suit a local server (`ws://127.0.0.1:8080/v1`).
        public init(
            host: String = "127.0.0.1", port: Int = 8080, path: String = "/v1", credential: ClientCredential,
            viaSubprotocol: Bool = false, clientName: String = "blobhub-realtime-swift", reconnect: Bool = true,
            initialBackoff: Duration = .milliseconds(200), maxBackoff: Duration = .seconds(10), tls: ClientTLS? = nil,
            requestTimeout: Duration = .seconds(10), connectTimeout: Duration = .seconds(10)
        ) {
            self.host = host
            self.port = port
            self.path = path
            self.credential = credential
            self.viaSubprotocol = viaSubprotocol
            self.clientName = clientName
            self.reconnect = reconnect
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
            self.tls = tls
            self.requestTimeout = requestTimeout
            self.connectTimeout = connectTimeout
        }

        /// `ws://host[:port]/path` or `wss://host[:port]/path` (e.g. `wss://realtime.blobhub.io/v1`); `wss`
        /// verifies the server against the system trust store unless `tls` names another CA.
        public init(url: String, credential: ClientCredential, tls: ClientTLS = ClientTLS()) throws {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
                  scheme == "ws" || scheme == "wss", let host = components.host, !host.isEmpty else {
                throw RealtimeClientError.invalidURL(url)
            }
            let secure = scheme == "wss"
            self.init(host: host, port: components.port ?? (secure ? 443 : 80),
                      path: components.path.isEmpty ? "/v1" : components.path, credential: credential, tls: secure ? tls : nil)
        }
    }

    private struct Tracked {
        var subscription: ClientSubscription
        var lastOffset: Int64?
    }

    /// The settings the client was made with.
    public let configuration: Configuration
    /// Everything the client has to tell: events in offset order per subscription, revocations, gaps,
    /// disconnects and reconnects. One consumer; it ends when the client closes or stops retrying.
    public nonisolated let notices: AsyncStream<ClientNotice>
    private let continuation: AsyncStream<ClientNotice>.Continuation
    private var credential: ClientCredential
    private var socket: WebSocketDialer.Socket?
    private var writer: NIOAsyncChannelOutboundWriter<WebSocketFrame>?
    /// The connection is open and, after a reconnect, its subscriptions are added again. Until then the caller's
    /// requests fail `.closed`: one sent between the reconnect's `initialize` and its re-subscriptions would see a
    /// connection without them (a `subscription/list` answering nothing, a `subscribe` racing its own re-add).
    private var restored = false
    private var tracked: [SubscriptionKey: Tracked] = [:]
    private var epoch: String?
    private var nextID = 1
    private var pending: [Int: CheckedContinuation<JSONValue, any Error>] = [:]
    private var readerTask: Task<Void, Never>?
    /// Counts connections: a reader reports only for the connection it reads, so the close of a connection
    /// already replaced (one a failed reconnect attempt opened) cannot tear down its successor.
    private var connection = 0
    /// One reconnect loop at a time: a connection that drops while the loop sets it up fails the loop's pending
    /// request, or (dropped right after the last answer) is found gone before the loop declares success; either
    /// way the loop tries again instead of a second loop starting beside it.
    private var reconnecting = false
    /// Events delivered so far: a reconnect attempt that delivered some (a replay cut short by another slow-consumer
    /// close) made progress, and the next attempt starts again from the shortest backoff.
    private var delivered = 0
    private var stopped = false
    private var tlsContext: WebSocketDialer.TLS?

    /// A client that connects when `connect()` is called.
    public init(_ configuration: Configuration) {
        self.configuration = configuration
        self.credential = configuration.credential
        (notices, continuation) = AsyncStream.makeStream(of: ClientNotice.self, bufferingPolicy: .unbounded)
    }

    /// Only the events, for callers that need nothing else.
    public nonisolated var events: AsyncCompactMapSequence<AsyncStream<ClientNotice>, ClientEvent> {
        notices.compactMap { if case .event(let event) = $0 { return event } else { return nil } }
    }

    /// Connects and initializes; throws `.refused` for a bad credential without retrying.
    public func connect() async throws {
        try await open()
        // A drop right after `initialize` already started the reconnect loop, which restores the subscriptions.
        if !reconnecting { restored = socket != nil }
    }

    /// Adds (or widens) a subscription; `since` replays retained events after that offset first.
    /// Its events arrive on `notices` (and `events`); after a reconnect it is added again from the
    /// last offset delivered. Throws `.rpc` (400 bad params, 403 no access) or `.closed`.
    @discardableResult
    public func subscribe(_ subscription: ClientSubscription, since: Int64? = nil) async throws -> SubscriptionStart {
        guard restored else { throw RealtimeClientError.closed(code: nil) }
        let key = subscription.key
        let previous = tracked[key]
        let resumeFrom = since ?? previous?.lastOffset
        tracked[key] = Tracked(subscription: subscription, lastOffset: resumeFrom ?? previous?.lastOffset)
        do {
            return SubscriptionStart(try await request(.subscriptionAdd, subscription.params(since: resumeFrom, epoch: epoch)))
        } catch let error as RealtimeClientError {
            // Refused: the server holds what it held before (nothing, or the subscription as it was), and so does
            // the client; a refused one kept here would be refused again on every reconnect.
            if case .rpc = error { tracked[key] = previous }
            throw error
        }
    }

    /// Ends a subscription (its whole type filter); no event of it is delivered after this returns.
    public func unsubscribe(_ subscription: ClientSubscription) async throws {
        guard restored else { throw RealtimeClientError.closed(code: nil) }
        tracked[subscription.key] = nil
        _ = try await request(.subscriptionRemove, subscription.params(since: nil, epoch: nil))
    }

    /// The connection's subscriptions as the server holds them (`types` nil = every type).
    public func listSubscriptions() async throws -> [ClientSubscription] {
        guard restored else { throw RealtimeClientError.closed(code: nil) }
        let result = try await request(.subscriptionList, nil)
        return (result.objectValue?["subscriptions"]?.arrayValue ?? []).compactMap(ClientSubscription.init(listed:))
    }

    /// Hands the connection a fresh access token (SPEC §5.3); also used for later reconnects.
    public func authenticate(token: String) async throws {
        credential = .bearer(token)
        guard restored else { throw RealtimeClientError.closed(code: nil) }
        _ = try await request(.authenticate, .object(JSONObject([("token", .string(token))])))
    }

    /// The last offset delivered for a subscription.
    public func lastOffset(of subscription: ClientSubscription) -> Int64? {
        tracked[subscription.key]?.lastOffset
    }

    /// Closes the connection and ends the notice stream.
    public func close() async {
        stopped = true
        readerTask?.cancel()
        try? await writer?.write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: ByteBuffer(bytes: [0x03, 0xE8])))
        try? await socket?.channel.close()
        failPending(RealtimeClientError.closed(code: 1000))
        continuation.finish()
    }

    // MARK: Connection

    private func open() async throws {
        let socket = try await WebSocketDialer.dial(
            host: configuration.host, port: configuration.port, path: configuration.path,
            credential: credential, viaSubprotocol: configuration.viaSubprotocol, tls: try tlsSetup(),
            timeout: configuration.connectTimeout
        )
        self.socket = socket
        connection += 1
        let current = connection
        let (inbound, outbound) = try await socket.channel.eventLoop.submit {
            // Wrapped channels hand out their streams once; keep them for this connection's lifetime.
            (socket.inbound, socket.outbound)
        }.get()
        writer = outbound
        readerTask = Task { await self.read(inbound, connection: current, channel: socket.channel) }
        let result = try await request(.initialize, .object(JSONObject([
            ("client_info", .object(JSONObject([("name", .string(configuration.clientName)), ("version", .string("1"))]))),
        ])))
        let newEpoch = result.objectValue?["epoch"]?.stringValue
        if let epoch, newEpoch != epoch {
            // Another log: the offsets we hold mean nothing there.
            for key in tracked.keys { tracked[key]?.lastOffset = nil }
        }
        epoch = newEpoch
    }

    /// The TLS context, made once per client (loading a trust store is not free) and reused by reconnects.
    private func tlsSetup() throws -> WebSocketDialer.TLS? {
        guard let settings = configuration.tls else { return nil }
        if let tlsContext { return tlsContext }
        let made = try WebSocketDialer.TLS(settings, host: configuration.host)
        tlsContext = made
        return made
    }

    private func read(_ inbound: NIOAsyncChannelInboundStream<WebSocketFrame>, connection current: Int, channel: any Channel) async {
        var closeCode: UInt16?
        var text = ByteBuffer()
        do {
            for try await frame in inbound {
                switch frame.opcode {
                case .text, .continuation:
                    var data = frame.unmaskedData
                    text.writeBuffer(&data)
                    if frame.fin {
                        // A replaced connection's frames (its subscriptions were never restored) are not delivered.
                        if current == connection { handle(text) }
                        text.clear()
                    }
                case .ping:
                    try? await writer?.write(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData))
                case .connectionClose:
                    var data = frame.unmaskedData
                    closeCode = data.readInteger(as: UInt16.self)
                    try? await writer?.write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: ByteBuffer(bytes: [0x03, 0xE8])))
                default:
                    break
                }
                if closeCode != nil { break }
            }
        } catch {}
        try? await channel.close()
        await disconnected(code: closeCode, connection: current)
    }

    private func disconnected(code: UInt16?, connection closed: Int) async {
        guard closed == connection else { return }
        socket = nil
        writer = nil
        restored = false
        failPending(RealtimeClientError.closed(code: code))
        guard !stopped, !reconnecting else { return }
        continuation.yield(.disconnected(code: code))
        // The credential expired or was revoked; retrying with it would loop.
        guard configuration.reconnect, code != CloseCode.authenticationExpired.rawValue else {
            continuation.finish()
            return
        }
        await reconnect()
    }

    private func reconnect() async {
        reconnecting = true
        defer { reconnecting = false }
        var attempt = 0
        var deliveredBefore = delivered
        while !stopped {
            if delivered != deliveredBefore {
                attempt = 0
                deliveredBefore = delivered
            }
            let base = min(configuration.maxBackoff, configuration.initialBackoff * (1 << min(attempt, 16)))
            let jittered = base * Double.random(in: 0.5...1.0)
            try? await Task.sleep(for: jittered)
            attempt += 1
            do {
                try await open()
                for entry in tracked.values {
                    let reply = try await request(.subscriptionAdd, entry.subscription.params(since: entry.lastOffset ?? nil, epoch: epoch))
                    if reply.objectValue?["recovered"]?.boolValue == false {
                        continuation.yield(.gap(entry.subscription))
                    }
                }
                // The reader may have seen this connection close (a close read together with the last answer)
                // before this loop resumed from that answer; its `disconnected` left the retry to this loop.
                guard socket != nil else { continue }
                restored = true
                continuation.yield(.reconnected)
                return
            } catch RealtimeClientError.refused(let status, _) where status == 401 || status == 403 {
                continuation.finish()
                return
            } catch {
                // The attempt's connection may still be open (a re-subscription refused): close it before the next.
                try? await socket?.channel.close()
                continue
            }
        }
    }

    // MARK: Messages

    private func request(_ method: RPCMethod, _ params: JSONValue?) async throws -> JSONValue {
        guard let writer else { throw RealtimeClientError.closed(code: nil) }
        let id = nextID
        nextID += 1
        let bytes = RPCEncoder.request(id: Int64(id), method: method, params: params)
        let timeout = configuration.requestTimeout
        let timer = Task {
            try await Task.sleep(for: timeout)
            self.fail(id, RealtimeClientError.timedOut)
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            pending[id] = continuation
            Task {
                do {
                    try await writer.write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(bytes: bytes)))
                } catch {
                    // The connection closed under the write: the caller sees `.closed`, as for any other request.
                    self.fail(id, RealtimeClientError.closed(code: nil))
                }
            }
        }
    }

    private func fail(_ id: Int, _ error: any Error) {
        pending.removeValue(forKey: id)?.resume(throwing: error)
    }

    private func failPending(_ error: any Error) {
        let waiting = pending
        pending = [:]
        for continuation in waiting.values { continuation.resume(throwing: error) }
    }

    private func handle(_ buffer: ByteBuffer) {
        guard let message = (try? buffer.withUnsafeReadableBytes { try JSONParser.parse($0) })?.objectValue else { return }
        if let id = message["id"]?.int64Value, let waiter = pending.removeValue(forKey: Int(id)) {
            if let error = message["error"]?.objectValue {
                let code = Int(error["code"]?.int64Value ?? 500)
                waiter.resume(throwing: RealtimeClientError.rpc(code: code, message: error["message"]?.stringValue ?? "", reason: error["data"]?.objectValue?["reason"]?.stringValue))
            } else {
                waiter.resume(returning: message["result"] ?? .null)
            }
            return
        }
        switch ServerNotification.decode(message) {
        case .event(let key, let offset, let event)?:
            guard let entry = tracked[key] else { return }
            // A replay can overlap what was already delivered before a reconnect: skip it.
            if let last = entry.lastOffset, offset <= last { return }
            tracked[key]?.lastOffset = offset
            delivered += 1
            continuation.yield(.event(ClientEvent(subscription: entry.subscription, offset: offset, event: event)))
        case .revoked(let key, let reason)?:
            guard let entry = tracked.removeValue(forKey: key) else { return }
            continuation.yield(.revoked(entry.subscription, reason: reason))
        case nil:
            return
        }
    }
}
