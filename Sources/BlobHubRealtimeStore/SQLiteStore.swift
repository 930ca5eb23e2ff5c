import BlobHubRealtimeRegistry
import Foundation
import GRDB
import Synchronization

/// The event log and the registry in one SQLite database (GRDB `DatabasePool`, WAL mode).
///
/// Durability: the writer connection runs with `PRAGMA synchronous = FULL`, so every committed append is
/// fsynced to the WAL before `append` returns. With `NORMAL` (GRDB's WAL default) a commit survives a crash
/// of the process (`kill -9`) but the last transactions can be lost on an OS crash or power loss; the spec
/// promises that an acknowledged event is never lost. The cost is one WAL fsync per commit, amortized by
/// batched appends and by group commit (below).
///
/// Schema (migration "v1"):
/// * `meta(key, value)`: `epoch` (a random UUID created with the database) and `pruned_through`;
/// * `events(log_offset INTEGER PRIMARY KEY AUTOINCREMENT, id UNIQUE, type, created_at, keys, json)`:
///   AUTOINCREMENT never reuses an offset, even after the newest events were pruned, and keeps the high-water
///   mark in `sqlite_sequence` (the head). `keys` is the keys list in a length-prefixed encoding;
/// * `event_keys(key, log_offset) WITHOUT ROWID` with primary key `(key, log_offset)` for replay by key (v1 also
///   had an index on `log_offset` for pruning; migration "v3" drops it, see ``prune(_:nowMs:)``);
/// * `registry(kind, id, data)` with primary key `(kind, id)`.
///
/// Migration "v2" adds `meta.keys_indexed_through`: the key index trails the log (see ``keyIndexLag``). An
/// append writes only its events; once the log is ``keyIndexLag`` events past the indexed point, each commit also
/// indexes the oldest unindexed events (their keys are in `events.keys`), in steps of at most
/// ``keysPerIndexStep`` distinct keys. Why: each active key's index entries live in a leaf of their own, so
/// indexing every commit wrote one 4 KiB WAL page per session a commit touched, and single-event publishing spent
/// most of its writer time writing and syncing those pages; indexed together, a busy key's leaf is written once
/// per step instead of once per commit. Reads by key take the indexed part from `event_keys` and scan the
/// unindexed tail of `events` (one snapshot, so both agree).
///
/// Appends are queued and written by one flush task at a time through GRDB's single writer; appends that
/// arrive while a transaction is being committed are committed together in the next one (group commit: one
/// fsync for all), each keeping its own all-or-nothing outcome. The commit observer is called on the writer
/// right after COMMIT, once per append in queue order, so observers see batches in offset order even with
/// concurrent appenders. Reads go to the pool's readers and see committed data only.
public final class SQLiteStore: RealtimeStore {
    public let epoch: String

    private let pool: DatabasePool
    private let observer = CommitObserverSlot()
    private let node = SingleNode()
    private let appendQueue = GroupCommitQueue()
    /// How often a shared transaction failed and its appends were retried one by one (for tests).
    let groupRetries = Atomic<Int>(0)
    /// The last append failed because the disk was full: unhealthy until a write succeeds again.
    private let diskFull = Atomic<Bool>(false)
    /// The key index holds no entry of an event pruned through this offset (0: not known; swept at the first
    /// prune of each start).
    private let keysSweptThrough = Atomic<Int64>(0)

    /// Events the key index may trail the log by before commits start indexing (see the type's comment); with
    /// many distinct keys per commit it may trail by up to 4 × this, the bound of the tail a read by key scans.
    /// 1 indexes every commit.
    let keyIndexLag: Int64
    /// Distinct keys one commit indexes at most (while the log is less than 4 × ``keyIndexLag`` ahead): each
    /// key is a leaf page written, so this bounds what indexing adds to a commit. With events spread over
    /// thousands of sessions, indexing 1,024 events in one commit wrote ~1,000 pages and held appends for
    /// ~20 ms once a second (found by the soak test); few busy keys are still indexed in one step.
    let keysPerIndexStep: Int

    /// Opens or creates the database at `path`, creating/migrating the schema. WAL mode.
    public convenience init(path: String) throws {
        try self.init(path: path, keyIndexLag: 1024, keysPerIndexStep: 64)
    }

    /// Settings other than the defaults are for tests (both read paths and partial steps at small sizes).
    init(path: String, keyIndexLag: Int64, keysPerIndexStep: Int = 64) throws {
        precondition(keyIndexLag >= 1 && keysPerIndexStep >= 1)
        self.keyIndexLag = keyIndexLag
        self.keysPerIndexStep = keysPerIndexStep
        var configuration = Configuration()
        configuration.label = "BlobHubRealtimeStore"
        // Another process holding the write lock (e.g. a backup) is waited for instead of failing at once.
        configuration.busyMode = .timeout(10)
        let pool = try DatabasePool(path: path, configuration: configuration)
        // Only the writer connection commits, so that is where `synchronous` matters. GRDB sets NORMAL when
        // it opens a pool in WAL mode; FULL is set explicitly afterwards (a test checks the effective value).
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // After a checkpoint the WAL file is cut back to this size; without a limit it stays at its largest.
            try db.execute(sql: "PRAGMA journal_size_limit = \(Self.walSizeLimit)")
        }
        // A file migrated by a newer server: refused untouched (this server would not know its tables).
        if try pool.read({ try Self.migrator.hasBeenSuperseded($0) }) {
            throw StoreError.corrupt("its schema is newer than this server's (unknown migrations); upgrade the server")
        }
        try Self.migrator.migrate(pool)
        let epoch = try pool.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'epoch'")
        }
        guard let epoch, !epoch.isEmpty else {
            throw StoreError.corrupt("no epoch in table meta")
        }
        self.pool = pool
        self.epoch = epoch
    }

    /// Bytes the WAL file is truncated to after a checkpoint (SQLite's `journal_size_limit`).
    static let walSizeLimit = 64 << 20

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (
                    key TEXT NOT NULL PRIMARY KEY,
                    value TEXT NOT NULL
                );
                CREATE TABLE events (
                    log_offset INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    type TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    keys TEXT NOT NULL,
                    json BLOB NOT NULL
                );
                CREATE TABLE event_keys (
                    key TEXT NOT NULL,
                    log_offset INTEGER NOT NULL,
                    PRIMARY KEY (key, log_offset)
                ) WITHOUT ROWID;
                CREATE INDEX event_keys_by_offset ON event_keys (log_offset);
                CREATE TABLE registry (
                    kind TEXT NOT NULL,
                    id TEXT NOT NULL,
                    data BLOB NOT NULL,
                    PRIMARY KEY (kind, id)
                );
                """)
            try db.execute(
                sql: "INSERT INTO meta (key, value) VALUES ('epoch', ?), ('pruned_through', '0')",
                arguments: [UUID().uuidString.lowercased()])
        }
        migrator.registerMigration("v2") { db in
            // Everything a v1 file holds is indexed (v1 indexed every commit).
            try db.execute(sql: """
                INSERT INTO meta (key, value)
                SELECT 'keys_indexed_through', CAST(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) AS TEXT)
                """)
        }
        migrator.registerMigration("v3") { db in
            // Pruning sweeps the key index key by key (see `prune`); this index only served deleting by offset.
            try db.execute(sql: "DROP INDEX IF EXISTS event_keys_by_offset")
        }
        return migrator
    }

    public func setCommitObserver(_ observer: @escaping @Sendable ([StoredEvent]) -> Void) {
        self.observer.set(observer)
    }

    /// Single node: only this node changes the registry, so there is nothing to observe. (Required rather than
    /// defaulted in the protocol so that a wrapping store cannot forget to forward it.)
    public func setRegistryObserver(_ observer: @escaping @Sendable () -> Void) {}

    // MARK: - Events

    public func append(_ events: [NewEvent]) async throws -> [AppendResult] {
        try await withCheckedThrowingContinuation { continuation in
            append(events, answersFirst: false) { continuation.resume(with: $0) }
        }
    }

    /// The completion may run just before the commit observer is called for these events (see
    /// `GroupCommitQueue.Pending.answersFirst`); the events are durable either way.
    public func append(_ events: [NewEvent], completion: @escaping @Sendable (Result<[AppendResult], any Error>) -> Void) {
        append(events, answersFirst: true, completion: completion)
    }

    private func append(_ events: [NewEvent], answersFirst: Bool, completion: @escaping @Sendable (Result<[AppendResult], any Error>) -> Void) {
        let validated: [ValidatedEvent]
        do {
            validated = try ValidatedEvent.validate(events)
        } catch {
            return completion(.failure(error))
        }
        if validated.isEmpty { return completion(.success([])) }
        guard appendQueue.enqueue(.init(batch: validated, complete: completion, answersFirst: answersFirst)) else { return }
        // No writer runs: this append starts one on GRDB's serialized writer queue, where it commits group
        // after group until the queue is empty (no task and no thread hop per append).
        pool.asyncWriteWithoutTransaction { db in
            while let group = self.appendQueue.nextGroup() {
                self.write(group, db)
            }
        }
    }

    // MARK: Group commit

    /// Appends that queued up while the previous transaction was being written and synced are committed
    /// together, in queue order, in one transaction: one fsync for all of them (``GroupCommitQueue``). Each
    /// append keeps its own all-or-nothing outcome: if the shared transaction fails, its appends are retried
    /// one by one. Only one writer runs at a time, so transactions — and observer calls — follow queue order.
    private func write(_ group: [GroupCommitQueue.Pending], _ db: Database) {
        do {
            // The group's batches go in as one: a handful of multi-row statements per transaction, not per
            // append (single-event appends queue up by the dozen under load). An id repeated in a later
            // batch of the group is a duplicate of the earlier one, as if they had been inserted in turn.
            var merged: [ValidatedEvent] = []
            merged.reserveCapacity(group.reduce(0) { $0 + $1.batch.count })
            for pending in group { merged.append(contentsOf: pending.batch) }
            var outcome: ([AppendResult], [StoredEvent]) = ([], [])
            // IMMEDIATE takes the write lock before the head is read, so offsets stay unique even if
            // another process appends to the same file.
            try db.inTransaction(.immediate) {
                outcome = try Self.insert(merged, db)
                if let last = outcome.1.last?.offset {
                    try Self.indexKeysIfBehind(db, head: last, lag: keyIndexLag, keysPerStep: keysPerIndexStep)
                }
                return .commit
            }
            // Committed (and durable); still on the serialized writer, so no later append has committed yet and
            // the observer keeps commit order. Loop-served publishes are answered before the observer runs: each
            // answer is a task on its connection's loop, and queued ahead of the fan-out round the observer
            // starts there, a 202 does not wait for the event's delivery to that loop's subscribers.
            var ranges: [Range<Int>] = []
            ranges.reserveCapacity(group.count)
            var start = 0
            for pending in group {
                ranges.append(start..<(start + pending.batch.count))
                start += pending.batch.count
            }
            for (pending, range) in zip(group, ranges) where pending.answersFirst {
                pending.complete(.success(Array(outcome.0[range])))
            }
            observer.notify(outcome.1)
            for (pending, range) in zip(group, ranges) where !pending.answersFirst {
                pending.complete(.success(Array(outcome.0[range])))
            }
            diskFull.store(false, ordering: .relaxed)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            // Nothing of the group was stored (the transaction rolled back); retrying one by one would fail the same.
            diskFull.store(true, ordering: .relaxed)
            for pending in group { pending.complete(.failure(StoreError.diskFull)) }
        } catch where group.count > 1 {
            groupRetries.add(1, ordering: .relaxed)
            for pending in group {
                write([pending], db)
            }
        } catch {
            group[0].complete(.failure(error))
        }
    }

    /// Inserts a validated batch inside the caller's transaction.
    ///
    /// Work is done in multi-row statements (a handful per batch instead of several per event): one lookup
    /// of the batch's ids already in the log, then the new events with offsets assigned here in input order
    /// (head + 1, head + 2, …); their keys are indexed later (``indexKeysIfBehind(_:head:lag:keysPerStep:)``).
    /// Inserting explicit offsets into the AUTOINCREMENT table moves `sqlite_sequence` (the head) along, and
    /// duplicates never consume an offset.
    ///
    /// A batch that fits one statement and repeats no id of its own is first inserted without the lookup (the
    /// insert checks the `id` index anyway): a group of single-event publishes is almost never a retry, and the
    /// lookup was a fifth of its writer time. An id already in the log fails that statement (SQLite undoes the
    /// statement alone, not the transaction), and the batch goes the way with the lookup.
    private static func insert(_ batch: [ValidatedEvent], _ db: Database) throws -> ([AppendResult], [StoredEvent]) {
        var seen = Set<String>(minimumCapacity: batch.count)
        for item in batch { seen.insert(item.event.id) }
        let head = try head(db)
        if seen.count == batch.count, batch.count <= maxRowsPerUnsplitStatement {
            let stored = batch.enumerated().map { $0.element.stored(at: head + 1 + Int64($0.offset)) }
            do {
                try insertEvents(stored, db)
                return (stored.map { AppendResult(id: $0.id, offset: $0.offset, duplicate: false) }, stored)
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                // An id is in the log already: the lookup below sorts it out.
            }
        }

        // Ids already in the log (each looked up once, in no particular order).
        let uniqueIDs = Array(seen)
        var known: [String: Int64] = [:]
        try forEachChunk(of: uniqueIDs.count) { range in
            let statement = try db.cachedStatement(sql: findIDsSQL(count: range.count))
            let rows = try Row.fetchCursor(statement, arguments: StatementArguments(uniqueIDs[range].map { $0.databaseValue }))
            while let row = try rows.next() {
                let id: String = row[0]
                let offset: Int64 = row[1]
                known[id] = offset
            }
        }

        // Offsets in input order; an id seen earlier in the batch is a duplicate of that one.
        var next = head
        var results: [AppendResult] = []
        results.reserveCapacity(batch.count)
        var stored: [StoredEvent] = []
        stored.reserveCapacity(batch.count)
        for item in batch {
            if let offset = known[item.event.id] {
                results.append(AppendResult(id: item.event.id, offset: offset, duplicate: true))
                continue
            }
            next += 1
            known[item.event.id] = next
            stored.append(item.stored(at: next))
            results.append(AppendResult(id: item.event.id, offset: next, duplicate: false))
        }
        try insertEvents(stored, db)
        return (results, stored)
    }

    /// Inserts events with their offsets, in multi-row statements (``forEachChunk(of:_:)``).
    private static func insertEvents(_ stored: [StoredEvent], _ db: Database) throws {
        try forEachChunk(of: stored.count) { range in
            // Plain `DatabaseValue`s rather than existentials: argument conversion is a visible share of the
            // CPU time of an append.
            var arguments: [DatabaseValue] = []
            arguments.reserveCapacity(range.count * 6)
            for event in stored[range] {
                arguments.append(event.offset.databaseValue)
                arguments.append(event.id.databaseValue)
                arguments.append(event.type.databaseValue)
                arguments.append(event.createdAt.databaseValue)
                arguments.append(KeyListCoding.encode(event.keys).databaseValue)
                arguments.append(Data(event.json).databaseValue)
            }
            let statement = try db.cachedStatement(sql: insertEventsSQL(count: range.count))
            statement.setUncheckedArguments(StatementArguments(arguments))  // 6 per row by construction
            try statement.execute()
        }
    }

    // MARK: Key index

    /// When the log is `lag` or more events past `keys_indexed_through`, indexes the keys of the oldest events
    /// after it, in offset order, up to the last event that keeps the step within `keysPerStep` distinct keys
    /// (every event when the log is 4 × `lag` ahead). Inside the caller's transaction, which appended through
    /// `head`.
    private static func indexKeysIfBehind(_ db: Database, head: Int64, lag: Int64, keysPerStep: Int) throws {
        let indexed = try keysIndexedThrough(db)
        guard head - indexed >= lag else { return }
        let bounded = head - indexed < 4 * lag
        var entries: [(key: String, offset: Int64)] = []
        var keysInStep = Set<String>()
        var through = head
        let rows = try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT log_offset, keys FROM events WHERE log_offset > ? ORDER BY log_offset"),
            arguments: [indexed])
        while let row = try rows.next() {
            let offset: Int64 = row[0]
            let keys = try KeyListCoding.decode(row[1])
            if bounded, !entries.isEmpty, keysInStep.union(keys).count > keysPerStep {
                through = offset - 1
                break
            }
            keysInStep.formUnion(keys)
            for key in keys { entries.append((key, offset)) }
        }
        // In index order: each leaf is visited once, its entries appended together.
        entries.sort { $0.key != $1.key ? $0.key < $1.key : $0.offset < $1.offset }
        var arguments: [DatabaseValue] = []
        arguments.reserveCapacity(entries.count * 2)
        for entry in entries {
            arguments.append(entry.key.databaseValue)
            arguments.append(entry.offset.databaseValue)
        }
        try forEachChunk(of: entries.count) { range in
            let statement = try db.cachedStatement(sql: insertKeysSQL(count: range.count))
            statement.setUncheckedArguments(  // 2 per row by construction
                StatementArguments(arguments[(range.lowerBound * 2)..<(range.upperBound * 2)]))
            try statement.execute()
        }
        try db.cachedStatement(sql: "UPDATE meta SET value = ? WHERE key = 'keys_indexed_through'")
            .execute(arguments: [String(through)])
    }

    private static func keysIndexedThrough(_ db: Database) throws -> Int64 {
        guard let text = try String.fetchOne(
                db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'keys_indexed_through'")),
              let value = Int64(text)
        else {
            throw StoreError.corrupt("no keys_indexed_through in table meta")
        }
        return value
    }

    // MARK: Multi-row statements

    /// Rows per statement: every size up to 32, so a group of single-event publishes (one per waiting
    /// connection, rarely more than a few dozen) is one statement of each shape where powers of 4 made a
    /// group of 13 four; larger batches take 256s and 64s first. At most 34 prepared statements per shape
    /// (GRDB caches them on the writer); 256 rows × 6 columns stays far below SQLite's limit of 32,766 bound
    /// parameters.
    private static let chunkSizes = [256, 64] + Array((1...maxRowsPerUnsplitStatement).reversed())
    /// Any batch of up to this many rows is one statement.
    private static let maxRowsPerUnsplitStatement = 32

    private static func forEachChunk(of count: Int, _ body: (Range<Int>) throws -> Void) throws {
        var start = 0
        for size in chunkSizes {
            while count - start >= size {
                try body(start..<(start + size))
                start += size
            }
        }
    }

    private static func placeholders(_ row: String, count: Int) -> String {
        Array(repeating: row, count: count).joined(separator: ", ")
    }

    private static func sqlByChunkSize(_ make: (Int) -> String) -> [Int: String] {
        Dictionary(uniqueKeysWithValues: chunkSizes.map { ($0, make($0)) })
    }

    private static let findIDsSQLs = sqlByChunkSize { count in
        "SELECT id, log_offset FROM events WHERE id IN (\(placeholders("?", count: count)))"
    }

    private static let insertEventsSQLs = sqlByChunkSize { count in
        "INSERT INTO events (log_offset, id, type, created_at, keys, json) VALUES "
            + placeholders("(?, ?, ?, ?, ?, ?)", count: count)
    }

    private static let insertKeysSQLs = sqlByChunkSize { count in
        "INSERT INTO event_keys (key, log_offset) VALUES " + placeholders("(?, ?)", count: count)
    }

    private static func findIDsSQL(count: Int) -> String { findIDsSQLs[count]! }
    private static func insertEventsSQL(count: Int) -> String { insertEventsSQLs[count]! }
    private static func insertKeysSQL(count: Int) -> String { insertKeysSQLs[count]! }

    private static let eventColumns = "e.log_offset, e.id, e.type, e.created_at, e.keys, e.json"

    public func events(withKey key: String, after: Int64, limit: Int) async throws -> [StoredEvent] {
        guard limit > 0 else { return [] }
        // One read transaction: the indexed point, the index and the tail are of the same snapshot.
        return try await pool.read { db in
            let indexed = try Self.keysIndexedThrough(db)
            var events: [StoredEvent] = []
            if after < indexed {
                let statement = try db.cachedStatement(sql: """
                    SELECT \(Self.eventColumns)
                    FROM event_keys k JOIN events e ON e.log_offset = k.log_offset
                    WHERE k.key = ? AND k.log_offset > ? AND k.log_offset <= ?
                    ORDER BY k.log_offset
                    LIMIT ?
                    """)
                events = try Self.fetchEvents(statement, arguments: [key, after, indexed, limit])
            }
            if events.count < limit {
                // The tail not yet indexed (below 4 × `keyIndexLag` events): `instr` on the encoded keys list
                // narrows it down, the decoded list decides (the encoding of one key can occur inside another's).
                let statement = try db.cachedStatement(sql: """
                    SELECT \(Self.eventColumns) FROM events e
                    WHERE e.log_offset > ? AND instr(e.keys, ?) > 0
                    ORDER BY e.log_offset
                    """)
                let rows = try Row.fetchCursor(statement, arguments: [max(after, indexed), KeyListCoding.encode([key])])
                while events.count < limit, let row = try rows.next() {
                    let event = try Self.storedEvent(row)
                    if event.keys.contains(key) { events.append(event) }
                }
            }
            return events
        }
    }

    public func events(after: Int64, limit: Int) async throws -> [StoredEvent] {
        guard limit > 0 else { return [] }
        return try await pool.read { db in
            let statement = try db.cachedStatement(sql: """
                SELECT \(Self.eventColumns) FROM events e WHERE e.log_offset > ? ORDER BY e.log_offset LIMIT ?
                """)
            return try Self.fetchEvents(statement, arguments: [after, limit])
        }
    }

    private static func fetchEvents(_ statement: Statement, arguments: StatementArguments) throws -> [StoredEvent] {
        var events: [StoredEvent] = []
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        while let row = try rows.next() {
            events.append(try storedEvent(row))
        }
        return events
    }

    /// An event from a row of ``eventColumns``.
    private static func storedEvent(_ row: Row) throws -> StoredEvent {
        let keys: String = row[4]
        let json: Data = row[5]
        return StoredEvent(
            offset: row[0], id: row[1], type: row[2], createdAt: row[3],
            keys: try KeyListCoding.decode(keys), json: [UInt8](json))
    }

    public func headOffset() async throws -> Int64 {
        try await pool.read { db in try Self.head(db) }
    }

    public func prunedThrough() async throws -> Int64 {
        try await pool.read { db in try Self.prunedThrough(db) }
    }

    private static func head(_ db: Database) throws -> Int64 {
        // Cached: it runs once per transaction, and preparing it each time was a visible share of an append.
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT seq FROM sqlite_sequence WHERE name = 'events'")) ?? 0
    }

    private static func prunedThrough(_ db: Database) throws -> Int64 {
        guard let text = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'pruned_through'"),
              let value = Int64(text)
        else {
            throw StoreError.corrupt("no pruned_through in table meta")
        }
        return value
    }

    /// Events deleted per transaction when pruning: appends queued behind a chunk wait only for it (they run
    /// between chunks), and the WAL grows by one chunk at a time. Found by the soak test: one transaction
    /// deleting a burst's worth of large events grew the WAL to 100 MB and held the writer; then chunks of
    /// 5,000 still held appends for 70-100 ms every pruning pass (the subscribers' p99 every 30 s).
    /// Appends queued behind a chunk run before the next one, so a small chunk is what bounds their wait.
    static let pruneChunk = 250

    /// One step of the key sweep (``sweepKeys(_:from:through:)``) visits at most this many distinct keys (each a
    /// seek and a delete of the key's pruned entries) and deletes at most ``entriesPerSweepStep`` entries (a key
    /// with more is continued by the next step): a step holds appends for about a millisecond.
    static let keysPerSweepStep = 64
    static let entriesPerSweepStep = 1024

    /// Pruning deletes events in chunks of ``pruneChunk`` (the oldest first, so those are neighbouring pages),
    /// then sweeps their routing keys out of the key index key by key (``sweepKeys(_:from:through:)``).
    /// Why not with the events, by offset: a pruned event's keys live in leaves far apart (one per session,
    /// revision, organization it routes to), so deleting them by offset wrote several leaves per event, every
    /// pruning pass, and held the appends queued behind each chunk for several milliseconds (the soak's p99
    /// under load was in those passes). Key by key, each leaf holding pruned entries is written once per pass.
    /// Until the sweep reaches a key, its pruned entries remain in `event_keys`; reads by key join `events`,
    /// so they never see them.
    public func prune(_ policy: RetentionPolicy, nowMs: Int64) async throws -> Int {
        let (prunedThrough, through) = try await pool.read { db -> (Int64, Int64) in
            let head = try Self.head(db)
            let prunedThrough = try Self.prunedThrough(db)
            var through = max(prunedThrough, policy.countThreshold(head: head))
            // Age: everything before the first retained event that has not expired. The scan starts at the
            // oldest retained event and stops at the first young one, so it is short when pruning is regular.
            let firstYoung = try Int64.fetchOne(db, sql: """
                SELECT log_offset FROM events WHERE log_offset > ? AND created_at >= ? ORDER BY log_offset LIMIT 1
                """, arguments: [through, policy.cutoff(nowMs: nowMs)])
            through = max(through, (firstYoung ?? (head + 1)) - 1)
            return (prunedThrough, through)
        }
        var done = prunedThrough
        var removed = 0
        while done < through {
            let after = done
            guard let step = try await writeUnsynced({ try Self.deleteChunk($0, after: after, through: through) }) else { break }
            done = step.last
            removed += step.removed
        }
        // Also after a pass that removed nothing: a sweep cut short (a crash, a failed step) is finished by the next.
        let pruned = done
        if keysSweptThrough.load(ordering: .relaxed) < pruned {
            var position: SweepPosition? = SweepPosition(key: "", including: true)
            while let from = position {
                position = try await writeUnsynced { try Self.sweepKeys($0, from: from, through: pruned) }
            }
            keysSweptThrough.store(pruned, ordering: .relaxed)
        }
        return removed
    }

    /// Runs `body` in a transaction on the writer without an fsync at its commit. For pruning, which need not be
    /// durable at its commit: lost in a crash, it is redone, and the next append's fsync covers its WAL frames
    /// anyway. The writer is serialized, so no append commits while the connection is set to NORMAL; FULL is set
    /// again before the writer is released, and a failure to set it is thrown, never swallowed (appends must not
    /// commit unsynced).
    private func writeUnsynced<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.writeWithoutTransaction { db -> T in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            let outcome = Result { () throws -> T in
                var value: T?
                try db.inTransaction {
                    value = try body(db)
                    return .commit
                }
                return value!
            }
            try db.execute(sql: "PRAGMA synchronous = FULL")
            return try outcome.get()
        }
    }

    /// Where the key sweep goes on: at `key` itself (its pruned entries were cut short by a step's budget), or
    /// after it.
    struct SweepPosition: Sendable {
        var key: String
        var including: Bool
    }

    /// Deletes the key index entries of pruned events (offset ≤ `through`) in key order from `start`, within
    /// one step's budget (``keysPerSweepStep``, ``entriesPerSweepStep``); returns where the next step goes on,
    /// nil when no key is left. A key's entries sort by offset, so its pruned ones are the first of its range:
    /// the delete writes the leaves holding them and nothing else.
    private static func sweepKeys(_ db: Database, from start: SweepPosition, through: Int64) throws -> SweepPosition? {
        var position = start
        var budget = entriesPerSweepStep
        for _ in 0..<keysPerSweepStep {
            let seek = position.including
                ? "SELECT key FROM event_keys WHERE key >= ? ORDER BY key LIMIT 1"
                : "SELECT key FROM event_keys WHERE key > ? ORDER BY key LIMIT 1"
            guard let key = try String.fetchOne(db.cachedStatement(sql: seek), arguments: [position.key]) else { return nil }
            // More pruned entries than the budget: delete the budget's worth and go on with this key next step.
            if let cut = try Int64.fetchOne(db.cachedStatement(sql: """
                SELECT log_offset FROM event_keys WHERE key = ? AND log_offset <= ? ORDER BY log_offset LIMIT 1 OFFSET ?
                """), arguments: [key, through, budget]) {
                try db.cachedStatement(sql: "DELETE FROM event_keys WHERE key = ? AND log_offset < ?").execute(arguments: [key, cut])
                return SweepPosition(key: key, including: true)
            }
            try db.cachedStatement(sql: "DELETE FROM event_keys WHERE key = ? AND log_offset <= ?").execute(arguments: [key, through])
            budget -= db.changesCount
            position = SweepPosition(key: key, including: false)
            if budget <= 0 { break }
        }
        return position
    }

    /// Deletes the first ``pruneChunk`` events after `after` (at most through `through`); nil when there were
    /// none. Their keys are swept afterwards. Runs inside the caller's transaction.
    private static func deleteChunk(_ db: Database, after: Int64, through: Int64) throws -> (last: Int64, removed: Int)? {
        guard let last = try Int64.fetchOne(db, sql: """
            SELECT MAX(log_offset) FROM (
                SELECT log_offset FROM events WHERE log_offset > ? AND log_offset <= ? ORDER BY log_offset LIMIT ?)
            """, arguments: [after, through, pruneChunk])
        else { return nil }
        try db.execute(sql: "DELETE FROM events WHERE log_offset <= ?", arguments: [last])
        let removed = db.changesCount
        let current = try prunedThrough(db)
        try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'pruned_through'", arguments: [String(max(current, last))])
        return (last, removed)
    }

    // MARK: - Registry

    public func registryRows() async throws -> [RegistryRow] {
        try await pool.read { db in
            var result: [RegistryRow] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT kind, id, data FROM registry ORDER BY kind, id")
            while let row = try rows.next() {
                let data: Data = row[2]
                result.append(RegistryRow(kind: row[0], id: row[1], data: [UInt8](data)))
            }
            return result
        }
    }

    public func persist(_ diff: RegistryRows) async throws {
        if diff.isEmpty { return }
        try await pool.write { db in
            let delete = try db.cachedStatement(sql: "DELETE FROM registry WHERE kind = ? AND id = ?")
            for key in diff.deletes {
                try delete.execute(arguments: [key.kind, key.id])
            }
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO registry (kind, id, data) VALUES (?, ?, ?)
                ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data
                """)
            for row in diff.upserts {
                try upsert.execute(arguments: [row.kind, row.id, Data(row.data)])
            }
        }
    }

    // MARK: - Nodes

    /// One node, no table: ``SingleNode``.
    public var nodeID: String { node.id }

    public func setNodeStatusProvider(_ provider: @escaping @Sendable () async -> NodeStatus) {
        node.status.set(provider)
    }

    public func nodes() async -> NodeList {
        await node.list { try await headOffset() }
    }

    // MARK: - Lifecycle

    /// Readable, and — after an append failed on a full disk — writable again: then every check writes one row
    /// (a new value each time: SQLite skips writing a page whose content does not change) until that succeeds,
    /// so readiness turns green once space returns.
    public func isHealthy() async -> Bool {
        do {
            if diskFull.load(ordering: .relaxed) {
                let stamp = String(DispatchTime.now().uptimeNanoseconds)
                try await pool.write { db in
                    try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('write_check', ?)", arguments: [stamp])
                }
                diskFull.store(false, ordering: .relaxed)
            }
            return try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") } == 1
        } catch {
            return false
        }
    }

    public func close() async throws {
        try pool.close()
    }

    /// Appends queued behind the running transaction (for tests).
    var waitingAppendCount: Int {
        appendQueue.waitingCount
    }

    /// Runs SQL on the writer (for tests, e.g. to install a failing trigger).
    func executeOnWriter(_ sql: String) async throws {
        try await pool.writeWithoutTransaction { db in try db.execute(sql: sql) }
    }

    /// `keys_indexed_through` and the number of rows in `event_keys`; for tests.
    func keyIndexState() async throws -> (indexedThrough: Int64, rows: Int) {
        try await pool.read { db in
            (try Self.keysIndexedThrough(db), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event_keys") ?? -1)
        }
    }

    /// The names of the database's indexes; for tests.
    func schemaIndexNames() async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
        }
    }

    /// The writer connection's `PRAGMA journal_mode` and `PRAGMA synchronous` (2 = FULL); for tests.
    func writerSettings() async throws -> (journalMode: String, synchronous: Int) {
        try await pool.writeWithoutTransaction { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
             try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
        }
    }
}

/// The keys list of an event as one TEXT value: each key as `<UTF-8 byte count>:<key>`, concatenated.
/// Unambiguous for any key content.
enum KeyListCoding {
    static func encode(_ keys: [String]) -> String {
        var out = ""
        for key in keys {
            out += String(key.utf8.count)
            out += ":"
            out += key
        }
        return out
    }

    static func decode(_ text: String) throws -> [String] {
        let bytes = Array(text.utf8)
        var keys: [String] = []
        var index = 0
        while index < bytes.count {
            var count = 0
            var digits = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9"), digits < 9 {
                count = count * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
                digits += 1
            }
            guard digits > 0, index < bytes.count, bytes[index] == UInt8(ascii: ":"),
                  count <= bytes.count - index - 1
            else {
                throw StoreError.corrupt("malformed keys list")
            }
            index += 1
            keys.append(String(decoding: bytes[index..<(index + count)], as: UTF8.self))
            index += count
        }
        return keys
    }
}
