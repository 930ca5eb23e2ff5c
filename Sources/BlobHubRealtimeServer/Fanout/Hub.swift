import BlobHubRealtimeStore
import NIOCore
import Synchronization

/// Fans committed events out to every event loop's shard, in commit order.
final class Hub: Sendable {
    private struct ShardHandle: Sendable {
        let loop: any EventLoop
        let shard: NIOLoopBound<FanoutShard>
    }

    private let shards = Mutex<[ObjectIdentifier: ShardHandle]>([:])
    private let metrics: ServerMetrics

    init(metrics: ServerMetrics) {
        self.metrics = metrics
    }

    /// The shard of `loop`; call on that loop.
    func shard(on loop: any EventLoop) -> FanoutShard {
        let handle = shards.withLock { shards in
            if let handle = shards[ObjectIdentifier(loop)] { return handle }
            let handle = ShardHandle(loop: loop, shard: NIOLoopBound(FanoutShard(metrics: metrics), eventLoop: loop))
            shards[ObjectIdentifier(loop)] = handle
            return handle
        }
        return handle.shard.value
    }

    /// Called by the store's commit observer, once per committed batch, in offset order.
    func dispatch(_ stored: [StoredEvent]) {
        guard !stored.isEmpty else { return }
        // The store acknowledges the publish right after this call: delivery latency starts here.
        let committedAt = NIODeadline.now().uptimeNanoseconds
        let events = stored.map { DispatchEvent($0, committedAt: committedAt) }
        metrics.published(events.count)
        let handles = shards.withLock { Array($0.values) }
        for handle in handles {
            handle.loop.execute { handle.shard.value.deliver(events) }
        }
    }

    /// Subscriptions on this node (sums the shards on their loops).
    func subscriptionCount() async -> Int {
        let handles = shards.withLock { Array($0.values) }
        var total = 0
        for handle in handles {
            total += (try? await handle.loop.submit { handle.shard.value.subscriptionCount }.get()) ?? 0
        }
        return total
    }
}
