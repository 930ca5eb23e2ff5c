import BlobHubRealtimeProtocol
import BlobHubRealtimeServices
import BlobHubRealtimeStore
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
    /// The node's count over all shards, for the store (``NodeInterest``).
    private let node: NodeInterest

    init(node: NodeInterest) {
        self.node = node
    }

    /// Called before the subscription's answer or replay read (see above): a cluster store that left other nodes'
    /// events unread while the node had no key reads them again when a key came during its read (``FanoutInterest``).
    func insert(_ key: SubscriptionKey) {
        if keys.withLock({ $0.insert(key).inserted }) { node.added() }
    }

    func remove(_ key: SubscriptionKey) {
        if keys.withLock({ $0.remove(key) }) != nil { node.removed() }
    }

    /// Whether any of the events has a key subscribed to on the shard.
    func wantsAny(_ events: [DispatchEvent]) -> Bool {
        keys.withLock { keys in
            guard !keys.isEmpty else { return false }
            return events.contains { event in event.keys.contains(where: keys.contains) }
        }
    }
}

/// The subscription keys of all of a node's shards, counted, and how many were ever added: what the store's cluster
/// tailer asks before and after each read (``FanoutInterest``).
final class NodeInterest: Sendable {
    private let state = Mutex((keys: 0, added: UInt64(0)))

    func added() {
        state.withLock { state in
            state.keys += 1
            state.added &+= 1
        }
    }

    func removed() {
        state.withLock { $0.keys -= 1 }
    }

    var snapshot: FanoutInterest {
        state.withLock { FanoutInterest(hasSubscriptions: $0.keys > 0, keysAdded: $0.added) }
    }
}
