import BlobHubRealtimeRegistry
import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// The event log and the registry in one PostgreSQL database shared by any number of nodes (SPEC §13).
///
/// * Offsets are cluster-wide and strictly increasing in the order events become visible: appends take offsets from
///   a sequence without any lock, and every reader hands out events only up to the watermark, below which nothing
///   can commit any more (``PostgresLogFunctions``; docs/cluster.md has the argument).
/// * Appends queued on one node share one statement (group commit, see `PostgresStore+Append.swift`); a node
///   runs ``writers`` (one) such statement at a time.
/// * The commit observer sees the events committed by every node, in offset order (``DeliverySequencer``):
///   this node's own right after COMMIT, the others' through ``PostgresTailer``, woken by LISTEN/NOTIFY
///   (``PostgresListener``) and by a poll. The async `append` returns after its events reached the observer
///   (bounded wait); the completion-based one (the publish endpoint) answers at COMMIT (docs/cluster.md).
/// * Registry changes bump `registry_version`; other nodes see the new version and reload (``setRegistryObserver(_:)``).
/// * Each node heartbeats its row of `blobhub_nodes` about once a second (``PostgresNodes``): ``nodes()``.
/// * Owns its `PostgresClient` pool: `run()` runs in a task started here and cancelled by ``close()``.
public final class PostgresStore: RealtimeStore {
    public let epoch: String
    /// Names this store instance in its notifications, so that its listener skips its own commits, and in
    /// `blobhub_nodes` (``nodeID``).
    let nodeTag: String
    let client: PostgresClient
    /// Pauses of the writer to let appends gather (``gatherDelay(afterGroupOf:waiting:)``; tests).
    let gatherWaits = Atomic<Int>(0)
    /// The deadlines of this store's calls in flight (``withDeadline``).
    let deadlines: CallDeadlines
    let logger: Logger
    let sequencer: DeliverySequencer
    let tailer: PostgresTailer
    let nodeRow: PostgresNodes
    let notifier: CommitNotifier
    /// Whether another node shares the database (commits are announced only then).
    let peers: PeerPresence
    let timeouts: Timeouts
    /// One group in flight per node: appends that arrive meanwhile form the next, larger group. A second writer
    /// (its statement running while the first one's COMMIT flushes) halved the groups and, on a CPU-bound
    /// machine, cost more in statements than it saved in waiting: with one, single-event publishes (wrk, 32
    /// connections) went 13.4–14.2k → 16.0–17.2k events/s on one node and 6.0–6.7k → 7.4–7.8k over three
    /// (three pairs each); batched publish, fan-out and cross-node latency within run-to-run noise.
    /// `PostgresAppendWriter` drives one loop on one connection: one writer.
    static let writers = 1
    let appendQueue = GroupCommitQueue(maxWriters: PostgresStore.writers)
    /// Writes the groups of ``appendQueue`` on a connection of its own (``PostgresAppendWriter``).
    let writer: PostgresAppendWriter
    private let closed = Mutex(false)
    private let tasks: Mutex<[Task<Void, Never>]>
    /// The node heartbeat: stopped before the row is deleted at close, which needs the pool still running.
    private let heartbeat: Mutex<Task<Void, Never>?>

    /// How long calls wait for the database before failing (readiness and publishes answer 503 meanwhile).
    public struct Timeouts: Sendable {
        /// One append transaction, including waiting for a pooled connection.
        public var append: Duration = .seconds(10)
        /// A read or a registry write.
        public var query: Duration = .seconds(5)
        /// How long an append waits for the local tailer to hand its events to the observer.
        public var delivery: Duration = .seconds(2)
        /// The tailer's poll when no notification arrives.
        public var poll: Duration = .milliseconds(250)
        /// The poll's own deadline: when it fails or takes longer, the node reports unhealthy (`/readyz` 503).
        /// Shorter than `query`, because the pool keeps a request waiting while it cannot connect.
        public var healthCheck: Duration = .seconds(3)
        /// Opening the store: connect and migrate.
        public var open: Duration = .seconds(15)
        /// The node heartbeat and how long a silent node stays listed (tests shorten the bounds).
        public var liveness = NodeLiveness()

        public init() {}
    }

    /// Connects, creates or migrates the schema, and starts the pool, the listener and the tailer.
    public static func open(_ settings: PostgresSettings, timeouts: Timeouts = Timeouts(),
                            logger: Logger = Logger(label: "blobhub-realtime.postgres")) async throws -> PostgresStore {
        let client = PostgresClient(configuration: try clientConfiguration(settings), backgroundLogger: logger)
        let runTask = Task { await client.run() }
        let deadlines = CallDeadlines()
        do {
            let (epoch, counters, watermark) = try await withDeadline(timeouts.open, deadlines) {
                let epoch = try await PostgresSchema.migrate(client, logger: logger)
                return (epoch, try await PostgresEventRows.counters(client, logger: logger),
                        try await PostgresWatermark.current(client, logger: logger))
            }
            let nodeTag = NodeIdentity.generate()
            let sequencer = DeliverySequencer(delivered: watermark)
            let peers = PeerPresence(window: timeouts.liveness.staleAfter)
            let notifier = CommitNotifier(node: nodeTag, peers: peers)
            let tailer = PostgresTailer(
                client: client, deadlines: deadlines, sequencer: sequencer, notifier: notifier, registryVersion: counters.registryVersion,
                pollInterval: timeouts.poll, healthTimeout: timeouts.healthCheck, logger: logger)
            let listener = PostgresListener(configuration: try listenerConfiguration(settings), wake: tailer.wake,
                                            sequencer: sequencer, peers: peers, node: nodeTag, logger: logger)
            let nodeRow = PostgresNodes(id: nodeTag, client: client, deadlines: deadlines, sequencer: sequencer, peers: peers, liveness: timeouts.liveness,
                                        timeout: timeouts.healthCheck, logger: logger)
            // The row exists once the store is open (a failure here fails the open, like the migration's).
            try await nodeRow.beat(deadline: timeouts.open)
            // Nodes already running start announcing their commits now, not at their next heartbeat.
            await CommitNotifier.notify(client, payload: PostgresListener.startPayload(node: nodeTag), logger: logger)
            let writer = PostgresAppendWriter(configuration: try writerConfiguration(settings), eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
                                              deadlines: deadlines, logger: logger)
            return PostgresStore(epoch: epoch, nodeTag: nodeTag, client: client, deadlines: deadlines, sequencer: sequencer, tailer: tailer, nodeRow: nodeRow, writer: writer,
                                 peers: peers, notifier: notifier, timeouts: timeouts, logger: logger,
                                 tasks: [runTask, Task { await tailer.run() }, Task { await listener.run() }],
                                 heartbeat: Task { await nodeRow.run() })
        } catch let error as StoreError {
            runTask.cancel()
            throw error
        } catch {
            runTask.cancel()
            // PostgresNIO's errors print a generic text; the reflection names the cause (refused, auth, …).
            throw PostgresStoreError.openFailed(String(reflecting: error))
        }
    }

    private init(epoch: String, nodeTag: String, client: PostgresClient, deadlines: CallDeadlines, sequencer: DeliverySequencer, tailer: PostgresTailer,
                 nodeRow: PostgresNodes, writer: PostgresAppendWriter, peers: PeerPresence, notifier: CommitNotifier, timeouts: Timeouts, logger: Logger, tasks: [Task<Void, Never>],
                 heartbeat: Task<Void, Never>) {
        self.epoch = epoch
        self.nodeTag = nodeTag
        self.client = client
        self.deadlines = deadlines
        self.sequencer = sequencer
        self.tailer = tailer
        self.nodeRow = nodeRow
        self.writer = writer
        self.peers = peers
        self.notifier = notifier
        self.timeouts = timeouts
        self.logger = logger
        self.tasks = Mutex(tasks)
        self.heartbeat = Mutex(heartbeat)
    }

    /// The pool's sessions in `pg_stat_activity`.
    static var poolApplicationName: String {
        "\(PostgresLogFunctions.applicationNamePrefix)-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Each node's listener connection is named `blobhub-realtime-listener-<pid>` in `pg_stat_activity`
    /// (operators can see which nodes listen; tests cut one node off with `pg_terminate_backend`).
    public static var listenerApplicationName: String {
        "blobhub-realtime-listener-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Settings of the pool's sessions. The append statement is prepared once per connection and runs with a
    /// generic plan: planning it for every group cost more than running it. A generic plan is made once, from
    /// the statistics of that moment — on a new, empty log a sequential scan looks cheapest for the id lookup
    /// and would then stay as the log grows — so sequential scans are ruled out where an index can serve:
    /// every query of this store is an index lookup or range scan, or reads a table that has no other path.
    ///
    /// `jit = off`: with sequential scans "disabled", the one left where no index serves (the heartbeat's scan of the
    /// few `blobhub_nodes` rows) is costed past `jit_above_cost`, and PostgreSQL compiled it with LLVM on every
    /// heartbeat (~100–250 ms of a core each, seen in a profile of the cluster benchmark). None of the store's
    /// queries is long enough for JIT to pay off.
    static let poolSessionSettings = [("plan_cache_mode", "force_generic_plan"), ("enable_seqscan", "off"), ("jit", "off")]

    private static func clientConfiguration(_ settings: PostgresSettings) throws -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS = switch settings.tls {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username,
            password: settings.password, database: settings.database ?? settings.username, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.maximumConnections = 10
        // Operators (and `pg_stat_activity`) see which sessions are the nodes'.
        configuration.options.additionalStartupParameters = poolSessionSettings + [("application_name", poolApplicationName)]
        return configuration
    }

    static func listenerConfiguration(_ settings: PostgresSettings) throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS = switch settings.tls {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: settings.host, port: settings.port, username: settings.username,
            password: settings.password, database: settings.database ?? settings.username, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [("application_name", listenerApplicationName)]
        return configuration
    }

    /// The append writer's connection: a pool session's settings and name (operators see it among the nodes' sessions).
    static func writerConfiguration(_ settings: PostgresSettings) throws -> PostgresConnection.Configuration {
        var configuration = try listenerConfiguration(settings)
        configuration.options.additionalStartupParameters = poolSessionSettings + [("application_name", poolApplicationName)]
        return configuration
    }

    var isClosed: Bool { closed.withLock { $0 } }

    func checkOpen() throws {
        if isClosed { throw StoreError.closed }
    }

    /// Runs one database call under the query deadline.
    func withQuery<T: Sendable>(_ operation: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try checkOpen()
        let client = client
        return try await withDeadline(timeouts.query, deadlines) { try await operation(client) }
    }

    // MARK: - Observers

    public func setCommitObserver(_ observer: @escaping @Sendable ([StoredEvent]) -> Void) {
        sequencer.setObserver(observer)
    }

    public func setRegistryObserver(_ observer: @escaping @Sendable () -> Void) {
        tailer.setRegistryObserver(observer)
    }

    public func setFanoutInterest(_ interest: @escaping @Sendable () -> FanoutInterest) {
        tailer.setFanoutInterest(interest)
    }

    // MARK: - Reads

    // Reads end where this node's deliveries have been taken (``DeliverySequencer/readable``): a watermark (nothing
    // below it can still commit), and everything after it reaches the commit observer later, in order, so a replay
    // followed by live events has no gap.

    public func events(withKey key: String, after: Int64, limit: Int) async throws -> [StoredEvent] {
        let logger = logger, through = sequencer.readable
        return try await withQuery {
            try await PostgresEventRows.events($0, key: key, after: after, through: through, limit: limit, logger: logger)
        }
    }

    public func events(after: Int64, limit: Int) async throws -> [StoredEvent] {
        let logger = logger, through = sequencer.readable
        return try await withQuery { try await PostgresEventRows.events($0, after: after, through: through, limit: limit, logger: logger) }
    }

    /// The log head as of now: a watermark read from the database (this node's tailer may not have caught up).
    public func headOffset() async throws -> Int64 {
        let logger = logger
        return try await withQuery { try await PostgresWatermark.current($0, logger: logger) }
    }

    public func prunedThrough() async throws -> Int64 {
        let logger = logger
        return try await withQuery { try await PostgresEventRows.counters($0, logger: logger).prunedThrough }
    }

    // MARK: - Retention

    public func prune(_ policy: RetentionPolicy, nowMs: Int64) async throws -> Int {
        let logger = logger, watermark = sequencer.delivered
        return try await withQuery { client in
            try await client.storeTransaction(logger: logger) { connection -> Int in
                // Nodes prune concurrently: the pruned_through row lock makes them take turns. Appends are not blocked.
                let prunedThrough = try await connection.query(
                    "SELECT value FROM blobhub_counters WHERE name = 'pruned_through' FOR UPDATE", logger: logger
                ).collect().first?.decode(Int64.self) ?? 0
                // The watermark, not the last offset taken: appends still in flight below it are never pruned.
                let head = watermark
                var through = max(prunedThrough, policy.countThreshold(head: head))
                // Age: everything before the first retained event that has not expired.
                let firstYoung = try await connection.query("""
                    SELECT log_offset FROM blobhub_events WHERE log_offset > \(through) AND created_at >= \(policy.cutoff(nowMs: nowMs))
                    ORDER BY log_offset LIMIT 1
                    """, logger: logger).collect().first?.decode(Int64.self)
                through = max(through, (firstYoung ?? (head + 1)) - 1)
                guard through > prunedThrough else { return 0 }
                let maxRow = try await connection.query(
                    "SELECT MAX(log_offset) FROM blobhub_events WHERE log_offset <= \(through)", logger: logger
                ).collect().first
                guard let lastRemoved = try maxRow?.decode(Int64?.self) ?? nil else { return 0 }
                try await connection.query(
                    "DELETE FROM blobhub_event_keys WHERE log_offset <= \(lastRemoved)", logger: logger).consume()
                let removed = try await connection.query("""
                    WITH removed AS (DELETE FROM blobhub_events WHERE log_offset <= \(lastRemoved) RETURNING 1)
                    SELECT count(*) FROM removed
                    """, logger: logger).collect().first?.decode(Int64.self) ?? 0
                try await connection.query("""
                    UPDATE blobhub_counters SET value = \(max(prunedThrough, lastRemoved)) WHERE name = 'pruned_through'
                    """, logger: logger).consume()
                return Int(removed)
            }
        }
    }

    // MARK: - Registry

    public func registryRows() async throws -> [RegistryRow] {
        let logger = logger
        return try await withQuery { client in
            var rows: [RegistryRow] = []
            let result = try await client.query("SELECT kind, id, data FROM blobhub_registry ORDER BY kind, id", logger: logger)
            for try await (kind, id, data) in result.decode((String, String, ByteBuffer).self) {
                rows.append(RegistryRow(kind: kind, id: id, data: Array(data.readableBytesView)))
            }
            return rows
        }
    }

    public func persist(_ diff: RegistryRows) async throws {
        if diff.isEmpty { return }
        // The last upsert of a key wins; one INSERT … ON CONFLICT may not touch a row twice.
        var upserts: [RegistryRowKey: RegistryRow] = [:]
        var order: [RegistryRowKey] = []
        for row in diff.upserts {
            if upserts.updateValue(row, forKey: row.key) == nil { order.append(row.key) }
        }
        let rows = order.map { upserts[$0]! }
        let deleteKinds = diff.deletes.map(\.kind), deleteIDs = diff.deletes.map(\.id)
        let kinds = rows.map(\.kind), ids = rows.map(\.id), data = rows.map { ByteBuffer(bytes: $0.data) }
        let logger = logger
        let version = try await withQuery { client in
            try await client.storeTransaction(logger: logger) { connection -> Int64 in
                if !deleteKinds.isEmpty {
                    try await connection.query("""
                        DELETE FROM blobhub_registry WHERE (kind, id) IN
                            (SELECT * FROM unnest(\(deleteKinds)::text[], \(deleteIDs)::text[]))
                        """, logger: logger).consume()
                }
                if !kinds.isEmpty {
                    try await connection.query("""
                        INSERT INTO blobhub_registry (kind, id, data)
                        SELECT * FROM unnest(\(kinds)::text[], \(ids)::text[], \(data)::bytea[])
                        ON CONFLICT (kind, id) DO UPDATE SET data = EXCLUDED.data
                        """, logger: logger).consume()
                }
                // Other nodes reload when they see a new version (poll) or get this notification (sooner).
                let version = try await connection.query("""
                    UPDATE blobhub_counters SET value = value + 1 WHERE name = 'registry_version' RETURNING value
                    """, logger: logger).collect().first?.decode(Int64.self) ?? 0
                let payload = "r:\(version)"
                try await connection.query(
                    "SELECT pg_notify(\(PostgresListener.channel), \(payload))", logger: logger).consume()
                return version
            }
        }
        tailer.noteOwnRegistryVersion(version)
    }

    // MARK: - Nodes

    public var nodeID: String { nodeTag }

    public func setNodeStatusProvider(_ provider: @escaping @Sendable () async -> NodeStatus) {
        nodeRow.setProvider(provider)
    }

    public func nodes() async -> NodeList {
        if isClosed {
            return NodeList(nowMs: NodeIdentity.nowMs(), headOffset: sequencer.delivered, live: [], error: "\(StoreError.closed)")
        }
        return await nodeRow.list()
    }

    // MARK: - Lifecycle

    public func isHealthy() async -> Bool {
        !isClosed && tailer.isHealthy
    }

    public func close() async throws {
        let wasClosed = closed.withLock { closed in
            defer { closed = true }
            return closed
        }
        if wasClosed { return }
        failQueuedAppends(StoreError.closed)
        writer.close()
        // Graceful shutdown: the others stop listing this node at once (a killed node goes stale instead).
        if let heartbeat = self.heartbeat.withLock({ task in defer { task = nil }; return task }) {
            nodeRow.stop()
            await heartbeat.value  // at most one heartbeat deadline
            await nodeRow.remove()
        }
        let tasks = self.tasks.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        for task in tasks { task.cancel() }
        tailer.stop()
        sequencer.stop()
        for task in tasks { await task.value }
    }
}
