import Logging
import PostgresNIO
import Synchronization

/// Appends: queued, then written by the node's writer (``PostgresStore/writers``), all appends queued meanwhile in
/// one statement (group commit, ``PostgresAppendGroup``). After COMMIT the node hands its own events to its
/// fan-out at once (``DeliverySequencer``) unless offsets before them are still outstanding (another node's
/// appends, or another group of this node's when it runs more than one writer); then the tailer reads them up to
/// the watermark. Other nodes learn of them through the log
/// (NOTIFY → tailer).
extension PostgresStore {
    public func append(_ events: [NewEvent]) async throws -> [AppendResult] {
        try await withCheckedThrowingContinuation { continuation in
            append(events, answersFirst: false) { continuation.resume(with: $0) }
        }
    }

    /// The completion runs right after COMMIT, before this node's fan-out gets the events (at once when
    /// nothing before them is outstanding, else once the tailer read up to them); the async ``append(_:)``
    /// returns once they are handed to the fan-out.
    public func append(_ events: [NewEvent], completion: @escaping @Sendable (Result<[AppendResult], any Error>) -> Void) {
        append(events, answersFirst: true, completion: completion)
    }

    private func append(_ events: [NewEvent], answersFirst: Bool,
                        completion: @escaping @Sendable (Result<[AppendResult], any Error>) -> Void) {
        let validated: [ValidatedEvent]
        do {
            validated = try ValidatedEvent.validate(events)
            try checkOpen()
        } catch {
            return completion(.failure(error))
        }
        if validated.isEmpty { return completion(.success([])) }
        guard appendQueue.enqueue(.init(batch: validated, complete: completion, answersFirst: answersFirst)) else { return }
        writer.eventLoop.execute { self.writeNext(afterGroupOf: 0) }
    }

    /// How long the writer lets appends gather before its next statement, if at all: only when the group it just
    /// wrote held at least ``gatherAfterGroupOf`` appends (many concurrent publishers) and fewer than that are waiting
    /// now. A statement costs the database and the node about the same whether it carries 5 events or 10
    /// (docs/cluster.md, "Append"); the appends of concurrent publishers arrive spread over the previous statement's
    /// round trip, and without a pause the writer takes the few that arrived first and leaves the rest for one more
    /// statement. With a few publishers the pause costs more than it saves: each waits for its acknowledgement, so
    /// the pause is their latency and their rate (measured: 8 publishers over three nodes, groups of ~2 appends,
    /// lost 10–20 % of their fan-out with a pause after groups of 2). A lone publisher never waits.
    static func gatherDelay(afterGroupOf lastGroup: Int, waiting: Int) -> Duration? {
        lastGroup >= gatherAfterGroupOf && waiting < lastGroup ? gatherInterval : nil
    }

    static let gatherAfterGroupOf = 4

    /// Measured on three nodes of one 2-core machine (single-event publishes, 32 connections, three runs each):
    /// 0 → 6.9/8.0/8.1k events/s, 400 µs → 7.8/8.0/8.0k, 800 µs → 8.3/8.9/8.7k (appends per statement 5.1 → 8.0).
    static let gatherInterval: Duration = .microseconds(800)

    func failQueuedAppends(_ error: any Error) {
        appendQueue.failWaiting(error)
    }

    /// The writer's loop, on its connection's event loop: the next group, after letting appends gather when
    /// ``gatherDelay(afterGroupOf:waiting:)`` says so; ends when the queue is empty (the next append starts it).
    private func writeNext(afterGroupOf lastGroup: Int) {
        guard let delay = Self.gatherDelay(afterGroupOf: lastGroup, waiting: appendQueue.waitingCount) else { return writeGroup() }
        gatherWaits.add(1, ordering: .relaxed)
        writer.eventLoop.scheduleTask(in: TimeAmount(delay)) { self.writeGroup() }
    }

    /// Commits a group. The batches were validated, so the only failures are the database's: they fail the
    /// whole group (none of it was committed, or — when the connection broke during COMMIT or the deadline passed —
    /// the outcome is unknown and a retry is answered from the id index; the tailer delivers it if it did commit).
    private func writeGroup() {
        guard let group = appendQueue.nextGroup() else { return }
        guard !isClosed else {
            finish(group, .failure(StoreError.closed))
            return writeNext(afterGroupOf: 0)
        }
        writer.commit(PostgresAppendGroup(group.map(\.batch)), timeout: timeouts.append) { result in
            self.finish(group, result)
            // On the loop already, unless the deadline answered (from the deadline timer's thread).
            if self.writer.eventLoop.inEventLoop {
                self.writeNext(afterGroupOf: group.count)
            } else {
                self.writer.eventLoop.execute { self.writeNext(afterGroupOf: group.count) }
            }
        }
    }

    private func finish(_ group: [GroupCommitQueue.Pending], _ result: Result<PostgresAppendGroup.Outcome, any Error>) {
        let outcome: PostgresAppendGroup.Outcome
        switch result {
        case .success(let value):
            outcome = value
        case .failure(let error):
            logger.warning("append failed", metadata: ["error": "\(String(reflecting: error))"])
            for pending in group { pending.complete(.failure(error)) }
            return
        }
        // The publish endpoint is answered at once: its events are durable (SPEC §8). Waiting for the watermark
        // as well — for other nodes' appends that took earlier offsets — cost a tailer round or two per publish
        // (docs/cluster.md, "Offsets and the watermark", 4); readers still get every event in offset order.
        var waiting: [(GroupCommitQueue.Pending, [AppendResult])] = []
        for (pending, results) in zip(group, outcome.results) {
            if pending.answersFirst { pending.complete(.success(results)) } else { waiting.append((pending, results)) }
        }
        // Other nodes are told by the tailer's next round (``CommitNotifier``).
        let announce = outcome.results.lazy.flatMap({ $0 }).filter({ !$0.duplicate }).map(\.offset).max()
            .map { notifier.committed(through: $0) } ?? false
        if let committed = outcome.committed { sequencer.submit(committed) }
        // Offsets before them still outstanding, offsets not consecutive, or a duplicate of an event not read yet:
        // the tailer reads up to the watermark.
        let highest = outcome.results.lazy.flatMap { $0 }.map(\.offset).max() ?? 0
        if announce || highest > sequencer.delivered { tailer.wake.signal() }
        for (pending, results) in waiting {
            // Duplicates too: their first append may still be below the watermark.
            guard let last = results.lazy.map(\.offset).max() else {
                pending.complete(.success(results))
                continue
            }
            // Bounded: the events are committed either way; the wait gives the async `append` (admin commands,
            // tools) "queued for local subscribers when it returns".
            sequencer.whenDelivered(through: last, timeout: timeouts.delivery) { pending.complete(.success(results)) }
        }
    }
}
