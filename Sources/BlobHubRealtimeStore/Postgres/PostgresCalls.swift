import Logging
import PostgresNIO

// Calls to the database with the store's deadlines and error types.

/// Runs `operation` but gives up after `timeout` (the operation is cancelled; PostgresNIO cancels a waiting
/// connection lease, which is where a call hangs while the database is unreachable).
func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw PostgresStoreError.timedOut(timeout)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}

/// Failures specific to the PostgreSQL store.
public enum PostgresStoreError: Error, Equatable, CustomStringConvertible {
    case timedOut(Duration)
    /// The store could not be opened (the database's error, with its details).
    case openFailed(String)

    public var description: String {
        switch self {
        case .timedOut(let timeout): "the database did not answer within \(timeout)"
        case .openFailed(let reason): "cannot open the PostgreSQL store: \(reason)"
        }
    }
}

extension PostgresClient {
    /// `withTransaction`, but an error of the store's own (``StoreError``) thrown inside comes out as itself
    /// rather than wrapped in PostgresNIO's `PostgresTransactionError` (the transaction was rolled back).
    func storeTransaction<Result: Sendable>(
        logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        do {
            return try await withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            if let storeError = error.closureError as? StoreError { throw storeError }
            throw error
        }
    }
}
