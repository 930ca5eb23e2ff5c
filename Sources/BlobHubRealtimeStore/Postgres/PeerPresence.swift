import Synchronization

/// Whether another node shares the log, so that this node's commits are worth announcing (``CommitNotifier``).
///
/// A node alone on the database has nobody to wake: every notification would cost a statement and PostgreSQL's
/// notify lock for nothing (about a tenth of a single node's single-event throughput, BENCHMARKS.md). Another
/// node counts as present when its heartbeat row is live (``PostgresNodes`` reads the count with every heartbeat)
/// or when it was heard from on the channel within the stale bound: a starting node announces itself (`n:<node>`)
/// as soon as its row exists, so the others start notifying at once instead of at their next heartbeat. Missing a
/// peer for a moment costs latency, never events: every tailer polls the table.
final class PeerPresence: Sendable {
    private struct State {
        var liveAtLastHeartbeat = 0
        var lastHeard: ContinuousClock.Instant?
    }

    /// How long a node heard from on the channel counts as present without a heartbeat row (the stale bound).
    private let window: Duration
    private let state = Mutex(State())

    init(window: Duration) {
        self.window = window
    }

    /// The heartbeat found `count` other live rows.
    func heartbeat(livePeers count: Int) {
        state.withLock { $0.liveAtLastHeartbeat = count }
    }

    /// A notification of another node arrived.
    func heard(at now: ContinuousClock.Instant = .now) {
        state.withLock { $0.lastHeard = now }
    }

    func isPresent(at now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            if state.liveAtLastHeartbeat > 0 { return true }
            guard let heard = state.lastHeard else { return false }
            return now - heard < window
        }
    }
}
