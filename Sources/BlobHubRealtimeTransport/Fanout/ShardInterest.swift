import BlobHubRealtimeProtocol
import BlobHubRealtimeServices
import Synchronization

/// The keys one shard has subscribers for, readable from any thread.
///
/// The hub consults it before waking a shard's loop: a commit nobody on that loop watches costs no
/// cross-thread wake-up and no round there. Changes only when a key gains its first or loses its last
/// subscriber on the shard, so the lock is rarely contended.
///
/// No event is skipped that a subscriber should get: the key is added when the subscription is
/// registered, before its answer or replay read, so any commit the subscription must see is
/// dispatched after the key is visible here (the commit and the store read order it behind the add).
final class ShardInterest: Sendable {
    private let keys = Mutex<Set<SubscriptionKey>>([])

    func insert(_ key: SubscriptionKey) {
        _ = keys.withLock { $0.insert(key) }
    }

    func remove(_ key: SubscriptionKey) {
        _ = keys.withLock { $0.remove(key) }
    }

    /// Whether any of the events has a key subscribed to on the shard.
    func wantsAny(_ events: [DispatchEvent]) -> Bool {
        keys.withLock { keys in
            guard !keys.isEmpty else { return false }
            return events.contains { event in event.keys.contains(where: keys.contains) }
        }
    }
}
