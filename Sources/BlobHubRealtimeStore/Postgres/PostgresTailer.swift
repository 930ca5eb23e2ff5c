import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Reads every committed event of the shared log — from any node — and hands it to the ``DeliverySequencer``
/// (which gives the commit observer each offset once, in order), and tells the registry observer when another
/// node changed the registry.
///
/// It reads `blobhub_events WHERE log_offset > delivered AND log_offset <= watermark ORDER BY log_offset`: the
/// watermark (``PostgresWatermark``) is an offset at or below which nothing can commit any more, so reading up to it
/// never skips an event that commits later, although appends commit out of offset order. It runs when woken (a
/// NOTIFY of another node, a local commit that found a gap before it, a re-LISTEN) and at least every
/// `pollInterval`, so missed notifications only cost latency. A successful poll also marks the database healthy; a
/// failed one unhealthy (readiness).
final class PostgresTailer: Sendable {
    private struct State {
        var registryVersion: Int64
        var healthy = true
        var stopped = false
        var registryObserver: (@Sendable () -> Void)?
    }

    static let batchLimit = 1000

    let wake = WakeSignal()
    private let sequencer: DeliverySequencer
    private let client: PostgresClient
    private let logger: Logger
    private let pollInterval: Duration
    private let healthTimeout: Duration
    private let queryTimeout: Duration
    private let state: Mutex<State>

    init(client: PostgresClient, sequencer: DeliverySequencer, registryVersion: Int64, pollInterval: Duration,
         healthTimeout: Duration, queryTimeout: Duration, logger: Logger) {
        self.client = client
        self.sequencer = sequencer
        self.healthTimeout = healthTimeout
        self.logger = logger
        self.pollInterval = pollInterval
        self.queryTimeout = queryTimeout
        state = Mutex(State(registryVersion: registryVersion))
    }

    var isHealthy: Bool { state.withLock { $0.healthy && !$0.stopped } }

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
            // A local range still waiting means offsets before it were taken by appends that have not been read:
            // read again at once (the probe waits for those still running).
            if await catchUp(), sequencer.hasGap { continue }
            await wake.wait(timeout: pollInterval)
        }
    }

    /// Ends the loop's waits.
    func stop() {
        state.withLock { $0.stopped = true }
        wake.signal()
    }

    /// Reads and delivers everything after the delivered offset up to a new watermark; false when the database failed.
    private func catchUp() async -> Bool {
        do {
            let (counters, probe) = try await withDeadline(healthTimeout) { [client, logger] in
                (try await PostgresEventRows.counters(client, logger: logger), try await PostgresWatermark.probe(client, logger: logger))
            }
            markHealthy(true)
            noticeRegistryVersion(counters.registryVersion)
            guard probe.taken > sequencer.delivered else { return true }
            // Appends in flight when the probe ran end within milliseconds (their COMMIT is on its way).
            try await withDeadline(queryTimeout) { [client, logger] in
                try await PostgresWatermark.waitUntilSettled(probe, client, interval: .milliseconds(1), logger: logger)
            }
            var last = sequencer.delivered
            while last < probe.taken, !Task.isCancelled {
                let after = last
                let events = try await withDeadline(queryTimeout) { [client, logger] in
                    try await PostgresEventRows.events(client, after: after, through: probe.taken, limit: Self.batchLimit, logger: logger)
                }
                // A full batch ends at its last event; a shorter one reached the watermark (offsets between are
                // unused, rolled back, or pruned meanwhile).
                let through = events.count == Self.batchLimit ? events.last!.offset : probe.taken
                sequencer.submit(.init(after: after, through: through, events: events))
                last = max(through, sequencer.delivered)
            }
            return true
        } catch {
            markHealthy(false, error: error)
            return false
        }
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
