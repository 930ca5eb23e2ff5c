import Logging
import NIOCore
import PostgresNIO

/// The appends of one group commit and the one statement that stores them (docs/cluster.md, "Append").
///
/// The statement, run on its own (autocommit), is the whole transaction: `blobhub_append_v3` looks up the group's
/// ids already in the log, takes an offset from the sequence for each new event and inserts the events with their
/// keys (other nodes are notified after the commit: ``CommitNotifier``). It takes no lock: appends of all nodes
/// run concurrently, and readers stay in offset order through the watermark (``PostgresWatermark``). One round
/// trip per group.
///
/// Its duplicate lookup uses the statement's snapshot: an id that another node inserts at the same time makes
/// this insert wait for that transaction and then fail (unique violation, nothing stored). The group is then
/// written again; the new statement's snapshot sees that id (``PostgresAppendWriter``).
struct PostgresAppendGroup: Sendable {
    let batches: [[ValidatedEvent]]
    /// The first occurrence of each id in the group, in input order: what is inserted unless already stored.
    private let unique: [NewEvent]

    init(_ batches: [[ValidatedEvent]]) {
        self.batches = batches
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
        /// The events this group stored, for this node's own fan-out; nil when every id was a duplicate, or when
        /// the group's offsets are not consecutive (another node took offsets between them): then only the
        /// tailer, reading up to the watermark, may hand them out.
        var committed: DeliverySequencer.Range?
    }

    static let uniqueViolation = "23505"
    /// Each retry follows a concurrent insert of one of the group's ids that committed; a few suffice.
    static let attempts = 4

    /// The group's columns; `existing` and `fresh` find the ids to insert, in input order.
    var statement: PostgresAppendStatement {
        var statement = PostgresAppendStatement()
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

    /// Offsets in input order: an id stored before is a duplicate of that one, an id stored by this group has the
    /// offset the statement gave it, a repeated id in the group is a duplicate of its first occurrence.
    func outcome(existing: [String: Int64], stored: [String: Int64]) throws -> Outcome {
        var committed: [StoredEvent] = []
        for event in unique {
            guard let offset = stored[event.id] else {
                guard existing[event.id] != nil else { throw StoreError.corrupt("the append returned no offset for id \(event.id)") }
                continue
            }
            committed.append(StoredEvent(offset: offset, id: event.id, type: event.type, createdAt: event.createdAt,
                                         keys: event.keys, json: event.json))
        }
        var firstSeen = Set<String>()
        let results = batches.map { batch in
            batch.map { item -> AppendResult in
                let id = item.event.id
                let isNew = stored[id] != nil && firstSeen.insert(id).inserted
                return AppendResult(id: id, offset: stored[id] ?? existing[id]!, duplicate: !isNew)
            }
        }
        var range: DeliverySequencer.Range?
        if let first = committed.first, let last = committed.last, last.offset - first.offset + 1 == Int64(committed.count) {
            range = DeliverySequencer.Range(after: first.offset - 1, through: last.offset, events: committed)
        }
        return Outcome(results: results, committed: range)
    }
}

/// The append statement (``PostgresLogFunctions``), prepared once per connection of ``PostgresAppendWriter``.
///
/// Rows: one per id of the group already stored (`stored` false) and one per event it stored (`stored` true), with
/// its offset.
struct PostgresAppendStatement {
    typealias Row = (String?, Int64?, Bool?)

    static let sql = "SELECT event_id, event_offset, stored FROM blobhub_append_v3($1, $2, $3, $4, $5, $6, $7)"

    var ids: [String] = [], types: [String] = [], createdAts: [Int64] = [], keyLists: [String] = []
    var jsons: [ByteBuffer] = []
    /// Each key of each event, with the 1-based position of its event in `ids`.
    var keyRows: [String] = [], keyOrdinals: [Int64] = []

    /// The parameters, for PostgresNIO's futures-based prepared statement (``PostgresAppendWriter``), which takes
    /// them as `PostgresData`: each array encoded once in PostgreSQL's binary format.
    func makeData() throws -> [PostgresData] {
        [try Self.data(ids), try Self.data(types), try Self.data(createdAts), try Self.data(keyLists), try Self.data(jsons),
         try Self.data(keyRows), try Self.data(keyOrdinals)]
    }

    private static func data<Value: PostgresEncodable>(_ value: Value) throws -> PostgresData {
        var buffer = ByteBuffer()
        try value.encode(into: &buffer, context: .default)
        return PostgresData(type: Value.psqlType, formatCode: .binary, value: buffer)
    }

    /// A row of the statement as ``PostgresAppendWriter`` runs it (prepared with PostgresNIO's futures API).
    func decodeRow(_ row: PostgresRow) throws -> Row {
        var cells = PostgresRowCells(row, binary: true)
        return (try cells.next(String?.self), try cells.next(Int64?.self), try cells.next(Bool?.self))
    }
}
