import BlobHubRealtimeServices
import BlobHubRealtimeStore
import NIOCore
import Synchronization

/// Fans committed events out to every event loop's shard, in commit order.
///
/// Each shard works in rounds on its loop. A round hands every event that arrived since the last
/// round to its recipients (appending frames to their `DeliveryBatch`, no syscall), then writes the
/// batches of up to `ServerConfiguration.fanoutConnectionsPerRound` connections, oldest first. When connections are
/// left, the next round starts after the loop has served its sockets once (`yieldInterval`), so a
/// large fan-out never starves publish requests, and connections still waiting collect the events
/// that arrive meanwhile into the same write: under load, several events per `write(2)`; when idle,
/// every commit is written at once.
package final class Hub: Sendable {
    private struct ShardHandle: Sendable {
        let loop: any EventLoop
        let shard: NIOLoopBound<FanoutShard>
        let pending: PendingEvents
        let interest: ShardInterest
    }

    /// How long a shard with connections left to write lets its loop serve other work before the next
    /// round. Any delay makes NIO finish its task phase and poll its sockets; tasks due at once would run
    /// in the same tick. Short, because rounds are short (32 connections): on an idle node a fan-out to
    /// 5,000 connections of one loop takes ~160 rounds, and 50 µs each would add 8 ms of idling.
    static let yieldInterval = TimeAmount.microseconds(10)

    private let shards = Mutex<[ObjectIdentifier: ShardHandle]>([:])
    private let interest = NodeInterest()
    private let metrics: ServerMetrics
    private let connectionsPerRound: Int

    package init(metrics: ServerMetrics, connectionsPerRound: Int) {
        self.metrics = metrics
        self.connectionsPerRound = connectionsPerRound
    }

    /// The shard of `loop`; call on that loop.
    func shard(on loop: any EventLoop) -> FanoutShard {
        let handle = shards.withLock { shards in
            if let handle = shards[ObjectIdentifier(loop)] { return handle }
            let interest = ShardInterest(node: self.interest)
            let shard = FanoutShard(metrics: metrics, connectionsPerRound: connectionsPerRound, interest: interest)
            let handle = ShardHandle(loop: loop, shard: NIOLoopBound(shard, eventLoop: loop), pending: PendingEvents(), interest: interest)
            shards[ObjectIdentifier(loop)] = handle
            return handle
        }
        return handle.shard.value
    }

    /// Called by the store's commit observer, once per committed batch, in offset order.
    ///
    /// Ordering: rounds take events in the order they were added and a connection's batch keeps them in
    /// that order, so every connection sees its events in offset order. A round may run after a replay
    /// that already read some of its events from the store; the connection drops those
    /// (`replayedThrough`), as it does for the PostgreSQL tailer, which always dispatches after commit.
    package func dispatch(_ stored: [StoredEvent]) {
        guard !stored.isEmpty else { return }
        // The store acknowledges the publish right after this call: delivery latency starts here.
        let committedAt = NIODeadline.now().uptimeNanoseconds
        let events = stored.map { DispatchEvent($0, committedAt: committedAt) }
        metrics.published(events.count)
        let handles = shards.withLock { Array($0.values) }
        // Only shards with a subscriber for one of the keys: others are not woken at all.
        for handle in handles where handle.interest.wantsAny(events) && handle.pending.add(events) {
            handle.loop.execute { self.round(handle) }
        }
    }

    /// One delivery round on the shard's loop.
    private func round(_ handle: ShardHandle) {
        let shard = handle.shard.value
        let events = handle.pending.take()
        if !events.isEmpty { shard.deliver(events) }
        let connectionsLeft = shard.writeBatches()
        switch handle.pending.finish(connectionsLeft: connectionsLeft) {
        case .idle:
            return
        case .now:
            handle.loop.execute { self.round(handle) }
        case .afterYield:
            handle.loop.scheduleTask(in: Self.yieldInterval) { self.round(handle) }
        }
    }

    /// Whether any connection of the node subscribes to anything, and how many keys were added (for the store).
    package var fanoutInterest: FanoutInterest { interest.snapshot }

    /// Subscriptions on this node (sums the shards on their loops).
    package func subscriptionCount() async -> Int {
        let handles = shards.withLock { Array($0.values) }
        var total = 0
        for handle in handles {
            total += (try? await handle.loop.submit { handle.shard.value.subscriptionCount }.get()) ?? 0
        }
        return total
    }
}

/// Events handed to a shard and not yet taken by a round, and whether a round is due.
final class PendingEvents: Sendable {
    private struct State {
        var events: [DispatchEvent] = []
        /// A round is queued or running; it (or the one it schedules) will take new events.
        var active = false
    }

    private let state = Mutex(State())

    /// Adds events; true when the caller must start a round.
    func add(_ events: [DispatchEvent]) -> Bool {
        state.withLock { state in
            state.events.append(contentsOf: events)
            if state.active { return false }
            state.active = true
            return true
        }
    }

    /// Every pending event, for the round that starts.
    func take() -> [DispatchEvent] {
        state.withLock { state in
            defer { state.events = [] }
            return state.events
        }
    }

    enum Next: Equatable {
        case idle
        /// Events arrived during the round: deliver them at once.
        case now
        /// Connections are still waiting for their write: let the loop serve its sockets first.
        case afterYield
    }

    /// The end of a round: whether and when another round must follow.
    func finish(connectionsLeft: Bool) -> Next {
        state.withLock { state in
            state.active = connectionsLeft || !state.events.isEmpty
            if connectionsLeft { return .afterYield }
            return state.active ? .now : .idle
        }
    }
}
