import Logging
import PostgresNIO
import Synchronization

/// Tells the other nodes that this node committed events. The notification rides on the tailer's next round
/// (`blobhub_tail_v4` calls `pg_notify` before its probe), not on the append and not in a statement of its own.
///
/// * Not inside the append: PostgreSQL serializes the commits of all transactions that notify (a database-wide
///   lock taken before commit and held through it, WAL flush included), which would order every node's appends
///   again. The tailer's round writes no WAL, so it holds that lock only briefly.
/// * Not a statement of its own: on busy nodes a commit is almost always followed by a tailer round anyway (another
///   node's offsets came first, so the writer wakes the tailer to read the gap), and a statement per commit was a
///   third of all the cluster's statements (BENCHMARKS.md, "Cluster").
///
/// Commits between two rounds are announced once, with the highest offset (the payload is only a hint; the tailers
/// read the table, and poll, so a lost notification costs latency, not events). Nothing is announced while no other
/// node is present (``PeerPresence``).
final class CommitNotifier: Sendable {
    private struct State {
        var highest: Int64 = 0
        var announced: Int64 = 0
    }

    private let node: String
    private let peers: PeerPresence
    private let state = Mutex(State())

    init(node: String, peers: PeerPresence) {
        self.node = node
        self.peers = peers
    }

    /// This node committed events up to `offset`; true when that is to be announced (the caller wakes the tailer).
    func committed(through offset: Int64) -> Bool {
        guard peers.isPresent() else { return false }
        return state.withLock { state in
            state.highest = max(state.highest, offset)
            return state.highest > state.announced
        }
    }

    /// The payload the tailer's next round sends, or nil when every commit was announced.
    func takeAnnouncement() -> String? {
        state.withLock { state -> String? in
            guard state.highest > state.announced else { return nil }
            state.announced = state.highest
            return PostgresListener.commitPayload(offset: state.highest, node: node)
        }
    }

    /// Sends one notification in a statement of its own (a starting node's `n:<node>`); a failure is only logged
    /// (the other nodes poll).
    static func notify(_ client: PostgresClient, payload: String, logger: Logger) async {
        do {
            try await client.query("SELECT pg_notify(\(PostgresListener.channel), \(payload))", logger: logger).consume()
        } catch {
            logger.debug("notification failed (other nodes will poll)", metadata: ["payload": "\(payload)", "error": "\(String(reflecting: error))"])
        }
    }
}
