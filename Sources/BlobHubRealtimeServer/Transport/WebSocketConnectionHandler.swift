import BlobHubRealtimeAuth
import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import BlobHubRealtimeSession
import BlobHubRealtimeStore
import Foundation
import Logging
import NIOCore
import NIOWebSocket

/// Shared, immutable dependencies of every connection handler on a node.
struct ConnectionServices: Sendable {
    let configuration: ServerConfiguration
    let verifier: BearerTokenVerifier
    let connections: ConnectionRegistry
    let settings: ConnectionSession.Settings
    let logger: Logger
    let hub: Hub
    let registry: RegistryService
    let store: any RealtimeStore
    let metrics: ServerMetrics
}

/// One WebSocket connection after the upgrade: a single NIO handler on the connection's event loop.
///
/// Inbound: frames → `MessageAssembler` → JSON-RPC decode → `ConnectionSession`, one message at a time
/// (a message that needs async work pauses the ones behind it, so responses keep request order).
/// Outbound: responses are written as they come and flushed once per event-loop tick; events collect
/// in a `DeliveryBatch` until the shard's round writes it (anything else sent goes after it). When the
/// socket stops being writable frames wait in a bounded queue, and overflowing it closes with 4013.
final class WebSocketConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = ByteBuffer

    // The fields `deliver` reads come first: stored properties are laid out in declaration order, so
    // the fan-out touches one or two cache lines of each recipient instead of several.
    private var state = State.open
    /// Event frames waiting for the shard's next write to this connection (see `deliver`).
    private var batch = DeliveryBatch()
    /// Frames waiting for the socket to become writable again.
    private var outbox = CircularBuffer<ByteBuffer>()
    private var context: ChannelHandlerContext?
    /// Set while a `since` replay runs: live deliveries wait here so the connection sees offsets in order.
    private var replayBuffer: [(offset: Int64, key: SubscriptionKey, frame: ByteBuffer)]?
    /// The highest offset a `since` replay sent per subscription: a live delivery at or below it is a duplicate.
    /// (A replay reads the table, which can be ahead of the live fan-out: with PostgreSQL the tailer dispatches
    /// events some time after they commit.)
    private var replayedThrough: [SubscriptionKey: Int64] = [:]
    private let sendQueueLimit: Int

    private let services: ConnectionServices
    private var session: ConnectionSession
    private var assembler: MessageAssembler
    private var logger: Logger

    /// Text messages received while an earlier one is still being processed.
    private var inbox = CircularBuffer<ByteBuffer>()
    /// The message being processed when it had to wait for async work.
    private var suspended: SuspendedMessage?
    private var flushScheduled = false
    private var rateLimiter: RateLimiter
    private var shard: FanoutShard?

    private var initTimeout: Scheduled<Void>?
    private var pingTimer: Scheduled<Void>?
    private var expiryTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?
    private var lastInbound = NIODeadline.now()
    /// How the connection is counted if it ends while open (no close frame from us): see `tearDown`.
    private var drop = ConnectionDrop.connectionLost

    private enum State { case open, closing, closed }

    /// A JSON-RPC message whose entries are being answered one by one.
    private struct SuspendedMessage {
        var entries: [RPCEntry]
        var index: Int
        var responses: [[UInt8]]
        var isBatch: Bool
    }

    init(services: ConnectionServices, principal: Principal, connectionID: String, clientAddress: String?) {
        self.services = services
        self.sendQueueLimit = services.configuration.sendQueueLimit
        self.session = ConnectionSession(connectionID: connectionID, principal: principal, settings: services.settings)
        self.assembler = MessageAssembler(maxMessageBytes: services.configuration.maxMessageBytes)
        self.rateLimiter = RateLimiter(rate: services.configuration.rateLimit, burst: services.configuration.rateLimitBurst, now: NIODeadline.now().uptimeNanoseconds)
        var logger = services.logger
        logger[metadataKey: "connection_id"] = .string(connectionID)
        if let clientAddress { logger[metadataKey: "client_address"] = .string(clientAddress) }
        self.logger = logger
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        var apiKeyID: String?
        if case .apiKey(let key) = session.principal { apiKeyID = key.keyID }
        services.connections.register(
            ObjectIdentifier(self),
            .init(
                eventLoop: loop,
                apiKeyID: apiKeyID,
                close: { code in loop.execute { bound.value.close(code) } },
                revalidate: { registry in loop.execute { bound.value.revalidate(registry) } }
            )
        )
        shard = services.hub.shard(on: loop)
        let isolated = loop.assumeIsolated()
        initTimeout = isolated.scheduleTask(in: .init(services.configuration.initTimeout)) { [self] in
            if !session.isInitialized { close(.initializationTimeout) }
        }
        schedulePing()
        scheduleExpiry()
        logger.debug("connection opened")
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        tearDown()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        tearDown()
        context.fireChannelInactive()
    }

    private func tearDown() {
        guard state != .closed else { return }
        // Ended without a close frame of ours (closes with one were counted when it was sent).
        if state == .open { services.metrics.dropped(drop) }
        state = .closed
        for timer in [initTimeout, pingTimer, expiryTimer, closeTimer] { timer?.cancel() }
        inbox.removeAll()
        outbox.removeAll()
        _ = batch.take()
        suspended = nil
        replayBuffer = nil
        for key in session.subscriptions.keys { shard?.remove(key, self) }
        services.connections.unregister(ObjectIdentifier(self))
        logger.debug("connection closed")
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            close(.goingAway)
            return
        }
        // The peer ended its side of TCP without a close handshake (it crashed or went away): nothing
        // can arrive any more, so the connection is over. Without this (the channel allows half-closure)
        // it kept its socket and subscriptions until the ping timeout (found by StressTests).
        // While closing, the pending close frame and its timer finish the job.
        if case .inputClosed? = event as? ChannelEvent {
            if state == .open { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The frame decoder rejects overlong frames and malformed control frames.
        if let error = error as? NIOWebSocketError, error == .invalidFrameLength {
            close(.messageTooBig)
        } else if error is NIOWebSocketError {
            close(.protocolError)
        } else {
            logger.debug("connection error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        lastInbound = .now()
        switch assembler.receive(frame) {
        case .pending, .pong:
            return
        case .ping(let payload):
            guard state == .open else { return }
            send(ServerFrame.make(.pong, payload: payload.readableBytesView, allocator: context.channel.allocator))
        case .close:
            switch state {
            case .open:
                // Answer the client's close (after the events already handed to it), then hang up once the answer is out.
                _ = writePendingBatch()
                state = .closing
                services.metrics.closed(.normal)
                writeAndClose(ServerFrame.close(code: CloseCode.normal.rawValue, reason: CloseCode.normal.reason))
            case .closing:
                // The client acknowledged our close.
                context.close(promise: nil)
            case .closed:
                return
            }
        case .violation(let code):
            close(code)
        case .text(let message):
            guard state == .open else { return }
            inbox.append(message)
            processInbox()
        }
    }

    private func processInbox() {
        while state == .open, suspended == nil, let message = inbox.popFirst() {
            let inbound = message.withUnsafeReadableBytes { RPCDecoder.decode($0) }
            switch inbound {
            case .single(let entry):
                run(SuspendedMessage(entries: [entry], index: 0, responses: [], isBatch: false))
            case .batch(let entries):
                run(SuspendedMessage(entries: entries, index: 0, responses: [], isBatch: true))
            }
        }
    }

    /// Answers the entries of one message in order; stops (leaving `suspended` set) at async work.
    private func run(_ message: SuspendedMessage) {
        var message = message
        while message.index < message.entries.count {
            let entry = message.entries[message.index]
            message.index += 1
            switch rateLimiter.check(now: NIODeadline.now().uptimeNanoseconds) {
            case .allow:
                break
            case .reject:
                if let id = entry.answerID { message.responses.append(RPCEncoder.error(id: id, error: .tooManyRequests)) }
                continue
            case .flood:
                close(.requestFlood)
                return
            }
            switch entry {
            case .invalid(let id, let error):
                message.responses.append(RPCEncoder.error(id: id, error: error))
            case .request(let request):
                switch session.handle(request, registry: services.registry.snapshot) {
                case .done(let result):
                    if let response = Self.response(to: request, result) { message.responses.append(response) }
                case .verifyToken(let token):
                    suspended = message
                    verify(token, for: request)
                    return
                case .subscribed(let key, _, let since, let epoch):
                    // Also when merged: the type filter may have changed.
                    if let subscription = session.subscriptions[key] {
                        shard?.add(key, self, prefix: subscription.prefix, filtered: !subscription.acceptsEveryType)
                    }
                    if let since {
                        suspended = message
                        replay(key, since: since, epoch: epoch, for: request)
                        return
                    }
                    if let response = Self.response(to: request, .success(.object(JSONObject()))) { message.responses.append(response) }
                case .unsubscribed(let key):
                    shard?.remove(key, self)
                    replayedThrough[key] = nil
                    if let response = Self.response(to: request, .success(.object(JSONObject()))) { message.responses.append(response) }
                }
            }
        }
        suspended = nil
        finish(message)
    }

    private func finish(_ message: SuspendedMessage) {
        guard !message.responses.isEmpty, let allocator = context?.channel.allocator else { return }
        let payload = message.isBatch ? RPCEncoder.batch(message.responses) : message.responses[0]
        send(ServerFrame.text(payload, allocator: allocator))
    }

    private static func response(to request: RPCRequest, _ result: Result<JSONValue, RPCError>) -> [UInt8]? {
        guard let id = request.id else { return nil }  // notifications are never answered
        switch result {
        case .success(let value): return RPCEncoder.result(id: id, result: value)
        case .failure(let error): return RPCEncoder.error(id: id, error: error)
        }
    }

    private func verify(_ token: String, for request: RPCRequest) {
        guard let loop = context?.eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let verifier = services.verifier
        Task {
            let outcome: Result<UserPrincipal, AuthenticationFailure>
            do {
                outcome = .success(try await verifier.verify(token))
            } catch {
                outcome = .failure((error as? AuthenticationFailure) ?? .invalidCredentials)
            }
            loop.execute { bound.value.resume(request, with: outcome) }
        }
    }

    private func resume(_ request: RPCRequest, with outcome: Result<UserPrincipal, AuthenticationFailure>) {
        guard state == .open else { return }
        let result = session.finishAuthentication(outcome)
        if case .success = result { scheduleExpiry() }
        resume(request, result)
    }

    /// Answers a suspended request and carries on with the rest of its message and the inbox.
    private func resume(_ request: RPCRequest, _ result: Result<JSONValue, RPCError>) {
        guard state == .open, var message = suspended else { return }
        if let response = Self.response(to: request, result) { message.responses.append(response) }
        suspended = nil
        run(message)
        processInbox()
    }

    // MARK: Subscriptions and delivery

    /// Live delivery of one event for one of this connection's subscription keys (called by the shard).
    /// True when the event was handed to this connection (batched, queued, or held behind a running replay).
    /// The first frame of a batch puts the connection in the shard's `waiting` queue, which later calls
    /// `writeBatch`; until then further events join the same batch.
    func deliver(_ event: DispatchEvent, key: SubscriptionKey, entry: Recipient, frames: inout FrameCache, waiting: inout CircularBuffer<WebSocketConnectionHandler>) -> Bool {
        guard state == .open else { return false }
        if entry.filtered {
            guard let subscription = session.subscriptions[key], subscription.accepts(event.type) else { return false }
        }
        if !replayedThrough.isEmpty, let replayed = replayedThrough[key], event.offset <= replayed { return false }
        let frame = frames.frame(prefix: entry.prefix, event: event)
        if replayBuffer != nil {
            replayBuffer!.append((event.offset, key, frame))
            if replayBuffer!.count > sendQueueLimit { close(.slowConsumer) }
        } else if !batch.isEmpty {
            batch.append(frame, allocator: frames.allocator)
            if batch.frames + outbox.count > sendQueueLimit { close(.slowConsumer) }
        } else if outbox.isEmpty, let context, context.channel.isWritable {
            batch.append(frame, allocator: frames.allocator)
            waiting.append(self)
        } else {
            _ = write(frame)
        }
        return true
    }

    /// Writes and flushes the pending batch (the shard's turn for this connection).
    func writeBatch() {
        if writePendingBatch() { context?.flush() }
    }

    /// Writes the pending batch without flushing; true when something was written. Anything else this
    /// connection sends goes after it, so events and responses keep the order they were produced in.
    private func writePendingBatch() -> Bool {
        guard let buffer = batch.take(), state == .open, let context else { return false }
        context.write(wrapOutboundOut(buffer), promise: nil)
        return true
    }

    /// SPEC §7.4: reads retained events after `since` while live events for the connection are held
    /// back, then sends the add result, the replay and the held events merged in offset order.
    private func replay(_ key: SubscriptionKey, since: Int64, epoch: String?, for request: RPCRequest) {
        guard let loop = context?.eventLoop else { return }
        replayBuffer = []
        let bound = NIOLoopBound(self, eventLoop: loop)
        let store = services.store
        let maxReplay = services.configuration.maxReplayEvents
        Task {
            let outcome: Result<ReplayResult, any Error>
            do {
                outcome = .success(try await ReplayResult.load(store: store, key: key, since: since, epoch: epoch, maxReplay: maxReplay))
            } catch {
                outcome = .failure(error)
            }
            loop.execute { bound.value.finishReplay(key, outcome, for: request) }
        }
    }

    private func finishReplay(_ key: SubscriptionKey, _ outcome: Result<ReplayResult, any Error>, for request: RPCRequest) {
        guard state == .open, let held = replayBuffer, let allocator = context?.channel.allocator else { return }
        replayBuffer = nil
        switch outcome {
        case .failure(let error):
            logger.error("replay failed", metadata: ["error": "\(error)"])
            resume(request, .failure(.unexpectedFailure))
            for item in held { send(item.frame) }
        case .success(let result):
            var merged = held
            if let subscription = session.subscriptions[key] {
                let seen = Set(held.lazy.filter { $0.key == key }.map(\.offset))
                for event in result.events where subscription.accepts(event.type) && !seen.contains(event.offset) {
                    let frame = DeliveryFrame.make(prefix: subscription.prefix, offset: event.offset, json: event.json, allocator: allocator)
                    merged.append((event.offset, key, frame))
                }
                let replayed = merged.count - held.count
                if replayed > 0 { services.metrics.replayed(replayed) }
            }
            merged.sort { $0.offset < $1.offset }
            if let last = result.events.last?.offset {
                replayedThrough[key] = max(replayedThrough[key] ?? 0, last)
            }
            guard var message = suspended else { return }
            suspended = nil
            if let id = request.id {
                let response = RPCEncoder.result(id: id, result: result.json)
                // A lone request's result precedes its replayed events; in a batch it joins the batch reply.
                if message.isBatch { message.responses.append(response) } else { send(ServerFrame.text(response, allocator: allocator)) }
            }
            for item in merged { send(item.frame) }
            run(message)
            processInbox()
        }
    }

    /// Ends subscriptions the principal lost access to, telling the client (SPEC §6.6).
    func revalidate(_ registry: RegistrySnapshot) {
        guard state == .open, let allocator = context?.channel.allocator else { return }
        for subscription in session.revalidate(registry: registry) {
            shard?.remove(subscription.key, self)
            let params = JSONValue.object(JSONObject(subscription.identityFields + [("reason", .string("access revoked"))]))
            send(ServerFrame.text(RPCEncoder.notification(method: RPCNotificationMethod.subscriptionRevoked.rawValue, params: params), allocator: allocator))
        }
    }

    // MARK: Outbound

    /// Queues one complete frame for the client, flushed at the end of this loop tick.
    func send(_ frame: ByteBuffer) {
        if write(frame) { scheduleFlush() }
    }

    /// Writes the frame, or queues it while the socket is not writable. Returns true when it was
    /// written and still needs a flush.
    private func write(_ frame: ByteBuffer) -> Bool {
        guard state == .open, let context else { return false }
        _ = writePendingBatch()
        if outbox.isEmpty && context.channel.isWritable {
            context.write(wrapOutboundOut(frame), promise: nil)
            return true
        }
        outbox.append(frame)
        if outbox.count > sendQueueLimit { close(.slowConsumer) }
        return false
    }

    private func scheduleFlush() {
        guard !flushScheduled, let context else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            flushScheduled = false
            self.context?.flush()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        while context.channel.isWritable, let frame = outbox.popFirst() {
            context.write(wrapOutboundOut(frame), promise: nil)
        }
        context.flush()
        context.fireChannelWritabilityChanged()
    }

    // MARK: Closing

    /// Starts the closing handshake with `code`: our close frame goes out (behind anything already
    /// written), input is then ignored until the client answers or a short grace period ends.
    func close(_ code: CloseCode) {
        guard state == .open, let context else { return }
        _ = writePendingBatch()  // events already handed to the connection precede the close frame
        state = .closing
        services.metrics.closed(code)
        logger.debug("closing", metadata: ["code": "\(code.rawValue)"])
        inbox.removeAll()
        outbox.removeAll()
        suspended = nil
        for timer in [initTimeout, pingTimer, expiryTimer] { timer?.cancel() }
        context.writeAndFlush(wrapOutboundOut(ServerFrame.close(code: code.rawValue, reason: code.reason, allocator: context.channel.allocator)), promise: nil)
        closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { [self] in
            self.context?.close(promise: nil)
        }
    }

    private func writeAndClose(_ frame: ByteBuffer) {
        guard let context else { return }
        for timer in [initTimeout, pingTimer, expiryTimer] { timer?.cancel() }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: Timers

    /// Pings every `--ping-interval`; hangs up when nothing arrived within `--ping-timeout` of a ping.
    private func schedulePing() {
        guard let context else { return }
        let interval = TimeAmount(services.configuration.pingInterval)
        pingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: interval) { [self] in
            guard state == .open, let context = self.context else { return }
            let sentAt = NIODeadline.now()
            send(ServerFrame.make(.ping, payload: EmptyCollection<UInt8>(), allocator: context.channel.allocator))
            pingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .init(services.configuration.pingTimeout)) { [self] in
                guard state == .open else { return }
                if lastInbound < sentAt {
                    logger.debug("ping timeout")
                    drop = .pingTimeout
                    self.context?.close(promise: nil)
                } else {
                    schedulePing()
                }
            }
        }
    }

    /// Closes with 4001 when the credential expires (plus leeway), unless it was refreshed in band.
    private func scheduleExpiry() {
        expiryTimer?.cancel()
        expiryTimer = nil
        guard let context, let expiry = session.credentialExpiry else { return }
        // The JWT leeway applies to tokens only; an API key expires when it says.
        var leeway = 0.0
        if case .user = session.principal { leeway = services.configuration.jwtLeeway.seconds }
        let deadline = expiry.addingTimeInterval(leeway)
        let delay = max(0, deadline.timeIntervalSinceNow)
        expiryTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(delay * 1e9))) { [self] in
            close(.authenticationExpired)
        }
    }
}

extension RPCEntry {
    /// The id a rejection is answered with; nil for notifications (never answered).
    var answerID: RPCRequestID?? {
        switch self {
        case .request(let request): return request.id.map { .some($0) }
        case .invalid(let id, _): return .some(id)
        }
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
