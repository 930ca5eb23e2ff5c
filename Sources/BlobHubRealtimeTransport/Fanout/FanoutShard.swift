import BlobHubRealtimeProtocol
import BlobHubRealtimeServices
import NIOCore

/// The subscription index of one event loop: which of this loop's connections subscribe to a key.
///
/// Confined to its loop (no locks): connections register from their own loop, and the hub's rounds
/// (`Hub.round`) run on that loop, taking committed events in offset order.
final class FanoutShard {
    private var subscribers: [SubscriptionKey: Recipients] = [:]
    private(set) var subscriptionCount = 0
    let allocator = ByteBufferAllocator()
    private let metrics: ServerMetrics
    /// Connections written per round: bounds how long a round keeps the loop from its sockets.
    private let connectionsPerRound: Int
    /// The keys of `subscribers`, for the hub on other threads.
    let interest: ShardInterest

    init(metrics: ServerMetrics, connectionsPerRound: Int, interest: ShardInterest) {
        self.metrics = metrics
        self.connectionsPerRound = max(1, connectionsPerRound)
        self.interest = interest
    }

    /// Adds the connection's subscription to `key`, or updates it (its type filter may have changed).
    func add(_ key: SubscriptionKey, _ handler: WebSocketConnectionHandler, prefix: [UInt8], filtered: Bool) {
        let recipient = Recipient(handler: handler, prefix: prefix, filtered: filtered)
        if subscribers[key] == nil {
            interest.insert(key)
            subscribers[key] = Recipients()
        }
        if subscribers[key]!.upsert(recipient) {
            subscriptionCount += 1
        }
    }

    func remove(_ key: SubscriptionKey, _ handler: WebSocketConnectionHandler) {
        guard subscribers[key]?.remove(handler) == true else { return }
        subscriptionCount -= 1
        if subscribers[key]?.isEmpty == true {
            subscribers[key] = nil
            interest.remove(key)
        }
    }

    /// Connections with frames not yet written, oldest first (each at most once).
    private var waiting = CircularBuffer<WebSocketConnectionHandler>()

    /// Hands committed events to their recipients. Frames are encoded once per distinct subscription
    /// prefix and event and appended to each recipient's batch; nothing is written here.
    ///
    /// Metrics cost nothing per frame: deliveries are counted here and added once per call, and the
    /// latency (commit → handed to the connections) is sampled once per event that reached anyone on
    /// this loop, not once per recipient.
    func deliver(_ events: [DispatchEvent]) {
        var frames = FrameCache(allocator: allocator)
        var delivered = 0
        for event in events {
            frames.reset()
            var recipients = 0
            for key in event.keys {
                // A copy: a recipient that closes during the round may leave the index.
                guard let entries = subscribers[key]?.entries else { continue }
                for entry in entries {
                    switch entry.handler.deliver(event, key: key, entry: entry, frames: &frames) {
                    case .refused:
                        continue
                    case .taken:
                        break
                    case .takenNeedsWrite:
                        waiting.append(entry.handler)
                    }
                    recipients += 1
                }
            }
            if recipients > 0 {
                delivered += recipients
                let now = NIODeadline.now().uptimeNanoseconds
                metrics.deliveryLatency(nanoseconds: Int64(now &- event.committedAt))
            }
        }
        if delivered > 0 { metrics.delivered(delivered) }
    }

    /// Writes the batches of the longest-waiting connections (one write and flush each, whatever
    /// the number of events in it); returns true when connections are still waiting.
    func writeBatches() -> Bool {
        var written = 0
        while written < connectionsPerRound, let handler = waiting.popFirst() {
            handler.writeBatch()
            written += 1
        }
        return !waiting.isEmpty
    }
}

/// One connection's subscription to a key, as the fan-out needs it: no lookup in the connection's
/// own subscription table unless the subscription filters by type.
struct Recipient {
    let handler: WebSocketConnectionHandler
    /// The subscription's encoded notification prefix (`ActiveSubscription.eventPrefix`), shared by the
    /// recipients of a key that spell it alike, so `FrameCache` matches it by identity.
    var prefix: [UInt8]
    /// The subscription has a type filter: check it against the connection's subscription.
    var filtered: Bool
}

/// The subscriptions to one key: an array to iterate (the hot path) and positions for O(1) removal.
struct Recipients {
    private(set) var entries: ContiguousArray<Recipient> = []
    private var positions: [ObjectIdentifier: Int] = [:]

    var isEmpty: Bool { entries.isEmpty }

    /// Adds or replaces the handler's entry; true when it was added.
    mutating func upsert(_ recipient: Recipient) -> Bool {
        var recipient = recipient
        // Equal prefixes share storage: comparing them is then an identity check, not a memcmp.
        if let shared = entries.first?.prefix, shared == recipient.prefix { recipient.prefix = shared }
        let id = ObjectIdentifier(recipient.handler)
        if let position = positions[id] {
            entries[position] = recipient
            return false
        }
        positions[id] = entries.count
        entries.append(recipient)
        return true
    }

    /// False when the handler was not there.
    mutating func remove(_ handler: WebSocketConnectionHandler) -> Bool {
        guard let position = positions.removeValue(forKey: ObjectIdentifier(handler)) else { return false }
        let last = entries.removeLast()
        if position < entries.count {
            entries[position] = last
            positions[ObjectIdentifier(last.handler)] = position
        }
        return true
    }
}

/// Frames of the event being delivered, by subscription prefix.
///
/// Subscribers of one key nearly always share one prefix, so the last frame is checked first: comparing
/// two prefixes is a memcmp (or nothing, when they share storage), much cheaper than hashing one.
struct FrameCache {
    let allocator: ByteBufferAllocator
    private var last: (prefix: [UInt8], frame: ByteBuffer)?
    private var frames: [[UInt8]: ByteBuffer] = [:]

    init(allocator: ByteBufferAllocator) { self.allocator = allocator }

    mutating func reset() {
        last = nil
        if !frames.isEmpty { frames.removeAll(keepingCapacity: true) }
    }

    mutating func frame(prefix: [UInt8], event: DispatchEvent) -> ByteBuffer {
        if let last, last.prefix == prefix { return last.frame }
        let frame: ByteBuffer
        if let cached = frames[prefix] {
            frame = cached
        } else {
            frame = DeliveryFrame.make(prefix: prefix, offset: event.offset, json: event.json, allocator: allocator)
            frames[prefix] = frame
        }
        last = (prefix, frame)
        return frame
    }
}
