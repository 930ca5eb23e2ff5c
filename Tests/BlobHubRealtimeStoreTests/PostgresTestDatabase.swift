import Foundation
import Logging
import PostgresNIO
@testable import BlobHubRealtimeStore

/// A throwaway database per test on the PostgreSQL server named by `BLOBHUB_REALTIME_TEST_POSTGRES_URL`
/// (start one with `eval "$(scripts/ci/postgres.sh start)"`).
enum PostgresTestDatabase {
    static let variable = "BLOBHUB_REALTIME_TEST_POSTGRES_URL"
    static let skipMessage = "no PostgreSQL: set \(variable) (eval \"$(scripts/ci/postgres.sh start)\") to run the PostgreSQL tests"

    static var url: String? {
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else { return nil }
        return value
    }

    static var isConfigured: Bool { url != nil }

    /// Runs statements on the database named by `url` (the server's default database when nil); returns the
    /// first column of every row of the last statement, as text.
    @discardableResult
    static func execute(_ statements: [String], url: String? = nil) async throws -> [String] {
        guard let target = url ?? self.url else { throw StoreConfigurationError(skipMessage) }
        let settings = try PostgresSettings.parse(target)
        let configuration = PostgresConnection.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password,
            database: settings.database ?? settings.username, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        do {
            var last: [String] = []
            for statement in statements {
                last = []
                for try await row in try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) {
                    last.append(try row.decode(String?.self) ?? "")
                }
            }
            try await connection.close()
            return last
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Creates a fresh database for `body` (its URL), dropped afterwards.
    static func withDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        guard let base = url, var components = URLComponents(string: base) else { throw StoreConfigurationError(skipMessage) }
        let name = "blobhub_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await execute(["CREATE DATABASE \(name)"])
        components.path = "/" + name
        let result: T
        do {
            result = try await body(components.string!)
        } catch {
            _ = try? await execute(["DROP DATABASE IF EXISTS \(name) WITH (FORCE)"])
            throw error
        }
        try await execute(["DROP DATABASE IF EXISTS \(name) WITH (FORCE)"])
        return result
    }

    static func open(_ url: String, timeouts: PostgresStore.Timeouts = testTimeouts) async throws -> PostgresStore {
        try await PostgresStore.open(try PostgresSettings.parse(url), timeouts: timeouts, logger: logger)
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
