import BlobHubRealtimeProtocol
import Metrics
import Prometheus

/// The node's Prometheus metrics (SPEC §2 `/metrics`; names and meaning in docs/metrics.md).
///
/// Each server owns one `PrometheusCollectorRegistry` and creates its metrics through swift-metrics with a
/// `PrometheusMetricsFactory` bound to that registry: nothing goes through the global `MetricsSystem`, so
/// several servers in one process (tests) never share a counter.
///
/// Hot paths must not touch these per delivered frame (each update is an atomic or a lock): fan-out
/// shards count on their event loop and add once per batch, and latency is sampled per event per shard.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    let connections: CoreMetrics.Gauge
    let subscriptions: CoreMetrics.Gauge
    let eventsPublished: CoreMetrics.Counter
    let eventsDelivered: CoreMetrics.Counter
    let eventsReplayed: CoreMetrics.Counter
    let deliveryLatency: CoreMetrics.Timer
    let queueOverflows: CoreMetrics.Counter
    private let handshakes: [HandshakeOutcome: CoreMetrics.Counter]
    private let closes: [CloseCode: CoreMetrics.Counter]
    private let drops: [ConnectionDrop: CoreMetrics.Counter]
    private let storeLatency: [StoreOperation: CoreMetrics.Timer]

    enum Name {
        static let connections = "blobhub_realtime_connections"
        static let handshakes = "blobhub_realtime_handshakes_total"
        static let subscriptions = "blobhub_realtime_subscriptions"
        static let eventsPublished = "blobhub_realtime_events_published_total"
        static let eventsDelivered = "blobhub_realtime_events_delivered_total"
        static let eventsReplayed = "blobhub_realtime_events_replayed_total"
        static let deliveryLatency = "blobhub_realtime_delivery_latency_seconds"
        static let queueOverflows = "blobhub_realtime_queue_overflows_total"
        static let closes = "blobhub_realtime_closes_total"
        static let storeLatency = "blobhub_realtime_store_latency_seconds"
    }

    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Delivery is sub-millisecond when healthy (SPEC §14: p99 ≤ 5 ms): fine buckets at the low end.
        let fine: [Duration] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        factory.durationHistogramBuckets = [Name.deliveryLatency: fine, Name.storeLatency: fine]
        self.registry = registry
        connections = CoreMetrics.Gauge(label: Name.connections, factory: factory)
        subscriptions = CoreMetrics.Gauge(label: Name.subscriptions, factory: factory)
        eventsPublished = CoreMetrics.Counter(label: Name.eventsPublished, factory: factory)
        eventsDelivered = CoreMetrics.Counter(label: Name.eventsDelivered, factory: factory)
        eventsReplayed = CoreMetrics.Counter(label: Name.eventsReplayed, factory: factory)
        deliveryLatency = CoreMetrics.Timer(label: Name.deliveryLatency, factory: factory)
        queueOverflows = CoreMetrics.Counter(label: Name.queueOverflows, factory: factory)
        // Every label value exists from the start (at 0), so a scrape shows the full set.
        var handshakes: [HandshakeOutcome: CoreMetrics.Counter] = [:]
        for outcome in HandshakeOutcome.allCases {
            handshakes[outcome] = CoreMetrics.Counter(label: Name.handshakes, dimensions: [("outcome", outcome.rawValue)], factory: factory)
        }
        self.handshakes = handshakes
        var closes: [CloseCode: CoreMetrics.Counter] = [:]
        for code in CloseCode.allCases {
            closes[code] = CoreMetrics.Counter(label: Name.closes, dimensions: [("code", String(code.rawValue))], factory: factory)
        }
        self.closes = closes
        var drops: [ConnectionDrop: CoreMetrics.Counter] = [:]
        for drop in ConnectionDrop.allCases {
            drops[drop] = CoreMetrics.Counter(label: Name.closes, dimensions: [("code", drop.rawValue)], factory: factory)
        }
        self.drops = drops
        var storeLatency: [StoreOperation: CoreMetrics.Timer] = [:]
        for operation in StoreOperation.allCases {
            storeLatency[operation] = CoreMetrics.Timer(label: Name.storeLatency, dimensions: [("operation", operation.rawValue)], factory: factory)
        }
        self.storeLatency = storeLatency
    }

    /// Gauges read at scrape time rather than counted on the hot path.
    package func sample(connections open: Int, subscriptions subscribed: Int) {
        connections.record(open)
        subscriptions.record(subscribed)
    }

    package func published(_ count: Int) { eventsPublished.increment(by: count) }
    package func delivered(_ count: Int) { eventsDelivered.increment(by: count) }
    package func replayed(_ count: Int) { eventsReplayed.increment(by: count) }
    package func deliveryLatency(nanoseconds: Int64) { deliveryLatency.recordNanoseconds(nanoseconds) }

    package func handshake(_ outcome: HandshakeOutcome) {
        handshakes[outcome]?.increment()
    }

    /// A close frame the server sent (its own close, or its answer to the client's).
    package func closed(_ code: CloseCode) {
        closes[code]?.increment()
        if code == .slowConsumer { queueOverflows.increment() }
    }

    /// A connection that ended while open without a close frame from the server.
    package func dropped(_ drop: ConnectionDrop) {
        drops[drop]?.increment()
    }

    func storeOperation(_ operation: StoreOperation, took duration: Duration) {
        let (seconds, attoseconds) = duration.components
        storeLatency[operation]?.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// The exposition text (Prometheus text format 0.0.4).
    package func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}

/// How an upgrade request ended (`blobhub_realtime_handshakes_total{outcome}`).
package enum HandshakeOutcome: String, CaseIterable, Sendable {
    case accepted
    case unauthorized  // 401: missing or invalid credentials
    case forbidden  // 403: origin not allowed
    case unavailable  // 503: node full or draining, credential store unreachable
    case badRequest = "bad_request"  // 400: bad WebSocket version or key
    case notFound = "not_found"  // 404: upgrade on another path
    case methodNotAllowed = "method_not_allowed"
    case timeout  // the first request was not complete within --handshake-timeout: dropped without an answer

    package init(rejection status: Int) {
        switch status {
        case 401: self = .unauthorized
        case 403: self = .forbidden
        case 404: self = .notFound
        case 405: self = .methodNotAllowed
        case 503: self = .unavailable
        default: self = .badRequest
        }
    }
}

/// How an open WebSocket connection ended when the server sent no close frame, counted in
/// `blobhub_realtime_closes_total{code}` next to the close codes (clients see 1006 for both).
package enum ConnectionDrop: String, CaseIterable, Sendable {
    /// Nothing arrived within --ping-timeout of a ping: the server hung up.
    case pingTimeout = "ping_timeout"
    /// The peer ended TCP (or the socket failed) without a closing handshake.
    case connectionLost = "connection_lost"
}

/// Store calls timed in `blobhub_realtime_store_latency_seconds{operation}`.
enum StoreOperation: String, CaseIterable, Sendable {
    case append
    case eventsByKey = "events_by_key"
    case events
    case headOffset = "head_offset"
    case prunedThrough = "pruned_through"
    case prune
    case registryRows = "registry_rows"
    case persist
}
