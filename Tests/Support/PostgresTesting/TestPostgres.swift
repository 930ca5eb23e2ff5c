import BlobHubRealtimeStore
import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL server the tests use, shared by the store and the server tests:
/// `BLOBHUB_REALTIME_TEST_POSTGRES_URL` (and, for the restart test, `…_PG_CTL`, `…_DATA`, `…_RUN_AS`), as
/// printed by `eval "$(scripts/ci/postgres.sh start)"`. Without it the PostgreSQL tests are skipped.
public enum TestPostgres {
    public static let variable = "BLOBHUB_REALTIME_TEST_POSTGRES_URL"

    public static func skipMessage(_ what: String) -> String {
        "no PostgreSQL: set \(variable) (eval \"$(scripts/ci/postgres.sh start)\") to run the \(what)"
    }

    /// `BLOBHUB_REALTIME_TEST_POSTGRES_<suffix>`, when set and not empty.
    public static func environment(_ suffix: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment["BLOBHUB_REALTIME_TEST_POSTGRES_" + suffix], !value.isEmpty else { return nil }
        return value
    }

    public static var url: String? { environment("URL") }
    public static var isConfigured: Bool { url != nil }

    public static let logger: Logger = {
        var logger = Logger(label: "postgres-tests")
        logger.logLevel = .critical
        return logger
    }()

    public struct NotConfigured: Error, CustomStringConvertible {
        public var description: String { TestPostgres.skipMessage("PostgreSQL tests") }
    }

    /// Runs statements on the database named by `url` (the server's default database when nil); returns the
    /// first column of every row of the last statement, as text.
    @discardableResult
    public static func execute(_ statements: [String], url: String? = nil) async throws -> [String] {
        guard let target = url ?? self.url else { throw NotConfigured() }
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

    /// A fresh database (its name and URL) for `body`, dropped afterwards.
    public static func withDatabase<T>(prefix: String, _ body: (_ name: String, _ url: String) async throws -> T) async throws -> T {
        guard let base = url, var components = URLComponents(string: base) else { throw NotConfigured() }
        let name = prefix + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await execute(["CREATE DATABASE \(name)"])
        components.path = "/" + name
        let result: T
        do {
            result = try await body(name, components.string!)
        } catch {
            _ = try? await execute(["DROP DATABASE IF EXISTS \(name) WITH (FORCE)"])
            throw error
        }
        try await execute(["DROP DATABASE IF EXISTS \(name) WITH (FORCE)"])
        return result
    }
}
