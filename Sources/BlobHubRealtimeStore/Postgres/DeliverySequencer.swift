import Synchronization

/// Hands committed events to the commit observer in offset order, exactly once, from two sources:
///
/// * the events this node has just committed, known in memory (``PostgresStore`` submits them right after
///   COMMIT): delivered at once when every offset before them has been delivered, so a publish on a single
///   node costs no table read and no notification cycle;
/// * the tailer's reads of the table (events of every node), which also fill any gap before a local range.
///
/// A range `(after, through]` can be delivered once `delivered >= after`; its events at or below `delivered`
/// were already handed over and are dropped. Whoever submits while nobody delivers becomes the deliverer
/// and drains every deliverable range, so observer calls never overlap and offsets only grow.
final class DeliverySequencer: Sendable {
    struct Range: Sendable {
        /// The highest offset before this range (the head the committing transaction saw).
        var after: Int64
        /// The range's last offset (may be past its last event: pruned or, for a table read, nothing newer).
        var through: Int64
        /// Ascending offsets within `(after, through]`.
        var events: [StoredEvent]
        /// Asked when the range is taken (under the sequencer's lock, so no read of ``readable`` falls between the
        /// check and the range's use): false drops the range unused. The tailer's rounds that left the other nodes'
        /// events unread (``FanoutInterest``) pass one that fails once a subscription key was added since.
        var stillValid: (@Sendable () -> Bool)? = nil
    }

    private struct Waiter {
        var offset: Int64
        var done: @Sendable () -> Void
    }

    /// One range taken by the deliverer: what the observer gets, and how far `delivered` moves after it.
    private struct Step {
        var events: [StoredEvent]
        var through: Int64
        var observer: (@Sendable ([StoredEvent]) -> Void)?
    }

    private struct State {
        var delivered: Int64
        /// Through here the store's reads may go: every range up to it has been taken for the observer (some
        /// perhaps not handed over yet). Moves before the observer call, `delivered` after it.
        var readable: Int64
        var pending: [Range] = []
        var delivering = false
        var stopped = false
        var observer: (@Sendable ([StoredEvent]) -> Void)?
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiterID: UInt64 = 0
    }

    private let state: Mutex<State>

    init(delivered: Int64) {
        state = Mutex(State(delivered: delivered, readable: delivered))
    }

    /// Everything through this offset went to the observer.
    var delivered: Int64 { state.withLock { $0.delivered } }

    /// The bound of a replay's read of the table (``PostgresStore``): nothing at or below it can still commit, and
    /// everything after it reaches the observer later. It moves when a range is taken, before the observer gets the
    /// range's events: a subscription whose key the fan-out saw only after the observer call started still finds
    /// those events in its replay (moved after the call, as `delivered` does, its replay could end below them;
    /// the fan-out drops a live event its replay already had).
    var readable: Int64 { state.withLock { $0.readable } }

    /// True while a submitted range waits for offsets before it (the tailer must read the table).
    var hasGap: Bool { state.withLock { state in state.pending.contains { $0.after > state.delivered } } }

    /// The events of submitted ranges still waiting, past `after`, in offset order: this node's own commits held
    /// behind a gap. The tailer does not read them from the table again (``PostgresTailer``) and adds them to the
    /// range it reads; the sequencer drops whichever copy comes second.
    func held(after: Int64) -> [StoredEvent] {
        state.withLock { state in
            state.pending.flatMap { range in range.events.lazy.filter { $0.offset > after } }
        }.sorted { $0.offset < $1.offset }
    }

    func setObserver(_ observer: @escaping @Sendable ([StoredEvent]) -> Void) {
        state.withLock { $0.observer = observer }
    }

    /// Delivers `range` now if nothing is missing before it (and whatever became deliverable with it);
    /// returns false when it has to wait for a gap to be filled.
    @discardableResult
    func submit(_ range: Range) -> Bool {
        let drain = state.withLock { state -> Bool in
            if range.through > state.delivered { state.pending.append(range) }
            if state.delivering { return false }
            state.delivering = true
            return true
        }
        if drain { self.drain() }
        return state.withLock { $0.delivered >= range.through }
    }

    /// Calls `done` once everything through `offset` went to the observer, or after `timeout` (the events
    /// are committed either way), or when the sequencer stops.
    func whenDelivered(through offset: Int64, timeout: Duration, _ done: @escaping @Sendable () -> Void) {
        let id = state.withLock { state -> UInt64? in
            if state.stopped || state.delivered >= offset { return nil }
            state.nextWaiterID += 1
            state.waiters[state.nextWaiterID] = Waiter(offset: offset, done: done)
            return state.nextWaiterID
        }
        guard let id else { return done() }
        Task {
            try? await Task.sleep(for: timeout)
            self.state.withLock { $0.waiters.removeValue(forKey: id) }?.done()
        }
    }

    /// Releases every waiter; later submissions are still delivered (the store is closing).
    func stop() {
        let waiters = state.withLock { state -> [Waiter] in
            state.stopped = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.done() }
    }

    /// Runs with `delivering` set: one deliverable range per step, the observer called outside the lock,
    /// `delivered` (and the waiters it releases) advanced only after the observer returned.
    private func drain() {
        var step: Step?
        while true {
            let (next, released) = state.withLock { state -> (Step?, [Waiter]) in
                var released: [Waiter] = []
                if let done = step {
                    state.delivered = max(state.delivered, done.through)
                    let ready = state.waiters.filter { $0.value.offset <= state.delivered }
                    for id in ready.keys { state.waiters[id] = nil }
                    released = Array(ready.values)
                }
                let delivered = state.delivered
                state.pending.removeAll { $0.through <= delivered }
                guard let index = state.pending.firstIndex(where: { $0.after <= delivered }) else {
                    state.delivering = false
                    return (nil, released)
                }
                let range = state.pending.remove(at: index)
                if let stillValid = range.stillValid, !stillValid() {
                    // Dropped unused; the tailer reads the range again (``PostgresTailer``).
                    return (Step(events: [], through: delivered, observer: nil), released)
                }
                state.readable = max(state.readable, range.through)
                let events = range.events.first.map { $0.offset > delivered } == true
                    ? range.events : range.events.filter { $0.offset > delivered }
                return (Step(events: events, through: range.through, observer: state.observer), released)
            }
            for waiter in released { waiter.done() }
            guard let next else { return }
            if !next.events.isEmpty { next.observer?(next.events) }
            step = next
        }
    }
}
