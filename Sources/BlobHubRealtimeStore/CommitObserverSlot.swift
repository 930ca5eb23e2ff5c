import Synchronization

/// Holds a store's commit observer (``RealtimeStore/setCommitObserver(_:)``).
///
/// The closure sits in a class box on purpose: a closure stored directly in a generic `Mutex` and read
/// with `withLock { $0 }` is reabstracted on the inout access and the written-back value wraps the
/// previous one in one more thunk, so every append made the next observer call slower (a profile of a
/// long publish run showed two thirds of the server's CPU in those nested thunks). A class reference
/// round-trips unchanged.
final class CommitObserverSlot: Sendable {
    private final class Box: Sendable {
        let observer: @Sendable ([StoredEvent]) -> Void
        init(_ observer: @escaping @Sendable ([StoredEvent]) -> Void) { self.observer = observer }
    }

    private let box = Mutex<Box?>(nil)

    func set(_ observer: @escaping @Sendable ([StoredEvent]) -> Void) {
        let new = Box(observer)
        box.withLock { $0 = new }
    }

    /// Calls the observer, if one is set, with a non-empty batch.
    func notify(_ events: [StoredEvent]) {
        guard !events.isEmpty, let current = box.withLock({ $0 }) else { return }
        current.observer(events)
    }
}
