import Logging
import PostgresNIO
import Synchronization

/// Tells the other nodes that this node committed events, with `pg_notify` in a statement of its own after
/// the commit, not inside the append.
///
/// Why not inside: PostgreSQL serializes the commits of all transactions that notify (a database-wide lock
/// taken before commit and held through it, WAL flush included), which would order every node's appends
/// again. A notify on its own writes no WAL, so it holds that lock only briefly. At most one notification is
/// in flight per node; commits meanwhile are announced by the next one, with the highest offset (the payload is
/// only a hint; the tailers read the table, and poll, so a lost notification costs latency, not events). Nothing is
/// sent while no other node is present (``PeerPresence``).
final class CommitNotifier: Sendable {
    private struct State {
        var highest: Int64 = 0
        var announced: Int64 = 0
        var running = false
    }

    private let client: PostgresClient
    private let node: String
    private let peers: PeerPresence
    private let logger: Logger
    private let state = Mutex(State())

    init(client: PostgresClient, node: String, peers: PeerPresence, logger: Logger) {
        self.client = client
        self.node = node
        self.peers = peers
        self.logger = logger
    }

    /// This node committed events up to `offset`.
    func committed(through offset: Int64) {
        guard peers.isPresent() else { return }
        let start = state.withLock { state -> Bool in
            state.highest = max(state.highest, offset)
            if state.running { return false }
            state.running = true
            return true
        }
        if start { Task { await self.announce() } }
    }

    private func announce() async {
        while let offset = next() {
            await Self.notify(client, payload: PostgresListener.commitPayload(offset: offset, node: node), logger: logger)
        }
    }

    /// Sends one notification on the channel; a failure is only logged (the other nodes poll).
    static func notify(_ client: PostgresClient, payload: String, logger: Logger) async {
        do {
            try await client.query("SELECT pg_notify(\(PostgresListener.channel), \(payload))", logger: logger).consume()
        } catch {
            logger.debug("notification failed (other nodes will poll)", metadata: ["payload": "\(payload)", "error": "\(String(reflecting: error))"])
        }
    }

    /// The offset to announce, or nil (and the announcer stops) when everything was announced.
    private func next() -> Int64? {
        state.withLock { state in
            guard state.highest > state.announced else {
                state.running = false
                return nil
            }
            state.announced = state.highest
            return state.highest
        }
    }
}
