import Synchronization

/// Group commit for the durable stores: appends queue up while a writer commits; each round takes the
/// appends queued so far (up to ``maxEventsPerGroup`` events) and commits them in one transaction, so one
/// sync serves all of them. With one writer (both stores run one) groups commit in queue order; with more
/// (``init(maxWriters:)``), PostgreSQL's groups would commit in any order (no lock orders them: the watermark does).
///
/// The queue does not run the writers itself: ``enqueue(_:)`` says when the caller must start one, and
/// that writer calls ``nextGroup()`` until it returns nil. SQLite runs it on GRDB's writer queue (no task,
/// no thread hop beyond the writer's own), PostgreSQL in a task.
final class GroupCommitQueue: Sendable {
    /// One append: its events and whom to tell the outcome (exactly once).
    struct Pending: Sendable {
        let batch: [ValidatedEvent]
        let complete: @Sendable (Result<[AppendResult], any Error>) -> Void
        /// Answered before the commit observer runs (a loop-served publish, whose 202 should not queue behind
        /// the fan-out round the observer starts); otherwise after it, so an async `append` returns with the
        /// events already handed to the fan-out.
        var answersFirst = false
    }

    /// At most this many events share one transaction (a single larger append still gets its own).
    static let maxEventsPerGroup = 10_000

    private struct State {
        var waiting: [Pending] = []
        /// Writers running; each drains `waiting` and then leaves (under the lock).
        var writers = 0
    }

    private let state = Mutex(State())
    private let maxWriters: Int

    init(maxWriters: Int = 1) {
        precondition(maxWriters >= 1)
        self.maxWriters = maxWriters
    }

    /// Queues an append; true when fewer than the maximum writers run and the caller must start one. Once queued, an append
    /// runs to its end (it commits or fails) whatever happens to its caller.
    func enqueue(_ pending: Pending) -> Bool {
        state.withLock { state in
            state.waiting.append(pending)
            if state.writers == maxWriters { return false }
            state.writers += 1
            return true
        }
    }

    /// Fails every append still waiting (the store is closing).
    func failWaiting(_ error: any Error) {
        let waiting = state.withLock { state in
            defer { state.waiting = [] }
            return state.waiting
        }
        for pending in waiting { pending.complete(.failure(error)) }
    }

    /// Appends queued behind the running transaction.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// The next group for the writer, in queue order; nil (and the writer's turn ends) when none is waiting.
    func nextGroup() -> [Pending]? {
        state.withLock { state -> [Pending]? in
            if state.waiting.isEmpty {
                state.writers -= 1
                return nil
            }
            var take = 0
            var events = 0
            for pending in state.waiting {
                if take > 0, events + pending.batch.count > Self.maxEventsPerGroup { break }
                take += 1
                events += pending.batch.count
            }
            let group = Array(state.waiting.prefix(take))
            state.waiting.removeFirst(take)
            return group
        }
    }
}
