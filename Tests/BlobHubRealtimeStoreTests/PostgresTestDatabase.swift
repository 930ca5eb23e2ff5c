import Foundation
import Logging
import PostgresNIO
import BlobHubRealtimePostgresTesting
@testable import BlobHubRealtimeStore

/// A throwaway database per test on the PostgreSQL server named by `BLOBHUB_REALTIME_TEST_POSTGRES_URL`
/// (start one with `eval "$(scripts/ci/postgres.sh start)"`).
enum PostgresTestDatabase {
    static let skipMessage = TestPostgres.skipMessage("PostgreSQL tests")
    static var isConfigured: Bool { TestPostgres.isConfigured }

    @discardableResult
    static func execute(_ statements: [String], url: String? = nil) async throws -> [String] {
        try await TestPostgres.execute(statements, url: url)
    }

    /// Creates a fresh database for `body` (its URL), dropped afterwards.
    static func withDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        try await TestPostgres.withDatabase(prefix: "blobhub_test_") { _, url in try await body(url) }
    }

    static func open(_ url: String, timeouts: PostgresStore.Timeouts = testTimeouts) async throws -> PostgresStore {
        try await PostgresStore.open(try PostgresSettings.parse(url), timeouts: timeouts, logger: logger)
    }

    /// A database as an older (or newer) server left it, for migration tests: the current schema, created by a store,
    /// then `undo` run and `version` recorded as the schema version.
    static func createRecorded(version: Int, undoing undo: [String] = [], url: String) async throws {
        try await open(url).close()
        try await execute(undo + ["UPDATE blobhub_meta SET value = '\(version)' WHERE key = 'schema_version'"], url: url)
    }

    /// The schema version the database records (its one `blobhub_meta` row; empty when there is none).
    static func recordedVersion(_ url: String) async throws -> [String] {
        try await execute(["SELECT value FROM blobhub_meta WHERE key = 'schema_version'"], url: url)
    }

    /// Short deadlines, so outage tests finish quickly.
    static var testTimeouts: PostgresStore.Timeouts {
        var timeouts = PostgresStore.Timeouts()
        timeouts.append = .seconds(20)
        timeouts.query = .seconds(15)
        timeouts.open = .seconds(30)
        return timeouts
    }

    /// A fresh database and a store on it.
    static func withStore(_ body: (any RealtimeStore) async throws -> Void) async throws {
        try await withDatabase { url in
            try await closing(try await open(url), body)
        }
    }

    static let logger: Logger = {
        var logger = Logger(label: "postgres-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }()
}
