import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Delivers every committed event of the shared log — from any node — to the commit observer, in offset order,
/// exactly once, and tells the registry observer when another node changed the registry.
///
/// It reads `blobhub_events WHERE log_offset > delivered ORDER BY log_offset`. Because offsets are handed out in
/// commit order (see docs/cluster.md), every snapshot sees a gap-free prefix of the log, so "everything after the
/// last delivered offset" never skips an event that commits later. It runs when woken (a NOTIFY, a local commit,
/// a re-LISTEN) and at least every `pollInterval`, so missed notifications only cost latency. A successful poll
/// also marks the database healthy; a failed one unhealthy (readiness).
final class PostgresTailer: Sendable {
    private struct Waiter {
        var offset: Int64
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var delivered: Int64
        var registryVersion: Int64
        var healthy = true
        var stopped = false
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiterID: UInt64 = 0
        var observer: (@Sendable ([StoredEvent]) -> Void)?
        var registryObserver: (@Sendable () -> Void)?
    }

    static let batchLimit = 1000

    let wake = WakeSignal()
    private let client: PostgresClient
    private let logger: Logger
    private let pollInterval: Duration
    private let healthTimeout: Duration
    private let queryTimeout: Duration
    private let state: Mutex<State>

    init(client: PostgresClient, head: Int64, registryVersion: Int64, pollInterval: Duration, healthTimeout: Duration,
         queryTimeout: Duration, logger: Logger) {
        self.client = client
        self.healthTimeout = healthTimeout
        self.logger = logger
        self.pollInterval = pollInterval
        self.queryTimeout = queryTimeout
        state = Mutex(State(delivered: head, registryVersion: registryVersion))
    }

    var isHealthy: Bool { state.withLock { $0.healthy && !$0.stopped } }
    var deliveredThrough: Int64 { state.withLock { $0.delivered } }

    func setObserver(_ observer: @escaping @Sendable ([StoredEvent]) -> Void) {
        state.withLock { $0.observer = observer }
    }

    func setRegistryObserver(_ observer: @escaping @Sendable () -> Void) {
        state.withLock { $0.registryObserver = observer }
    }

    /// This node wrote registry version `version`; skip the reload unless another node also wrote in between.
    func noteOwnRegistryVersion(_ version: Int64) {
        state.withLock { state in
            if version == state.registryVersion + 1 { state.registryVersion = version }
        }
    }

    /// The loop; returns when the task is cancelled (then `stop()` has been called).
    func run() async {
        while !Task.isCancelled {
            await catchUp()
            await wake.wait(timeout: pollInterval)
        }
    }

    /// Ends the loop's waits and releases every waiting append.
    func stop() {
        let waiters = state.withLock { state -> [Waiter] in
            state.stopped = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.continuation.resume() }
        wake.signal()
    }

    /// Waits until everything through `offset` went to the observer, at most `timeout` (the event is committed
    /// either way; the wait only keeps "queued for local subscribers when publish returns").
    func waitUntilDelivered(through offset: Int64, timeout: Duration) async {
        wake.signal()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id = state.withLock { state -> UInt64? in
                if state.stopped || state.delivered >= offset { return nil }
                state.nextWaiterID += 1
                state.waiters[state.nextWaiterID] = Waiter(offset: offset, continuation: continuation)
                return state.nextWaiterID
            }
            guard let id else {
                continuation.resume()
                return
            }
            Task {
                try? await Task.sleep(for: timeout)
                let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.continuation.resume()
            }
        }
    }

    private func catchUp() async {
        do {
            let counters = try await withDeadline(healthTimeout) { [client, logger] in
                try await PostgresEventRows.counters(client, logger: logger)
            }
            markHealthy(true)
            noticeRegistryVersion(counters.registryVersion)
            var last = deliveredThrough
            while last < counters.head, !Task.isCancelled {
                let after = last
                let events = try await withDeadline(queryTimeout) { [client, logger] in
                    try await PostgresEventRows.events(client, after: after, limit: Self.batchLimit, logger: logger)
                }
                // Nothing retained between `last` and head: pruned meanwhile; skip to head.
                last = events.last?.offset ?? counters.head
                deliver(events, through: last)
            }
        } catch {
            markHealthy(false, error: error)
        }
    }

    private func deliver(_ events: [StoredEvent], through offset: Int64) {
        // Only this loop calls the observer, so calls never overlap and follow offset order.
        if !events.isEmpty, let observer = state.withLock({ $0.observer }) {
            observer(events)
        }
        let ready = state.withLock { state -> [Waiter] in
            state.delivered = max(state.delivered, offset)
            let done = state.waiters.filter { $0.value.offset <= state.delivered }
            for id in done.keys { state.waiters[id] = nil }
            return Array(done.values)
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    private func noticeRegistryVersion(_ version: Int64) {
        let observer = state.withLock { state -> (@Sendable () -> Void)? in
            guard version != state.registryVersion else { return nil }
            state.registryVersion = version
            return state.registryObserver
        }
        observer?()
    }

    private func markHealthy(_ healthy: Bool, error: (any Error)? = nil) {
        let changed = state.withLock { state -> Bool in
            defer { state.healthy = healthy }
            return state.healthy != healthy
        }
        if changed {
            if healthy {
                logger.info("PostgreSQL reachable again")
            } else {
                logger.error("PostgreSQL unreachable", metadata: ["error": "\(error.map { String(reflecting: $0) } ?? "unknown")"])
            }
        }
    }
}
