import Foundation
import Logging
import PostgresNIO

/// Creates and migrates the store's tables. Every node runs this at start; a transaction-scoped advisory lock
/// makes concurrent starts wait for each other, so each migration runs exactly once per database.
///
/// Tables (all prefixed `blobhub_`, so the database can be shared with other software):
/// * `blobhub_meta(key, value)`: `schema_version`, and `epoch` (a random UUID written once, when the schema is created);
/// * `blobhub_counters(name, value)`: `pruned_through`, `registry_version` (bumped by every registry change, so other
///   nodes reload); before schema version 3 also `head`, the last offset assigned under its row lock;
/// * `blobhub_offsets` (version 3): the sequence offsets are taken from, and the functions of ``PostgresLogFunctions``
///   (append, watermark probe); docs/cluster.md, "Offsets and the watermark"; version 4 adds the tailer round that
///   also notifies (`blobhub_tail_v4`, ``CommitNotifier``), version 6 the round that skips the events the node holds
///   in memory (`blobhub_tail_v6`);
/// * `blobhub_events(log_offset PRIMARY KEY, id UNIQUE, type, created_at, keys, json)`;
/// * `blobhub_event_keys(key, log_offset)` with primary key `(key, log_offset)`: replay by key after an offset is an
///   index range scan; a second index on `log_offset` serves pruning;
/// * `blobhub_registry(kind, id, data)` with primary key `(kind, id)`;
/// * `blobhub_nodes(node_id PRIMARY KEY, address, started_at, heartbeat_at, connections, subscriptions, delivered,
///   draining)` (version 2): one row per running node, upserted by its heartbeat (``PostgresNodes``); times are
///   ms since the Unix epoch on the database's clock. No index besides the key: the updates stay HOT.
enum PostgresSchema {
    /// An arbitrary constant naming the migration lock.
    static let migrationLockKey: Int64 = 0x626C_6F62_6875_62  // "blobhub"

    /// Migrations in order; `migrations[n]` takes the schema from version n to n + 1.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE blobhub_counters (name text PRIMARY KEY, value bigint NOT NULL)
            """,
            """
            INSERT INTO blobhub_counters (name, value) VALUES ('head', 0), ('pruned_through', 0), ('registry_version', 0)
            """,
            """
            CREATE TABLE blobhub_events (
                log_offset bigint PRIMARY KEY,
                id text NOT NULL UNIQUE,
                type text NOT NULL,
                created_at bigint NOT NULL,
                keys text NOT NULL,
                json bytea NOT NULL
            )
            """,
            """
            CREATE TABLE blobhub_event_keys (key text NOT NULL, log_offset bigint NOT NULL, PRIMARY KEY (key, log_offset))
            """,
            "CREATE INDEX blobhub_event_keys_offset ON blobhub_event_keys (log_offset)",
            """
            CREATE TABLE blobhub_registry (kind text NOT NULL, id text NOT NULL, data bytea NOT NULL, PRIMARY KEY (kind, id))
            """,
        ],
        [
            """
            CREATE TABLE blobhub_nodes (
                node_id text PRIMARY KEY,
                address text NOT NULL,
                started_at bigint NOT NULL,
                heartbeat_at bigint NOT NULL,
                connections bigint NOT NULL,
                subscriptions bigint NOT NULL,
                delivered bigint NOT NULL,
                draining boolean NOT NULL
            )
            """,
        ],
        PostgresLogFunctions.migration,
        PostgresLogFunctions.notifyingTailMigration,
        PostgresLogFunctions.leanAppendMigration,
        PostgresLogFunctions.heldSkippingTailMigration,
    ]

    static var currentVersion: Int { migrations.count }

    /// Brings the schema up to date and returns the database's epoch.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws -> String {
        try await client.storeTransaction(logger: logger) { connection -> String in
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLockKey))", logger: logger).consume()
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS blobhub_meta (key text PRIMARY KEY, value text NOT NULL)
                """, logger: logger).consume()
            let versionText = try await connection.query(
                "SELECT value FROM blobhub_meta WHERE key = 'schema_version'", logger: logger
            ).collect().first?.decode(String.self)
            let version = versionText.flatMap(Int.init) ?? 0
            guard version <= currentVersion else {
                throw StoreError.corrupt("schema version \(version) is newer than this server's (\(currentVersion)); upgrade the server")
            }
            for migration in migrations[version...] {
                for statement in migration {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger).consume()
                }
            }
            if version < currentVersion {
                logger.info("migrated the PostgreSQL schema", metadata: ["from": "\(version)", "to": "\(currentVersion)"])
                try await connection.query("""
                    INSERT INTO blobhub_meta (key, value) VALUES ('schema_version', \(String(currentVersion)))
                    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
                    """, logger: logger).consume()
            }
            // Written once per database: ON CONFLICT keeps the first node's epoch.
            try await connection.query("""
                INSERT INTO blobhub_meta (key, value) VALUES ('epoch', \(UUID().uuidString.lowercased()))
                ON CONFLICT (key) DO NOTHING
                """, logger: logger).consume()
            guard let epoch = try await connection.query(
                "SELECT value FROM blobhub_meta WHERE key = 'epoch'", logger: logger
            ).collect().first?.decode(String.self) else {
                throw StoreError.corrupt("no epoch in blobhub_meta")
            }
            return epoch
        }
    }
}

extension PostgresRowSequence {
    /// Drains the rows: a query's errors surface only while its rows are consumed.
    func consume() async throws {
        for try await _ in self {}
    }
}
