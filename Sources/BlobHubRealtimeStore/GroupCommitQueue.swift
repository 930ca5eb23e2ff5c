import Synchronization

/// Group commit for the durable stores: appends queue up while one writer task commits; each round takes
/// the appends queued so far (up to ``maxEventsPerGroup`` events) and commits them in one transaction, so
/// one sync serves all of them. Only one writer runs at a time, so groups commit in queue order.
final class GroupCommitQueue: Sendable {
    /// An append waiting for the writer.
    struct Pending: Sendable {
        let batch: [ValidatedEvent]
        let continuation: CheckedContinuation<[AppendResult], any Error>
    }

    /// At most this many events share one transaction (a single larger append still gets its own).
    static let maxEventsPerGroup = 10_000

    private struct State {
        var waiting: [Pending] = []
        /// True while a writer task runs; it drains `waiting` and then clears the flag (under the lock).
        var writing = false
    }

    private let state = Mutex(State())

    /// Queues `batch` and waits for its results. When no writer runs, starts one that calls `write` with
    /// each group until the queue is empty; `write` must resume every continuation of its group.
    /// Once queued, an append runs to its end even if the calling task is cancelled (it commits or fails).
    func submit(_ batch: [ValidatedEvent], write: @escaping @Sendable ([Pending]) async -> Void) async throws -> [AppendResult] {
        try await withCheckedThrowingContinuation { continuation in
            let leads = state.withLock { state in
                state.waiting.append(Pending(batch: batch, continuation: continuation))
                if state.writing { return false }
                state.writing = true
                return true
            }
            if leads {
                Task {
                    while let group = self.nextGroup() {
                        await write(group)
                    }
                }
            }
        }
    }

    /// Fails every append still waiting (the store is closing).
    func failWaiting(_ error: any Error) {
        let waiting = state.withLock { state in
            defer { state.waiting = [] }
            return state.waiting
        }
        for pending in waiting { pending.continuation.resume(throwing: error) }
    }

    /// Appends queued behind the running transaction.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    private func nextGroup() -> [Pending]? {
        state.withLock { state -> [Pending]? in
            if state.waiting.isEmpty {
                state.writing = false
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
