import Logging
import PostgresNIO

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
        Task {
            while let group = self.appendQueue.nextGroup() {
                await self.write(group)
            }
        }
    }

    func failQueuedAppends(_ error: any Error) {
        appendQueue.failWaiting(error)
    }

    /// Commits a group. The batches were validated, so the only failures are the database's: they fail the
    /// whole group (none of it was committed, or — when the connection broke during COMMIT — the outcome is
    /// unknown and a retry is answered from the id index; the tailer delivers it if it did commit).
    private func write(_ group: [GroupCommitQueue.Pending]) async {
        let outcome: PostgresAppendGroup.Outcome
        do {
            try checkOpen()
            let appends = PostgresAppendGroup(group.map(\.batch))
            let client = client, logger = logger
            outcome = try await withDeadline(timeouts.append) { try await appends.commit(client, logger: logger) }
        } catch {
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
