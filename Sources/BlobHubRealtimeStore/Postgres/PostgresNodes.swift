import Logging
import PostgresNIO
import Synchronization

/// This node's row in `blobhub_nodes` and the reading of everybody's (``RealtimeStore/nodes()``).
///
/// A loop of its own (not the tailer's poll, not the append path) upserts the row every
/// ``NodeLiveness/heartbeat`` with the server's figures (``NodeStatusSlot``) and the offset the node's fan-out
/// has been handed; the same statement deletes rows silent for longer than ``NodeLiveness/forgetAfter``.
/// Every time is the database's clock (`clock_timestamp()`), so the nodes' clocks need not agree. ``close()``
/// deletes the row. The table has only its primary key, so the once-a-second updates stay HOT updates.
final class PostgresNodes: Sendable {
    let id: String
    let status = NodeStatusSlot()
    private let client: PostgresClient
    private let deadlines: CallDeadlines
    private let sequencer: DeliverySequencer
    /// Told how many other rows are live at each heartbeat.
    private let peers: PeerPresence
    private let liveness: NodeLiveness
    /// Deadline of one heartbeat write or node-list read.
    private let timeout: Duration
    private let logger: Logger
    private let wake = WakeSignal()
    private let state = Mutex(State())

    private struct State {
        /// The database time of the first and the last successful heartbeat (0: none yet).
        var startedAtMs: Int64 = 0
        var lastHeartbeatMs: Int64 = 0
        var failing = false
        var stopped = false
    }

    /// The database's clock in ms since the Unix epoch, as SQL.
    private static let nowSQL = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

    init(id: String, client: PostgresClient, deadlines: CallDeadlines, sequencer: DeliverySequencer, peers: PeerPresence, liveness: NodeLiveness,
         timeout: Duration, logger: Logger) {
        self.id = id
        self.client = client
        self.deadlines = deadlines
        self.sequencer = sequencer
        self.peers = peers
        self.liveness = liveness
        self.timeout = timeout
        self.logger = logger
    }

    func setProvider(_ provider: @escaping @Sendable () async -> NodeStatus) {
        status.set(provider)
        wake.signal()  // the first figures go out now, not a heartbeat later
    }

    /// Heartbeats until ``stop()`` (or cancellation). The store's open wrote the first one.
    func run() async {
        while true {
            await wake.wait(timeout: liveness.heartbeat)
            if Task.isCancelled || state.withLock({ $0.stopped }) { return }
            do {
                try await beat()
                let recovered = state.withLock { state in
                    defer { state.failing = false }
                    return state.failing
                }
                if recovered { logger.info("node heartbeat written again", metadata: ["node": "\(id)"]) }
            } catch {
                if Task.isCancelled { return }
                let first = state.withLock { state in
                    defer { state.failing = true }
                    return !state.failing
                }
                if first {
                    logger.warning("node heartbeat failed", metadata: ["node": "\(id)", "error": "\(String(reflecting: error))"])
                }
            }
        }
    }

    /// Ends the loop after its current heartbeat. Not by cancelling it: a cancelled write may still reach the
    /// database after the caller moved on (``withDeadline``), and would bring back a row ``remove()`` deleted.
    func stop() {
        state.withLock { $0.stopped = true }
        wake.signal()
    }

    /// Writes this node's row (and forgets long-silent ones) in one autocommit statement, within `deadline`
    /// (the heartbeat deadline by default), and counts the other live rows (``PeerPresence``).
    func beat(deadline: Duration? = nil) async throws {
        let status = await status.current()
        let delivered = sequencer.delivered
        let forgetMs = liveness.forgetAfter.milliseconds
        let staleMs = liveness.staleAfter.milliseconds
        let (id, logger) = (id, logger)
        let (started, now, livePeers) = try await withDeadline(deadline ?? timeout, deadlines) { [client] in
            let rows = try await client.query("""
                WITH clock AS (SELECT \(unescaped: Self.nowSQL) AS ms),
                forgotten AS (
                    DELETE FROM blobhub_nodes WHERE node_id <> \(id) AND heartbeat_at < (SELECT ms FROM clock) - \(forgetMs)
                )
                INSERT INTO blobhub_nodes (node_id, address, started_at, heartbeat_at, connections, subscriptions, delivered, draining)
                SELECT \(id), \(status.address), ms, ms, \(Int64(status.connections)), \(Int64(status.subscriptions)), \(delivered),
                       \(status.draining)
                FROM clock
                ON CONFLICT (node_id) DO UPDATE SET
                    address = EXCLUDED.address, heartbeat_at = EXCLUDED.heartbeat_at, connections = EXCLUDED.connections,
                    subscriptions = EXCLUDED.subscriptions, delivered = EXCLUDED.delivered, draining = EXCLUDED.draining
                RETURNING started_at, heartbeat_at,
                    (SELECT count(*) FROM blobhub_nodes o
                     WHERE o.node_id <> \(id) AND o.heartbeat_at >= (SELECT ms FROM clock) - \(staleMs))
                """, logger: logger)
            var result: (Int64, Int64, Int64)?
            for try await row in rows.decode((Int64, Int64, Int64).self) { result = row }
            guard let result else { throw StoreError.corrupt("the node heartbeat returned no row") }
            return result
        }
        state.withLock { state in
            state.startedAtMs = started
            state.lastHeartbeatMs = max(state.lastHeartbeatMs, now)
        }
        peers.heartbeat(livePeers: Int(livePeers))
    }

    /// Deletes this node's row (graceful shutdown), within the deadline; failures are only logged: the row
    /// then goes stale and is forgotten like a killed node's.
    func remove() async {
        let (id, logger) = (id, logger)
        do {
            try await withDeadline(timeout, deadlines) { [client] in
                try await client.query("DELETE FROM blobhub_nodes WHERE node_id = \(id)", logger: logger).consume()
            }
        } catch {
            logger.warning("could not delete the node's row", metadata: ["node": "\(id)", "error": "\(String(reflecting: error))"])
        }
    }

    /// Every row, split at the stale bound, with the log head, in one statement (one snapshot, the database's
    /// clock). This node's entry carries its current figures (its row's are up to a heartbeat old) and is
    /// always live.
    func list() async -> NodeList {
        let current = await status.current()
        let logger = logger
        let own = { (row: NodeRecord?, nowMs: Int64) -> NodeRecord in
            let known = self.state.withLock { $0 }
            return NodeRecord(
                id: self.id, address: current.address, startedAtMs: row?.startedAtMs ?? known.startedAtMs,
                heartbeatAtMs: row?.heartbeatAtMs ?? known.lastHeartbeatMs, connections: current.connections,
                subscriptions: current.subscriptions, draining: current.draining, delivered: self.sequencer.delivered)
        }
        do {
            let (nowMs, head, rows) = try await withDeadline(timeout, deadlines) { [client] in
                let result = try await client.query("""
                    SELECT c.ms, h.value, n.node_id, n.address, n.started_at, n.heartbeat_at, n.connections, n.subscriptions,
                           n.delivered, n.draining
                    FROM (SELECT \(unescaped: Self.nowSQL) AS ms) c
                    CROSS JOIN (SELECT blobhub_taken_v3() AS value) h
                    LEFT JOIN blobhub_nodes n ON true
                    ORDER BY n.node_id
                    """, logger: logger)
                var nowMs: Int64 = 0, head: Int64 = 0
                var rows: [NodeRecord] = []
                for try await (now, value, id, address, started, heartbeat, connections, subscriptions, delivered, draining)
                    in result.decode((Int64, Int64, String?, String?, Int64?, Int64?, Int64?, Int64?, Int64?, Bool?).self) {
                    nowMs = now
                    head = value
                    guard let id else { continue }
                    rows.append(NodeRecord(
                        id: id, address: address ?? "", startedAtMs: started ?? 0, heartbeatAtMs: heartbeat ?? 0,
                        connections: Int(connections ?? 0), subscriptions: Int(subscriptions ?? 0), draining: draining ?? false,
                        delivered: delivered ?? 0))
                }
                return (nowMs, head, rows)
            }
            var all = rows.map { $0.id == id ? own($0, nowMs) : $0 }
            if !all.contains(where: { $0.id == id }) {
                // Not written yet, or deleted meanwhile: listed as this node knows itself.
                all.append(own(nil, nowMs))
                all.sort { $0.id < $1.id }
            }
            // The answering node is live by definition, however late its last heartbeat (its age shows that).
            let bound = nowMs - liveness.staleAfter.milliseconds
            let ownID = id
            let live = { (node: NodeRecord) in node.id == ownID || node.heartbeatAtMs >= bound }
            return NodeList(nowMs: nowMs, headOffset: head, live: all.filter(live), stale: all.filter { !live($0) })
        } catch {
            let known = state.withLock { $0 }
            let nowMs = max(NodeIdentity.nowMs(), known.lastHeartbeatMs)
            return NodeList(nowMs: nowMs, headOffset: sequencer.delivered, live: [own(nil, nowMs)],
                            error: "the node list could not be read: \(error)")
        }
    }
}

extension Duration {
    /// Whole milliseconds (rounded down).
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
