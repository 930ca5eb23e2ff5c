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

    /// Delivers a committed batch. Frames are encoded once per distinct subscription prefix and event.
    func deliver(_ events: [DispatchEvent]) {
        var frames = FrameCache(allocator: allocator)
        for event in events {
            frames.reset()
            for key in event.keys {
                guard let handlers = subscribers[key] else { continue }
                for handler in handlers.values {
                    handler.deliver(event, key: key, frames: &frames)
                }
            }
        }
    }
}

/// Frames of the event being delivered, by subscription prefix.
struct FrameCache {
    let allocator: ByteBufferAllocator
    private var frames: [[UInt8]: ByteBuffer] = [:]

    init(allocator: ByteBufferAllocator) { self.allocator = allocator }

    mutating func reset() {
        if !frames.isEmpty { frames.removeAll(keepingCapacity: true) }
    }

    mutating func frame(prefix: [UInt8], event: DispatchEvent) -> ByteBuffer {
        if let frame = frames[prefix] { return frame }
        let frame = DeliveryFrame.make(prefix: prefix, offset: event.offset, json: event.json, allocator: allocator)
        frames[prefix] = frame
        return frame
    }
}
