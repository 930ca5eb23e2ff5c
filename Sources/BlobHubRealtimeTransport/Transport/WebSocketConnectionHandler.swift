import BlobHubRealtimeAuth
import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import BlobHubRealtimeServices
import BlobHubRealtimeSession
import BlobHubRealtimeStore
import Foundation
import Logging
import NIOCore
import NIOWebSocket

/// Shared, immutable dependencies of every connection handler on a node.
package struct ConnectionServices: Sendable {
    let configuration: ServerConfiguration
    let verifier: BearerTokenVerifier
    let connections: ConnectionRegistry
    let settings: ConnectionSession.Settings
    let logger: Logger
    let hub: Hub
    let registry: RegistryService
    let store: any RealtimeStore
    let metrics: ServerMetrics

    package init(configuration: ServerConfiguration, verifier: BearerTokenVerifier, connections: ConnectionRegistry,
                 settings: ConnectionSession.Settings, logger: Logger, hub: Hub, registry: RegistryService, store: any RealtimeStore,
                 metrics: ServerMetrics) {
        self.configuration = configuration
        self.verifier = verifier
        self.connections = connections
        self.settings = settings
        self.logger = logger
        self.hub = hub
        self.registry = registry
        self.store = store
        self.metrics = metrics
    }
}

/// One WebSocket connection after the upgrade: a single NIO handler on the connection's event loop, the thin
/// transport of a ``ConnectionStateMachine``.
///
/// The machine decides (requests, rate limit, authentication, replays, which live events to send, closing); this
/// handler carries out its actions and owns what is I/O: the frames in (`MessageAssembler`), the writes
/// out, the timers, and two output buffers. Responses are written as they come and flushed once per event-loop
/// tick; events collect in a `DeliveryBatch` until the shard's round writes it (anything else sent goes after
/// it). When the socket stops being writable frames wait in a bounded queue, and overflowing it closes with 4013.
final class WebSocketConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = ByteBuffer
    typealias Machine = ConnectionStateMachine<ByteBuffer>

    // The fields `deliver` reads come first (the machine's own hot fields lead it): stored properties are laid
    // out in declaration order, so the fan-out touches one or two cache lines of each recipient instead of several.
    /// Event frames waiting for the shard's next write to this connection (see `deliver`).
    private var batch = DeliveryBatch()
    /// Frames waiting for the socket to become writable again.
    private var outbox = CircularBuffer<ByteBuffer>()
    private var context: ChannelHandlerContext?
    private let sendQueueLimit: Int
    private var machine: Machine

    private let services: ConnectionServices
    private var assembler: MessageAssembler
    private var logger: Logger

    private var flushScheduled = false
    private var shard: FanoutShard?

    private var initTimeout: Scheduled<Void>?
    private var pingTimer: Scheduled<Void>?
    private var expiryTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?
    /// How the connection is counted if it ends while open (no close frame from us): see `tearDown`.
    private var drop = ConnectionDrop.connectionLost

    init(services: ConnectionServices, principal: Principal, connectionID: String, clientAddress: String?) {
        self.services = services
        self.sendQueueLimit = services.configuration.sendQueueLimit
        let configuration = services.configuration
        machine = Machine(
            session: ConnectionSession(connectionID: connectionID, principal: principal, settings: services.settings),
            rate: configuration.rateLimit, burst: configuration.rateLimitBurst, holdLimit: configuration.sendQueueLimit,
            now: NIODeadline.now().uptimeNanoseconds)
        self.assembler = MessageAssembler(maxMessageBytes: configuration.maxMessageBytes)
        var logger = services.logger
        logger[metadataKey: "connection_id"] = .string(connectionID)
        if let clientAddress { logger[metadataKey: "client_address"] = .string(clientAddress) }
        self.logger = logger
    }

    private var isOpen: Bool { machine.state == .open }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        var apiKeyID: String?
        if case .apiKey(let key) = machine.session.principal { apiKeyID = key.keyID }
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
            if !machine.isInitialized { close(.initializationTimeout) }
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
        guard let (wasOpen, subscriptions) = machine.closed() else { return }
        // Ended without a close frame of ours (closes with one were counted when it was sent).
        if wasOpen { services.metrics.dropped(drop) }
        for timer in [initTimeout, pingTimer, expiryTimer, closeTimer] { timer?.cancel() }
        outbox.removeAll()
        _ = batch.take()
        for key in subscriptions { shard?.remove(key, self) }
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
            if isOpen { context.close(promise: nil) }
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
        let now = NIODeadline.now().uptimeNanoseconds
        machine.inboundArrived(at: now)
        switch assembler.receive(frame) {
        case .pending, .pong:
            return
        case .ping(let payload):
            guard isOpen else { return }
            send(ServerFrame.make(.pong, payload: payload.readableBytesView, allocator: context.channel.allocator))
        case .close:
            switch machine.clientClosed() {
            case .answer:
                // Answer the client's close (after the events already handed to it), then hang up once the answer is out.
                _ = writePendingBatch(force: true)
                services.metrics.closed(.normal)
                writeAndClose(ServerFrame.close(code: CloseCode.normal.rawValue, reason: CloseCode.normal.reason))
            case .hangUp:
                context.close(promise: nil)
            case .ignore:
                return
            }
        case .violation(let code):
            close(code)
        case .text(let message):
            guard isOpen else { return }
            perform(machine.received(Array(message.readableBytesView), registry: services.registry.snapshot, now: now))
        }
    }

    /// Carries out the machine's actions, in order.
    private func perform(_ actions: [Machine.Action]) {
        for action in actions {
            switch action {
            case .send(let payload):
                guard let allocator = context?.channel.allocator else { return }
                send(ServerFrame.text(payload, allocator: allocator))
            case .sendFrame(let frame):
                send(frame)
            case .sendReplayed(let prefix, let offset, let json):
                guard let allocator = context?.channel.allocator else { return }
                services.metrics.replayed(1)
                send(DeliveryFrame.make(prefix: prefix, offset: offset, json: json, allocator: allocator))
            case .verifyToken(let token):
                verify(token)
            case .loadReplay(let key, let since, let epoch):
                replay(key, since: since, epoch: epoch)
            case .subscribe(let key, let prefix, let filtered):
                shard?.add(key, self, prefix: prefix, filtered: filtered)
            case .unsubscribe(let key):
                shard?.remove(key, self)
            case .credentialChanged:
                scheduleExpiry()
            case .close(let code):
                sendClose(code)
            }
        }
    }

    private func verify(_ token: String) {
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
            loop.execute { bound.value.authenticationFinished(outcome) }
        }
    }

    private func authenticationFinished(_ outcome: Result<UserPrincipal, AuthenticationFailure>) {
        perform(machine.authenticationFinished(outcome, registry: services.registry.snapshot, now: NIODeadline.now().uptimeNanoseconds))
    }

    /// SPEC §7.4: reads retained events after `since`; meanwhile the machine holds live events for the connection.
    private func replay(_ key: SubscriptionKey, since: Int64, epoch: String?) {
        guard let loop = context?.eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let store = services.store
        let maxReplay = services.configuration.maxReplayEvents
        Task {
            let outcome: Result<Replay, any Error>
            do {
                outcome = .success(try await ReplayResult.load(store: store, key: key, since: since, epoch: epoch, maxReplay: maxReplay).replay)
            } catch {
                outcome = .failure(error)
            }
            loop.execute { bound.value.replayFinished(outcome) }
        }
    }

    private func replayFinished(_ outcome: Result<Replay, any Error>) {
        if case .failure(let error) = outcome, isOpen { logger.error("replay failed", metadata: ["error": "\(error)"]) }
        perform(machine.replayFinished(outcome, registry: services.registry.snapshot, now: NIODeadline.now().uptimeNanoseconds))
    }

    /// The registry changed (SPEC §6.6).
    func revalidate(_ registry: RegistrySnapshot) {
        perform(machine.revalidate(registry))
    }

    // MARK: Delivery

    /// What ``deliver(_:key:entry:frames:)`` did with a live event.
    enum Delivery {
        /// Not for this connection.
        case refused
        /// Taken: joined the pending batch, queued, or held behind a running replay.
        case taken
        /// Taken as the first frame of a new batch: the shard must schedule this connection's write
        /// (``writeBatch()``); until then further events join the same batch.
        case takenNeedsWrite
    }

    /// Live delivery of one event for one of this connection's subscription keys (called by the shard).
    func deliver(_ event: DispatchEvent, key: SubscriptionKey, entry: Recipient, frames: inout FrameCache) -> Delivery {
        switch machine.admission(of: key, type: event.type, offset: event.offset, filtered: entry.filtered) {
        case .refuse:
            return .refused
        case .hold:
            if !machine.hold(frames.frame(prefix: entry.prefix, event: event), offset: event.offset, key: key) { close(.slowConsumer) }
            return .taken
        case .deliver:
            let frame = frames.frame(prefix: entry.prefix, event: event)
            if !batch.isEmpty {
                batch.append(frame, allocator: frames.allocator)
                if batch.frames + outbox.count > sendQueueLimit { close(.slowConsumer) }
                return .taken
            }
            if outbox.isEmpty, let context, context.channel.isWritable {
                batch.append(frame, allocator: frames.allocator)
                return .takenNeedsWrite
            }
            _ = write(frame)
            return .taken
        }
    }

    /// Writes and flushes the pending batch (the shard's turn for this connection).
    func writeBatch() {
        if writePendingBatch() { context?.flush() }
    }

    /// Writes the pending batch without flushing; true when something was written. Anything else this
    /// connection sends goes after it, so events and responses keep the order they were produced in.
    /// `force`: also while closing (the batch precedes our close frame).
    private func writePendingBatch(force: Bool = false) -> Bool {
        guard let buffer = batch.take(), isOpen || force, let context else { return false }
        context.write(wrapOutboundOut(buffer), promise: nil)
        return true
    }

    // MARK: Outbound

    /// Queues one complete frame for the client, flushed at the end of this loop tick.
    func send(_ frame: ByteBuffer) {
        if write(frame) { scheduleFlush() }
    }

    /// Writes the frame, or queues it while the socket is not writable. Returns true when it was
    /// written and still needs a flush.
    private func write(_ frame: ByteBuffer) -> Bool {
        guard isOpen, let context else { return false }
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

    /// Closes with `code` unless the connection is closing already (see ``sendClose(_:)``).
    func close(_ code: CloseCode) {
        guard machine.beginClosing() else { return }
        sendClose(code)
    }

    /// The closing handshake the machine started: our close frame goes out (behind the events already
    /// handed to the connection), input is then ignored until the client answers or a short grace period ends.
    private func sendClose(_ code: CloseCode) {
        guard let context else { return }
        _ = writePendingBatch(force: true)
        services.metrics.closed(code)
        logger.debug("closing", metadata: ["code": "\(code.rawValue)"])
        outbox.removeAll()
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
            guard isOpen, let context = self.context else { return }
            let sentAt = NIODeadline.now().uptimeNanoseconds
            send(ServerFrame.make(.ping, payload: EmptyCollection<UInt8>(), allocator: context.channel.allocator))
            pingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .init(services.configuration.pingTimeout)) { [self] in
                guard isOpen else { return }
                if machine.isSilent(since: sentAt) {
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
        guard let context, let deadline = machine.credentialDeadline(leeway: services.configuration.jwtLeeway.timeInterval) else { return }
        let delay = max(0, deadline.timeIntervalSinceNow)
        expiryTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(delay * 1e9))) { [self] in
            close(.authenticationExpired)
        }
    }
}
