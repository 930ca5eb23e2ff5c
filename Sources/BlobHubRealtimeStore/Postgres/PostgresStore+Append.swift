import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Appends: queued, then written by one flush task at a time, several appends per transaction (group commit).
///
/// One transaction:
/// 1. `SELECT value FROM blobhub_counters WHERE name = 'head' FOR UPDATE` — waits for any other node's append
///    to commit and returns the newest head; the lock is held until this transaction ends;
/// 2. looks up the batch's ids already in the log (after the lock, so a concurrent duplicate has committed);
/// 3. one statement inserts the events and their keys (`unnest` of arrays), moves the head and `pg_notify`s;
/// 4. COMMIT.
/// Then the append waits (bounded) until the tailer handed its events to the commit observer.
extension PostgresStore {
    public func append(_ events: [NewEvent]) async throws -> [AppendResult] {
        let validated = try ValidatedEvent.validate(events)
        try checkOpen()
        if validated.isEmpty { return [] }
        let results = try await withCheckedThrowingContinuation { continuation in
            guard appendQueue.enqueue(.init(batch: validated, complete: { continuation.resume(with: $0) })) else { return }
            Task {
                while let group = self.appendQueue.nextGroup() {
                    await self.write(group)
                }
            }
        }
        if let last = results.filter({ !$0.duplicate }).map(\.offset).max() {
            await tailer.waitUntilDelivered(through: last, timeout: timeouts.delivery)
        }
        return results
    }

    func failQueuedAppends(_ error: any Error) {
        appendQueue.failWaiting(error)
    }

    /// Commits a group in one transaction. The batches were validated, so the only failures are the database's:
    /// they fail the whole group (every append in it gets the error; none of them was committed, or — when the
    /// connection broke during COMMIT — the outcome is unknown and a retry is answered from the id index).
    private func write(_ group: [GroupCommitQueue.Pending]) async {
        do {
            try checkOpen()
            let batches = group.map(\.batch)
            let client = client
            let logger = logger
            let outcomes = try await withDeadline(timeouts.append) {
                try await client.storeTransaction(logger: logger) { connection in
                    try await PostgresStore.insert(batches, connection, logger: logger)
                }
            }
            for (pending, results) in zip(group, outcomes) {
                pending.complete(.success(results))
            }
        } catch {
            logger.warning("append failed", metadata: ["error": "\(String(reflecting: error))"])
            for pending in group { pending.complete(.failure(error)) }
        }
    }

    /// Inserts the batches (in order) inside the caller's transaction; returns each batch's results.
    private static func insert(_ batches: [[ValidatedEvent]], _ connection: PostgresConnection,
                               logger: Logger) async throws -> [[AppendResult]] {
        // 1. The head row lock: held until COMMIT, so offsets are handed out in commit order cluster-wide.
        guard let head = try await connection.query(
            "SELECT value FROM blobhub_counters WHERE name = 'head' FOR UPDATE", logger: logger
        ).collect().first?.decode(Int64.self) else {
            throw StoreError.corrupt("no head row in blobhub_counters")
        }
        // 2. Ids already in the log. A new statement sees everything committed before the lock was granted.
        var uniqueIDs: [String] = []
        var seen = Set<String>()
        for batch in batches {
            for item in batch where seen.insert(item.event.id).inserted { uniqueIDs.append(item.event.id) }
        }
        var known: [String: Int64] = [:]
        let found = try await connection.query(
            "SELECT id, log_offset FROM blobhub_events WHERE id = ANY(\(uniqueIDs)::text[])", logger: logger)
        for try await (id, offset) in found.decode((String, Int64).self) {
            known[id] = offset
        }

        // Offsets in input order; an id seen earlier (in this group) is a duplicate of that one.
        var next = head
        var outcomes: [[AppendResult]] = []
        outcomes.reserveCapacity(batches.count)
        var offsets: [Int64] = [], ids: [String] = [], types: [String] = [], createdAts: [Int64] = []
        var keyLists: [String] = [], jsons: [ByteBuffer] = []
        var keyRows: [String] = [], keyOffsets: [Int64] = []
        for batch in batches {
            var results: [AppendResult] = []
            results.reserveCapacity(batch.count)
            for item in batch {
                let event = item.event
                if let offset = known[event.id] {
                    results.append(AppendResult(id: event.id, offset: offset, duplicate: true))
                    continue
                }
                next += 1
                known[event.id] = next
                offsets.append(next)
                ids.append(event.id)
                types.append(event.type)
                createdAts.append(event.createdAt)
                keyLists.append(KeyListCoding.encode(event.keys))
                jsons.append(ByteBuffer(bytes: event.json))
                for key in event.keys {
                    keyRows.append(key)
                    keyOffsets.append(next)
                }
                results.append(AppendResult(id: event.id, offset: next, duplicate: false))
            }
            outcomes.append(results)
        }
        guard next > head else { return outcomes }

        let payload = "e:\(next)"
        // 3. Everything else in one round trip. The notification is delivered at COMMIT, only as a wake-up.
        try await connection.query("""
            WITH inserted_events AS (
                INSERT INTO blobhub_events (log_offset, id, type, created_at, keys, json)
                SELECT * FROM unnest(\(offsets)::bigint[], \(ids)::text[], \(types)::text[], \(createdAts)::bigint[],
                                     \(keyLists)::text[], \(jsons)::bytea[])
            ), inserted_keys AS (
                INSERT INTO blobhub_event_keys (key, log_offset)
                SELECT * FROM unnest(\(keyRows)::text[], \(keyOffsets)::bigint[])
            ), moved_head AS (
                UPDATE blobhub_counters SET value = \(next) WHERE name = 'head'
            )
            SELECT pg_notify(\(PostgresListener.channel), \(payload))
            """, logger: logger).consume()
        return outcomes
    }
}
