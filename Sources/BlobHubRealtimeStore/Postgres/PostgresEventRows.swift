import Logging
import NIOCore
import PostgresNIO

/// Reading events back from `blobhub_events`.
enum PostgresEventRows {
    static let columns = "e.log_offset, e.id, e.type, e.created_at, e.keys, e.json"

    static func decode(_ rows: PostgresRowSequence) async throws -> [StoredEvent] {
        var events: [StoredEvent] = []
        for try await row in rows {
            var cells = PostgresRowCells(row)
            let (offset, id, type) = (try cells.next(Int64.self), try cells.next(String.self), try cells.next(String.self))
            let (createdAt, keys, json) = (try cells.next(Int64.self), try cells.next(String.self), try cells.next(ByteBuffer.self))
            events.append(StoredEvent(
                offset: offset, id: id, type: type, createdAt: createdAt,
                keys: try KeyListCoding.decode(keys), json: Array(json.readableBytesView)))
        }
        return events
    }

    /// Events in `(after, through]`; `through` is a watermark (``PostgresWatermark``), never beyond.
    static func events(_ client: PostgresClient, after: Int64, through: Int64, limit: Int, logger: Logger) async throws -> [StoredEvent] {
        guard limit > 0, through > after else { return [] }
        let rows = try await client.query("""
            SELECT \(unescaped: columns) FROM blobhub_events e WHERE e.log_offset > \(after) AND e.log_offset <= \(through)
            ORDER BY e.log_offset LIMIT \(Int64(limit))
            """, logger: logger)
        return try await decode(rows)
    }

    /// Replay by key: a range scan of the `(key, log_offset)` primary key, then one lookup per event.
    static func events(_ client: PostgresClient, key: String, after: Int64, through: Int64, limit: Int,
                       logger: Logger) async throws -> [StoredEvent] {
        guard limit > 0, through > after else { return [] }
        let rows = try await client.query("""
            SELECT \(unescaped: columns)
            FROM blobhub_event_keys k JOIN blobhub_events e ON e.log_offset = k.log_offset
            WHERE k.key = \(key) AND k.log_offset > \(after) AND k.log_offset <= \(through)
            ORDER BY k.log_offset LIMIT \(Int64(limit))
            """, logger: logger)
        return try await decode(rows)
    }

    /// `pruned_through` and `registry_version` from `blobhub_counters`.
    static func counters(_ client: PostgresClient, logger: Logger) async throws -> (prunedThrough: Int64, registryVersion: Int64) {
        var values: [String: Int64] = [:]
        let rows = try await client.query("SELECT name, value FROM blobhub_counters", logger: logger)
        for try await (name, value) in rows.decode((String, Int64).self) {
            values[name] = value
        }
        guard let pruned = values["pruned_through"], let version = values["registry_version"] else {
            throw StoreError.corrupt("blobhub_counters is missing rows")
        }
        return (pruned, version)
    }
}
