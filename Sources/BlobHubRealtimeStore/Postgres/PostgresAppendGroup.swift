import Logging
import NIOCore
import PostgresNIO

/// The appends of one group commit and the one statement that stores them (docs/cluster.md, "Append").
///
/// The statement, run on its own (autocommit), is the whole transaction: it looks up the group's ids already
/// in the log, moves the head by the number of new events — the `UPDATE` takes the head row lock and, after
/// waiting for another node's append, works on the row that append committed — inserts the events at
/// `head+1 …` with their keys, and notifies. The lock is held until the implicit COMMIT, so offsets are
/// handed out in commit order cluster-wide. One round trip per group.
///
/// Its duplicate lookup uses the statement's snapshot, taken before the lock: an id that another node
/// commits while this statement waits for the lock fails the insert (unique violation, nothing stored). The
/// group is then written again in a transaction that takes the lock first, so the same statement's new
/// snapshot sees that id (``commit(_:logger:)``).
struct PostgresAppendGroup: Sendable {
    let batches: [[ValidatedEvent]]
    /// The writing node's tag (``PostgresStore/nodeTag``).
    let node: String
    /// The first occurrence of each id in the group, in input order: what is inserted unless already stored.
    private let unique: [NewEvent]

    init(_ batches: [[ValidatedEvent]], node: String) {
        self.batches = batches
        self.node = node
        var seen = Set<String>()
        var unique: [NewEvent] = []
        for batch in batches {
            for item in batch where seen.insert(item.event.id).inserted { unique.append(item.event) }
        }
        self.unique = unique
    }

    /// What the database answered, mapped back onto the appends.
    struct Outcome: Sendable {
        /// One result list per batch, in input order.
        var results: [[AppendResult]]
        /// The events this group stored, for this node's own fan-out; nil when every id was a duplicate.
        var committed: DeliverySequencer.Range?
    }

    static let uniqueViolation = "23505"

    /// Stores the group: one statement; in a transaction behind the head lock when a concurrent duplicate
    /// made it fail.
    func commit(_ client: PostgresClient, logger: Logger) async throws -> Outcome {
        do {
            return try await outcome(client.execute(statement, logger: logger))
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == Self.uniqueViolation {
            logger.debug("append raced with a duplicate on another node; retrying behind the head lock")
            return try await client.storeTransaction(logger: logger) { connection in
                try await connection.query("SELECT value FROM blobhub_counters WHERE name = 'head' FOR UPDATE", logger: logger).consume()
                return try await outcome(connection.execute(statement, logger: logger))
            }
        }
    }

    /// The group's columns; `existing` and `fresh` find the ids to insert, in input order.
    var statement: PostgresAppendStatement {
        var statement = PostgresAppendStatement()
        statement.node = node
        statement.ids.reserveCapacity(unique.count)
        for (index, event) in unique.enumerated() {
            statement.ids.append(event.id)
            statement.types.append(event.type)
            statement.createdAts.append(event.createdAt)
            statement.keyLists.append(KeyListCoding.encode(event.keys))
            statement.jsons.append(ByteBuffer(bytes: event.json))
            for key in event.keys {
                statement.keyRows.append(key)
                statement.keyOrdinals.append(Int64(index + 1))
            }
        }
        return statement
    }

    private func outcome(_ rows: some AsyncSequence<PostgresAppendStatement.Row, any Error>) async throws -> Outcome {
        var previous: Int64?
        var existing: [String: Int64] = [:]
        for try await (head, id, offset) in rows {
            if let head { previous = head }
            if let id, let offset { existing[id] = offset }
        }
        guard let previous else { throw StoreError.corrupt("no head row in blobhub_counters") }
        return outcome(previous: previous, existing: existing)
    }

    /// Offsets in input order: new ids get `previous+1 …` in the order the statement numbered them (`fresh`),
    /// an id stored before or earlier in the group is a duplicate of that one.
    func outcome(previous: Int64, existing: [String: Int64]) -> Outcome {
        var known = existing
        var next = previous
        var committed: [StoredEvent] = []
        for event in unique where known[event.id] == nil {
            next += 1
            known[event.id] = next
            committed.append(StoredEvent(offset: next, id: event.id, type: event.type, createdAt: event.createdAt,
                                         keys: event.keys, json: event.json))
        }
        var firstSeen = Set<String>()
        let results = batches.map { batch in
            batch.map { item -> AppendResult in
                let id = item.event.id
                let stored = existing[id] == nil && firstSeen.insert(id).inserted
                return AppendResult(id: id, offset: known[id]!, duplicate: !stored)
            }
        }
        let range = committed.isEmpty ? nil : DeliverySequencer.Range(after: previous, through: next, events: committed)
        return Outcome(results: results, committed: range)
    }
}

/// The append statement, prepared once per pooled connection and planned once (`plan_cache_mode =
/// force_generic_plan` on the pool's connections): planning this statement with its parameters costs more
/// than running it for a small group.
///
/// Rows: one with the head before this group (`previous`), one per id already stored (`id`, `log_offset`),
/// one for the notification (all null).
struct PostgresAppendStatement: PostgresPreparedStatement {
    typealias Row = (Int64?, String?, Int64?)

    static let name = "blobhub_append_v1"

    static let sql = """
        WITH input AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bytea[])
                WITH ORDINALITY AS t(id, type, created_at, keys, json, n)
        ), existing AS MATERIALIZED (
            SELECT e.id, e.log_offset FROM blobhub_events e WHERE e.id = ANY($1::text[])
        ), fresh AS MATERIALIZED (
            SELECT i.*, row_number() OVER (ORDER BY i.n) AS k FROM input i
            WHERE NOT EXISTS (SELECT 1 FROM existing x WHERE x.id = i.id)
        ), moved AS (
            UPDATE blobhub_counters SET value = value + (SELECT count(*) FROM fresh) WHERE name = 'head'
            RETURNING value - (SELECT count(*) FROM fresh) AS previous
        ), placed AS MATERIALIZED (
            SELECT f.*, m.previous + f.k AS log_offset FROM fresh f CROSS JOIN moved m
        ), inserted_events AS (
            INSERT INTO blobhub_events (log_offset, id, type, created_at, keys, json)
            SELECT log_offset, id, type, created_at, keys, json FROM placed
        ), inserted_keys AS (
            INSERT INTO blobhub_event_keys (key, log_offset)
            SELECT k.key, p.log_offset FROM unnest($6::text[], $7::bigint[]) AS k(key, n) JOIN placed p ON p.n = k.n
        ), notified AS (
            SELECT pg_notify('\(PostgresListener.channel)', 'e:' || (SELECT max(log_offset) FROM placed) || ':' || $8::text)
            WHERE EXISTS (SELECT 1 FROM placed)
        )
        SELECT m.previous, NULL::text, NULL::bigint FROM moved m
        UNION ALL SELECT NULL, x.id, x.log_offset FROM existing x
        UNION ALL SELECT NULL, NULL, NULL FROM notified
        """

    var ids: [String] = [], types: [String] = [], createdAts: [Int64] = [], keyLists: [String] = []
    var jsons: [ByteBuffer] = []
    /// Each key of each event, with the 1-based position of its event in `ids`.
    var keyRows: [String] = [], keyOrdinals: [Int64] = []
    /// The writing node's tag, in the notification (its own listener ignores it).
    var node = ""

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 8)
        bindings.append(ids)
        bindings.append(types)
        bindings.append(createdAts)
        bindings.append(keyLists)
        bindings.append(jsons)
        bindings.append(keyRows)
        bindings.append(keyOrdinals)
        bindings.append(node)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}
