import BlobHubRealtimeStore
import NIOCore
import Synchronization

/// Fans committed events out to every event loop's shard, in commit order.
///
/// Batches that commit while a shard's loop is still busy with earlier ones are coalesced into one
/// delivery task, so under load each connection gets several events per write and flush (fewer
/// syscalls per event) while an idle node still delivers every commit at once.
final class Hub: Sendable {
    private struct ShardHandle: Sendable {
        let loop: any EventLoop
        let shard: NIOLoopBound<FanoutShard>
        let pending: PendingEvents
    }

    /// Events handed to a shard and not yet taken by its loop; `scheduled` says a delivery task is queued.
    private final class PendingEvents: Sendable {
        private let state = Mutex<(events: [DispatchEvent], scheduled: Bool)>(([], false))

        /// Adds events; returns true when the caller must schedule the delivery task.
        func add(_ events: [DispatchEvent]) -> Bool {
            state.withLock { state in
                state.events.append(contentsOf: events)
                if state.scheduled { return false }
                state.scheduled = true
                return true
            }
        }

        func take() -> [DispatchEvent] {
            state.withLock { state in
                state.scheduled = false
                defer { state.events = [] }
                return state.events
            }
        }
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
            let handle = ShardHandle(loop: loop, shard: NIOLoopBound(FanoutShard(metrics: metrics), eventLoop: loop), pending: PendingEvents())
            shards[ObjectIdentifier(loop)] = handle
            return handle
        }
        return handle.shard.value
    }

    /// Called by the store's commit observer, once per committed batch, in offset order.
    ///
    /// Ordering argument (replay merge relies on it): the events are in the shard's pending list, and a
    /// delivery task that will take them is queued on its loop, before `append` returns and so before
    /// any reader can have seen them; loop tasks run FIFO, so a replay that read them finishes after
    /// they were handed to its connection.
    func dispatch(_ stored: [StoredEvent]) {
        guard !stored.isEmpty else { return }
        // The store acknowledges the publish right after this call: delivery latency starts here.
        let committedAt = NIODeadline.now().uptimeNanoseconds
        let events = stored.map { DispatchEvent($0, committedAt: committedAt) }
        metrics.published(events.count)
        let handles = shards.withLock { Array($0.values) }
        for handle in handles where handle.pending.add(events) {
            handle.loop.execute { handle.shard.value.deliver(handle.pending.take()) }
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
