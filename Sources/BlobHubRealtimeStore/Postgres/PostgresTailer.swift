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
/// failed one unhealthy (readiness). Each round also carries this node's pending commit announcement
/// (``CommitNotifier``); the writer wakes the tailer when there is one. A round does not read this node's own commits
/// that wait in the sequencer behind a gap (schema version 6): it adds them from memory to what it read. While the
/// node has no subscription (``FanoutInterest``) a round reads no events at all (docs/cluster.md, "Nodes without
/// subscriptions").
final class PostgresTailer: Sendable {
    private struct State {
        var registryVersion: Int64
        var healthy = true
        var stopped = false
        var registryObserver: (@Sendable () -> Void)?
        /// What the node's fan-out wants (nil: read every event).
        var fanoutInterest: (@Sendable () -> FanoutInterest)?
        var rounds = 0
        /// Rounds that followed a busy one, and the shortest time from such a round's start to the next's.
        var roundsAfterBusy = 0
        var shortestGapAfterBusy: Duration?
        /// Events read from the table (tests check held events are not read again).
        var rowsRead = 0
        /// Rounds that left the other nodes' events unread.
        var unreadRounds = 0
    }

    static let batchLimit = 1000

    /// At most this many held offsets are left out of a round's read. The database compares each row read with each
    /// of them: with batched publishes a node holds thousands, and the rounds took 30–115 ms (against a few with
    /// single-event publishes, ~26 held per round on three busy nodes).
    static let heldSkipLimit = 64

    let wake = WakeSignal()
    private let sequencer: DeliverySequencer
    /// This node's commits to announce to the other nodes, sent with the next round.
    private let notifier: CommitNotifier
    private let client: PostgresClient
    private let deadlines: CallDeadlines
    private let logger: Logger
    private let pollInterval: Duration
    private let healthTimeout: Duration
    private let state: Mutex<State>

    init(client: PostgresClient, deadlines: CallDeadlines, sequencer: DeliverySequencer, notifier: CommitNotifier, registryVersion: Int64,
         pollInterval: Duration, healthTimeout: Duration, logger: Logger) {
        self.client = client
        self.deadlines = deadlines
        self.sequencer = sequencer
        self.notifier = notifier
        self.healthTimeout = healthTimeout
        self.logger = logger
        self.pollInterval = pollInterval
        state = Mutex(State(registryVersion: registryVersion))
    }

    var isHealthy: Bool { state.withLock { $0.healthy && !$0.stopped } }

    func setRegistryObserver(_ observer: @escaping @Sendable () -> Void) {
        state.withLock { $0.registryObserver = observer }
    }

    func setFanoutInterest(_ interest: @escaping @Sendable () -> FanoutInterest) {
        state.withLock { $0.fanoutInterest = interest }
    }

    private var fanoutInterest: FanoutInterest? { state.withLock { $0.fanoutInterest }?() }

    /// True once a subscription key was added after `interest` was asked.
    private func keyAdded(since interest: FanoutInterest) -> Bool { fanoutInterest?.keysAdded != interest.keysAdded }

    /// This node wrote registry version `version`; skip the reload unless another node also wrote in between.
    func noteOwnRegistryVersion(_ version: Int64) {
        state.withLock { state in
            if version == state.registryVersion + 1 { state.registryVersion = version }
        }
    }

    /// The loop; returns when the task is cancelled (then `stop()` has been called).
    func run() async {
        var previous: PostgresWatermark.Probe?
        var lastStart: ContinuousClock.Instant?
        var interval = Self.minimumRoundInterval
        while !Task.isCancelled {
            if let lastStart, lastStart + interval > .now {
                try? await Task.sleep(until: lastStart + interval)
                if Task.isCancelled { return }  // the store is closing: no round on a pool shutting down
            }
            let now = ContinuousClock.now
            state.withLock { state in
                state.rounds += 1
                if let lastStart, interval == Self.busyRoundInterval {
                    state.roundsAfterBusy += 1
                    let gap = now - lastStart
                    state.shortestGapAfterBusy = state.shortestGapAfterBusy.map { min($0, gap) } ?? gap
                }
            }
            lastStart = now
            var read = 0
            let outcome = await catchUp(&previous, read: &read)
            interval = read >= Self.busyRoundEvents ? Self.busyRoundInterval : Self.minimumRoundInterval
            switch outcome {
            case .failed:
                await wake.wait(timeout: pollInterval)
            case .waiting:
                // Appends were running at the probe: they end within milliseconds, and their NOTIFY (another
                // node's) or this node's commit wakes the loop sooner.
                await wake.wait(timeout: Self.settleInterval)
            case .current:
                // A local range still waiting took its offsets after this round's probe: probe again at once.
                if sequencer.hasGap { continue }
                await wake.wait(timeout: pollInterval)
            }
        }
    }

    /// How long the loop waits, at most, before checking again whether the appends of its last probe ended. Most
    /// end sooner and wake it: another node's commit by its notification, this node's by its writer. Shorter polls
    /// cost a tailer round each (measured: at 2 ms, three busy nodes spent more on rounds than on appends).
    static let settleInterval: Duration = .milliseconds(5)

    /// Rounds start at least this far apart. A busy node is woken far more often (each commit of its own that
    /// found a gap, each announcement of another node): one round per wake cost the database a lock-table
    /// reading and a read each, ~300 rounds per second per node on three busy nodes, so the database's load
    /// grew with the number of nodes. Coalesced, a round reads everything committed meanwhile; the price is up
    /// to this much delivery latency on a busy node, none on a quiet one (its rounds are further apart).
    /// Measured (3 nodes, wrk, one machine): 5.5–5.8k → 6.2k events/s, PostgreSQL CPU 91–96 → 83–86 %;
    /// cross-node latency p99 at 100 events/s 6.1 → 7.6 ms.
    static let minimumRoundInterval: Duration = .milliseconds(4)

    /// After a round that read at least ``busyRoundEvents`` events, the next starts at least this far after it
    /// (instead of ``minimumRoundInterval``). A round's cost is mostly fixed (a lock-table reading, a round trip,
    /// a delivery cycle on the node's loop), so on a busy cluster fewer, fuller rounds leave more CPU to the
    /// appends and deliver more events per socket write; a quiet node (its rounds read fewer: under ~750 events/s
    /// read by it) keeps 4 ms. Measured (3 nodes on one 2-core machine, two A/B pairs): single-event publish 7.3–7.7k → 8.3–8.4k
    /// events/s, publish p50 4.0–4.2 → 3.6–3.7 ms; cross-node latency at 100 events/s (rounds of < 1 event) and
    /// fan-out within run-to-run noise. 16 ms gained a little more throughput and was not taken: it is the
    /// delivery latency a busy node may add.
    static let busyRoundInterval: Duration = .milliseconds(8)
    static let busyRoundEvents = 3

    /// Rounds started since the store opened (tests check the interval holds under a flood of wakes).
    var rounds: Int { state.withLock { $0.rounds } }

    /// Rounds that followed a busy one, and the shortest gap before them (tests check ``busyRoundInterval``).
    var afterBusyRounds: (count: Int, shortestGap: Duration?) {
        state.withLock { ($0.roundsAfterBusy, $0.shortestGapAfterBusy) }
    }

    /// Events the rounds read from the table since the store opened.
    var rowsRead: Int { state.withLock { $0.rowsRead } }

    /// Rounds that left the other nodes' events unread (the node had no subscription).
    var unreadRounds: Int { state.withLock { $0.unreadRounds } }

    /// Two ascending lists of events as one, each offset once.
    static func merge(_ read: [StoredEvent], _ held: some Collection<StoredEvent>) -> [StoredEvent] {
        if held.isEmpty { return read }
        var merged: [StoredEvent] = []
        merged.reserveCapacity(read.count + held.count)
        var (i, j) = (read.startIndex, held.startIndex)
        while i < read.endIndex || j < held.endIndex {
            let next: StoredEvent
            if j == held.endIndex || (i < read.endIndex && read[i].offset <= held[j].offset) {
                next = read[i]
                read.formIndex(after: &i)
            } else {
                next = held[j]
                held.formIndex(after: &j)
            }
            if merged.last.map({ $0.offset < next.offset }) ?? true { merged.append(next) }
        }
        return merged
    }

    /// Ends the loop's waits.
    func stop() {
        state.withLock { $0.stopped = true }
        wake.signal()
    }

    private enum Outcome { case failed, waiting, current }

    /// One round trip: delivers everything after the delivered offset up to the watermark this round allows.
    /// `previous` is the last probe that has not settled yet (the next round checks it).
    /// `read` counts the events the round read.
    private func catchUp(_ previous: inout PostgresWatermark.Probe?, read: inout Int) async -> Outcome {
        do {
            var outcome = Outcome.current
            repeat {
                let after = sequencer.delivered
                let prior = previous
                let announce = notifier.takeAnnouncement()
                // This node's own commits waiting behind a gap: not read from the table again (the lowest
                // `heldSkipLimit` of them; any others are read, and the merge keeps one copy).
                let held = sequencer.held(after: after)
                let skipped = held.prefix(Self.heldSkipLimit).map(\.offset)
                // A node without subscriptions reads no events: nobody here would get them (its own, held, still go
                // to the observer). The limit 0 leaves the database's read out of the round. `unreadSince`: the
                // interest an unread round was decided by (nil: the round reads).
                let unreadSince = fanoutInterest.flatMap { $0.hasSubscriptions ? nil : $0 }
                let reads = unreadSince == nil
                let round = try await withDeadline(healthTimeout, deadlines) { [client, logger] in
                    try await PostgresWatermark.round(client, after: after, previous: prior, limit: reads ? Self.batchLimit : 0,
                                                      announce: announce, held: reads ? skipped : [], logger: logger)
                }
                markHealthy(true)
                state.withLock {
                    $0.rowsRead += round.events.count
                    if !reads { $0.unreadRounds += 1 }
                }
                logger.trace("tailer round", metadata: ["after": "\(after)", "watermark": "\(round.watermark.map(String.init) ?? "none")",
                                                        "taken": "\(round.probe.taken)", "pending": "\(round.probe.pending)",
                                                        "events": "\(round.events.count)", "previous": "\(prior.map { "\($0.taken) \($0.pending)" } ?? "none")"])
                noticeRegistryVersion(round.registryVersion)
                if let watermark = round.watermark, watermark > after {
                    // A full batch ends at its last event; a shorter one reached the watermark (offsets between are
                    // unused, rolled back, or pruned meanwhile).
                    let through = reads && round.events.count == Self.batchLimit ? round.events.last!.offset : watermark
                    let events = Self.merge(round.events, held.prefix { $0.offset <= through })
                    // An unread round counts the offsets it covers (busy rounds are spaced wider either way).
                    read += reads ? events.count : Int(clamping: through - after)
                    var range = DeliverySequencer.Range(after: after, through: through, events: events)
                    if let unreadSince {
                        // A subscription that started during this round may have read the table below its range
                        // (its replay ends at the sequencer's readable offset): then the range is dropped unused and
                        // read again, in full. The sequencer asks when it takes the range, so no replay's bound can
                        // fall between the check and the range's use.
                        range.stillValid = { [weak self, wake] in
                            guard let self, self.keyAdded(since: unreadSince) else { return true }
                            wake.signal()
                            return false
                        }
                    }
                    sequencer.submit(range)
                    if let unreadSince, keyAdded(since: unreadSince) {
                        continue  // read again from what was delivered (the range was dropped, or a key came after it)
                    }
                    if through < watermark { continue }  // more to read up to this watermark
                }
                // The new probe replaces one that settled (or keeps waiting on the older one when it did not).
                if round.watermark != nil || previous == nil || round.probe.isSettled { previous = round.probe.isSettled ? nil : round.probe }
                outcome = previous == nil ? .current : .waiting
                break
            } while !Task.isCancelled
            return outcome
        } catch {
            markHealthy(false, error: error)
            return .failed
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
