import BlobHubRealtimeIdentity
import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import Foundation

/// Everything one WebSocket connection decides, as one explicit state machine: its lifecycle (open →
/// closing → closed), the requests waiting behind one that needs async work (a token to verify, a replay to
/// read), the rate limit, the `since` replay with the live events held meanwhile, and the protocol state
/// (``ConnectionSession``). Pure: no I/O, no clock, no timers. The transport feeds it what happened and
/// carries out the ``Action``s it returns, in order; `WebSocketConnectionHandler` is that transport on NIO.
///
/// `Frame` is the transport's encoded event frame: held as it is while a replay runs, never looked into.
public struct ConnectionStateMachine<Frame: Sendable>: Sendable {
    public enum State: Sendable, Equatable {
        /// Requests are processed and events delivered.
        case open
        /// A close frame went out (or was answered): nothing more is processed.
        case closing
        /// The connection is gone.
        case closed
    }

    /// What the transport must do, in order.
    public enum Action: Sendable {
        /// Send this text message (a response, a batch of responses, or a notification).
        case send([UInt8])
        /// Send an event frame that was held while a replay ran.
        case sendFrame(Frame)
        /// Send a replayed event, framed like a live one: `prefix`, the offset, `,"event":`, the JSON, `}}`.
        case sendReplayed(prefix: [UInt8], offset: Int64, json: [UInt8])
        /// Verify this token off the connection's loop, then call ``authenticationFinished(_:registry:now:)``.
        case verifyToken(String)
        /// Read the log for `key` after `since`, then call ``replayFinished(_:registry:now:)``.
        case loadReplay(SubscriptionKey, since: Int64, epoch: String?)
        /// Index the subscription in the fan-out, or update its entry (a merged type filter may have changed).
        case subscribe(SubscriptionKey, prefix: [UInt8], filtered: Bool)
        /// Take the subscription out of the fan-out.
        case unsubscribe(SubscriptionKey)
        /// The credential was refreshed in band: re-arm the expiry timer (``credentialDeadline(leeway:)``).
        case credentialChanged
        /// Start the closing handshake with this code (the machine is `closing` already).
        case close(CloseCode)
    }

    /// What a live event means for this connection (``admission(of:type:offset:filtered:)``).
    public enum Admission: Sendable, Equatable {
        /// Not for this connection (closed, filtered out, or already sent by a replay).
        case refuse
        /// A replay is running: ``hold(_:offset:key:)`` it; it goes out after the replay, in offset order.
        case hold
        /// Send it.
        case deliver
    }

    /// What the client's close frame calls for (``clientClosed()``).
    public enum ClientCloseResponse: Sendable, Equatable {
        /// Answer it with a normal close and hang up once the answer is out.
        case answer
        /// It answers our close: hang up.
        case hangUp
        /// The connection is gone already.
        case ignore
    }

    /// A message whose entries are being answered one by one, stopped at an entry that waits for async work.
    private struct Message: Sendable {
        var entries: [RPCEntry]
        var index = 0
        var responses: [[UInt8]] = []
        var isBatch: Bool
    }

    private enum Waiting: Sendable {
        case token(RPCRequest)
        case replay(RPCRequest, SubscriptionKey)
    }

    /// A live event held while a replay runs.
    @usableFromInline
    struct Held: Sendable {
        var offset: Int64
        var key: SubscriptionKey
        var frame: Frame
    }

    // What ``admission(of:type:offset:filtered:)`` reads for every live event comes first: stored properties are
    // laid out in declaration order, so the fan-out touches one cache line of each recipient's machine.
    @usableFromInline private(set) var _state = State.open
    @inlinable public var state: State { _state }
    /// Set while a `since` replay runs: live events for the connection wait here, so it sees offsets in order.
    @usableFromInline private(set) var held: [Held]?
    /// The highest offset a `since` replay sent per subscription: a live event at or below it is a duplicate.
    /// (A replay reads the log, which can be ahead of the live fan-out: with PostgreSQL the tailer hands events
    /// over some time after they commit.)
    @usableFromInline private(set) var replayedThrough: [SubscriptionKey: Int64] = [:]
    @usableFromInline private(set) var _session: ConnectionSession
    /// The protocol state: principal, initialization, subscriptions.
    public var session: ConnectionSession { _session }
    private var limiter: RateLimiter
    /// Messages received while an earlier one waits for async work.
    private var inbox: [[UInt8]] = []
    private var inboxHead = 0
    private var suspended: (message: Message, waiting: Waiting)?
    /// Most events held during a replay before the connection counts as a slow consumer.
    private let holdLimit: Int
    private var lastInbound: UInt64

    /// - Parameters:
    ///   - rate: requests per second; `burst` the bucket size (``RateLimiter``).
    ///   - holdLimit: most live events held while a replay runs (the send queue limit).
    ///   - now: monotonic nanoseconds, the clock of every `now` given later.
    public init(session: ConnectionSession, rate: Int, burst: Int, holdLimit: Int, now: UInt64) {
        _session = session
        limiter = RateLimiter(rate: rate, burst: burst, now: now)
        self.holdLimit = holdLimit
        lastInbound = now
    }

    // MARK: Requests

    /// A complete text message arrived. `registry` is the current registry (access checks).
    public mutating func received(_ message: [UInt8], registry: RegistrySnapshot, now: UInt64) -> [Action] {
        guard _state == .open else { return [] }
        inbox.append(message)
        var actions: [Action] = []
        processInbox(&actions, registry: registry, now: now)
        return actions
    }

    /// The token of a `status/authenticate` was verified (or refused).
    public mutating func authenticationFinished(_ outcome: Result<UserPrincipal, AuthenticationFailure>, registry: RegistrySnapshot,
                                                now: UInt64) -> [Action] {
        guard _state == .open, case .token(let request)? = suspended?.waiting else { return [] }
        var actions: [Action] = []
        let result = _session.finishAuthentication(outcome)
        if case .success = result { actions.append(.credentialChanged) }
        resume(request, result, &actions, registry: registry, now: now)
        return actions
    }

    /// The replay asked for by ``Action/loadReplay(_:since:epoch:)`` was read (or failed). The add's result goes
    /// first (in a batch: into the batch's answer), then the replayed and the held events merged in offset order.
    public mutating func replayFinished(_ outcome: Result<Replay, any Error>, registry: RegistrySnapshot, now: UInt64) -> [Action] {
        guard _state == .open, let held, case .replay(let request, let key)? = suspended?.waiting else { return [] }
        self.held = nil
        var actions: [Action] = []
        switch outcome {
        case .failure:
            resume(request, .failure(.unexpectedFailure), &actions, registry: registry, now: now)
            for item in held { actions.append(.sendFrame(item.frame)) }
        case .success(let replay):
            var merged = held.map { (offset: $0.offset, action: Action.sendFrame($0.frame)) }
            if let subscription = _session.subscriptions[key] {
                let seen = Set(held.lazy.filter { $0.key == key }.map(\.offset))
                for event in replay.events where subscription.accepts(event.type) && !seen.contains(event.offset) {
                    merged.append((event.offset, .sendReplayed(prefix: subscription.prefix, offset: event.offset, json: event.json)))
                }
            }
            merged.sort { $0.offset < $1.offset }
            if let last = replay.events.last?.offset {
                replayedThrough[key] = max(replayedThrough[key] ?? 0, last)
            }
            guard var message = suspended?.message else { return actions }
            suspended = nil
            if let id = request.id {
                let response = RPCEncoder.result(id: id, result: replay.result)
                // A lone request's result precedes its replayed events; in a batch it joins the batch's answer.
                if message.isBatch { message.responses.append(response) } else { actions.append(.send(response)) }
            }
            actions.append(contentsOf: merged.lazy.map(\.action))
            run(message, &actions, registry: registry, now: now)
            processInbox(&actions, registry: registry, now: now)
        }
        return actions
    }

    private mutating func processInbox(_ actions: inout [Action], registry: RegistrySnapshot, now: UInt64) {
        while _state == .open, suspended == nil, inboxHead < inbox.count {
            let message = inbox[inboxHead]
            inboxHead += 1
            if inboxHead == inbox.count {
                inbox.removeAll(keepingCapacity: true)
                inboxHead = 0
            }
            switch RPCDecoder.decode(message) {
            case .single(let entry):
                run(Message(entries: [entry], isBatch: false), &actions, registry: registry, now: now)
            case .batch(let entries):
                run(Message(entries: entries, isBatch: true), &actions, registry: registry, now: now)
            }
        }
    }

    /// Answers the entries of one message in order; stops (leaving `suspended` set) at async work.
    private mutating func run(_ message: Message, _ actions: inout [Action], registry: RegistrySnapshot, now: UInt64) {
        var message = message
        while message.index < message.entries.count {
            let entry = message.entries[message.index]
            message.index += 1
            switch limiter.check(now: now) {
            case .allow:
                break
            case .reject:
                if let id = entry.answerID { message.responses.append(RPCEncoder.error(id: id, error: .tooManyRequests)) }
                continue
            case .flood:
                if beginClosing() { actions.append(.close(.requestFlood)) }
                return
            }
            switch entry {
            case .invalid(let id, let error):
                message.responses.append(RPCEncoder.error(id: id, error: error))
            case .request(let request):
                switch _session.handle(request, registry: registry) {
                case .done(let result):
                    if let response = Self.response(to: request, result) { message.responses.append(response) }
                case .verifyToken(let token):
                    suspended = (message, .token(request))
                    actions.append(.verifyToken(token))
                    return
                case .subscribed(let key, _, let since, let epoch):
                    // Also when merged: the type filter may have changed.
                    if let subscription = _session.subscriptions[key] {
                        actions.append(.subscribe(key, prefix: subscription.prefix, filtered: !subscription.acceptsEveryType))
                    }
                    if let since {
                        suspended = (message, .replay(request, key))
                        held = []
                        actions.append(.loadReplay(key, since: since, epoch: epoch))
                        return
                    }
                    if let response = Self.response(to: request, .success(.object(JSONObject()))) { message.responses.append(response) }
                case .unsubscribed(let key):
                    actions.append(.unsubscribe(key))
                    replayedThrough[key] = nil
                    if let response = Self.response(to: request, .success(.object(JSONObject()))) { message.responses.append(response) }
                }
            }
        }
        suspended = nil
        if !message.responses.isEmpty {
            actions.append(.send(message.isBatch ? RPCEncoder.batch(message.responses) : message.responses[0]))
        }
    }

    /// Answers the suspended request and carries on with the rest of its message and the inbox.
    private mutating func resume(_ request: RPCRequest, _ result: Result<JSONValue, RPCError>, _ actions: inout [Action],
                                 registry: RegistrySnapshot, now: UInt64) {
        guard _state == .open, var message = suspended?.message else { return }
        if let response = Self.response(to: request, result) { message.responses.append(response) }
        suspended = nil
        run(message, &actions, registry: registry, now: now)
        processInbox(&actions, registry: registry, now: now)
    }

    private static func response(to request: RPCRequest, _ result: Result<JSONValue, RPCError>) -> [UInt8]? {
        guard let id = request.id else { return nil }  // notifications are never answered
        switch result {
        case .success(let value): return RPCEncoder.result(id: id, result: value)
        case .failure(let error): return RPCEncoder.error(id: id, error: error)
        }
    }

    // MARK: Live events

    /// What the live event at `offset` of type `type`, for this connection's subscription `key`, means for it.
    /// `filtered`: the subscription has a type filter (the fan-out knows; an unfiltered one needs no lookup).
    ///
    /// `mutating` although it changes nothing: the fan-out calls it once per recipient per event on a machine
    /// stored in the transport's handler (a class), and a non-mutating call copied the whole machine there each
    /// time (a retain of each of its fields; measured: ~5 % fewer deliveries). A mutating call works in place.
    @inlinable
    public mutating func admission(of key: SubscriptionKey, type: String, offset: Int64, filtered: Bool) -> Admission {
        guard _state == .open else { return .refuse }
        if filtered {
            guard let subscription = _session.subscriptions[key], subscription.accepts(type) else { return .refuse }
        }
        if !replayedThrough.isEmpty, let replayed = replayedThrough[key], offset <= replayed { return .refuse }
        return held == nil ? .deliver : .hold
    }

    /// Holds a live event while a replay runs; false when that overflows the limit (the connection is a slow
    /// consumer: close it with 4013).
    public mutating func hold(_ frame: Frame, offset: Int64, key: SubscriptionKey) -> Bool {
        guard held != nil else { return true }
        held!.append(Held(offset: offset, key: key, frame: frame))
        return held!.count <= holdLimit
    }

    /// The registry changed: ends the subscriptions the principal lost access to, telling the client (SPEC §6.6).
    public mutating func revalidate(_ registry: RegistrySnapshot) -> [Action] {
        guard _state == .open else { return [] }
        var actions: [Action] = []
        for subscription in _session.revalidate(registry: registry) {
            actions.append(.unsubscribe(subscription.key))
            let params = JSONValue.object(JSONObject(subscription.identityFields + [("reason", .string("access revoked"))]))
            actions.append(.send(RPCEncoder.notification(method: RPCNotificationMethod.subscriptionRevoked.rawValue, params: params)))
        }
        return actions
    }

    // MARK: Lifecycle

    /// Starts closing: true when the connection was open, and the transport sends its close frame now (the code
    /// is the transport's to write). Nothing is processed after it.
    public mutating func beginClosing() -> Bool {
        guard _state == .open else { return false }
        _state = .closing
        inbox.removeAll()
        inboxHead = 0
        suspended = nil
        held = nil
        return true
    }

    /// The client sent a close frame.
    public mutating func clientClosed() -> ClientCloseResponse {
        switch _state {
        case .open:
            _ = beginClosing()
            return .answer
        case .closing:
            return .hangUp
        case .closed:
            return .ignore
        }
    }

    /// The connection is gone. Nil when it was gone already; else whether it ended while open (without a
    /// close frame of ours, for the metrics) and the subscriptions to take out of the fan-out.
    public mutating func closed() -> (wasOpen: Bool, subscriptions: [SubscriptionKey])? {
        guard _state != .closed else { return nil }
        let wasOpen = _state == .open
        _state = .closed
        inbox.removeAll()
        inboxHead = 0
        suspended = nil
        held = nil
        return (wasOpen, Array(_session.subscriptions.keys))
    }

    // MARK: Timers

    /// Whether the init timeout should close the connection (4008): `status/initialize` never came.
    public var isInitialized: Bool { _session.isInitialized }

    /// Something arrived from the client (any frame).
    public mutating func inboundArrived(at now: UInt64) {
        lastInbound = now
    }

    /// True when nothing arrived since `instant` (a ping sent then went unanswered).
    public func isSilent(since instant: UInt64) -> Bool {
        lastInbound < instant
    }

    /// When the connection must close with 4001: the credential's expiry, plus `leeway` for access tokens
    /// (an API key expires when it says). Nil when it never expires.
    public func credentialDeadline(leeway: TimeInterval) -> Date? {
        guard let expiry = _session.credentialExpiry else { return nil }
        if case .user = _session.principal { return expiry.addingTimeInterval(leeway) }
        return expiry
    }
}

/// What a `subscription/add` with `since` found in the log: the add's result and the events to replay, in
/// offset order.
public struct Replay: Sendable {
    public struct Event: Sendable {
        public var offset: Int64
        public var type: String
        public var json: [UInt8]

        public init(offset: Int64, type: String, json: [UInt8]) {
            self.offset = offset
            self.type = type
            self.json = json
        }
    }

    /// `{"offset": head, "recovered": …, "epoch": …}`.
    public var result: JSONValue
    public var events: [Event]

    public init(result: JSONValue, events: [Event]) {
        self.result = result
        self.events = events
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
