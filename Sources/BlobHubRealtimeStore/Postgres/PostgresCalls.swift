import Logging
import NIOPosix
import PostgresNIO
import Synchronization

// Calls to the database with the store's deadlines and error types.

/// Runs `operation` but gives up after `timeout`: the caller gets ``PostgresStoreError/timedOut(_:)`` at the
/// deadline and the operation is cancelled. The caller does not wait for the cancelled operation to wind down
/// (a task group would): a call that does not react to cancellation at once — e.g. a connection attempt to a
/// database that stopped answering — must not stretch the deadline, or readiness would stay green.
/// The timer is an event-loop timer, not a sleeping task: appends run one call per group commit.
func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let outcome = DeadlineOutcome<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            outcome.start(continuation)
            let work = Task<Void, any Error> {
                do { outcome.finish(.success(try await operation())) } catch { outcome.finish(.failure(error)) }
            }
            let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
            let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(nanoseconds)) {
                outcome.finish(.failure(PostgresStoreError.timedOut(timeout)))  // cancels `work` when it wins
            }
            outcome.onFinish(cancel: [{ work.cancel() }, { timer.cancel() }])
        }
    } onCancel: {
        outcome.cancel()
    }
}

/// The first of result, deadline or cancellation resumes the caller; the others are ignored.
private final class DeadlineOutcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var cancels: [@Sendable () -> Void] = []
        var finished = false
        var cancelled = false
    }

    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        let cancelled = state.withLock { state -> Bool in
            state.continuation = continuation
            return state.cancelled
        }
        if cancelled { finish(.failure(CancellationError())) }
    }

    /// Registers what to cancel once an outcome is known (at once if it already is).
    func onFinish(cancel cancels: [@Sendable () -> Void]) {
        let finished = state.withLock { state -> Bool in
            if !state.finished { state.cancels = cancels }
            return state.finished
        }
        if finished { cancels.forEach { $0() } }
    }

    /// Resumes the caller with `result` unless an outcome was already delivered; true if this one won.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let winner = state.withLock { state -> (CheckedContinuation<T, any Error>, [@Sendable () -> Void])? in
            guard !state.finished, let continuation = state.continuation else { return nil }
            state.finished = true
            defer { state.continuation = nil; state.cancels = [] }
            return (continuation, state.cancels)
        }
        guard let (continuation, cancels) = winner else { return false }
        cancels.forEach { $0() }
        continuation.resume(with: result)
        return true
    }

    func cancel() {
        let started = state.withLock { state -> Bool in
            state.cancelled = true
            return state.continuation != nil
        }
        if started { finish(.failure(CancellationError())) }
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
