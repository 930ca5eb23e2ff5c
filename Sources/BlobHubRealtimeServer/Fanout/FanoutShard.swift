import BlobHubRealtimeProtocol
import NIOCore

/// The subscription index of one event loop: which of this loop's connections subscribe to a key.
///
/// Confined to its loop (no locks): connections register from their own loop, and the hub hands
/// each committed batch to every shard as one task on that shard's loop, in offset order.
final class FanoutShard {
    private var subscribers: [SubscriptionKey: [ObjectIdentifier: WebSocketConnectionHandler]] = [:]
    private(set) var subscriptionCount = 0
    let allocator = ByteBufferAllocator()
    private let metrics: ServerMetrics

    init(metrics: ServerMetrics) {
        self.metrics = metrics
    }

    func add(_ key: SubscriptionKey, _ handler: WebSocketConnectionHandler) {
        if subscribers[key, default: [:]].updateValue(handler, forKey: ObjectIdentifier(handler)) == nil {
            subscriptionCount += 1
        }
    }

    func remove(_ key: SubscriptionKey, _ handler: WebSocketConnectionHandler) {
        guard var handlers = subscribers[key], handlers.removeValue(forKey: ObjectIdentifier(handler)) != nil else { return }
        subscriptionCount -= 1
        subscribers[key] = handlers.isEmpty ? nil : handlers
    }

    /// Connections written to during the current batch, flushed once when it ends.
    private var unflushed: [WebSocketConnectionHandler] = []

    /// Delivers committed events. Frames are encoded once per distinct subscription prefix and event;
    /// each connection is flushed once per call, however many events it received.
    ///
    /// Metrics cost nothing per frame: deliveries are counted here and added once per batch, and the
    /// latency is sampled once per event that reached anyone on this loop (not once per recipient).
    func deliver(_ events: [DispatchEvent]) {
        var frames = FrameCache(allocator: allocator)
        var delivered = 0
        for event in events {
            frames.reset()
            var recipients = 0
            for key in event.keys {
                guard let handlers = subscribers[key] else { continue }
                for handler in handlers.values where handler.deliver(event, key: key, frames: &frames, unflushed: &unflushed) {
                    recipients += 1
                }
            }
            if recipients > 0 {
                delivered += recipients
                let now = NIODeadline.now().uptimeNanoseconds
                metrics.deliveryLatency(nanoseconds: Int64(now &- event.committedAt))
            }
        }
        for handler in unflushed { handler.flushDeferred() }
        unflushed.removeAll(keepingCapacity: unflushed.count < 4096)
        if delivered > 0 { metrics.delivered(delivered) }
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
