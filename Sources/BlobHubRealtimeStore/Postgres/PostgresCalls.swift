import Logging
import NIOPosix
import PostgresNIO
import Synchronization

// Calls to the database with the store's deadlines and error types.

/// Runs `operation` but gives up after `timeout`: the caller gets ``PostgresStoreError/timedOut(_:)`` at the
/// deadline and the operation is cancelled. The caller does not wait for the cancelled operation to wind down
/// (a task group would): a call that does not react to cancellation at once — e.g. a connection attempt to a
/// database that stopped answering — must not stretch the deadline, or readiness would stay green.
/// The deadline is an entry in `deadlines` (one timer for all of a store's calls), not a timer per call.
func withDeadline<T: Sendable>(_ timeout: Duration, _ deadlines: CallDeadlines,
                               _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let outcome = DeadlineOutcome<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            outcome.start(continuation)
            let work = Task<Void, any Error> {
                do { outcome.finish(.success(try await operation())) } catch { outcome.finish(.failure(error)) }
            }
            let entry = deadlines.add(at: .now() + TimeAmount(timeout)) {
                outcome.finish(.failure(PostgresStoreError.timedOut(timeout)))  // cancels `work` when it wins
            }
            outcome.onFinish(cancel: [{ work.cancel() }, { deadlines.remove(entry) }])
        }
    } onCancel: {
        outcome.cancel()
    }
}

/// The deadlines of a store's calls in flight, watched by one event-loop timer armed at the earliest.
///
/// A timer per call cost two wake-ups of an event loop per statement (schedule from the calling thread, cancel
/// from the answering one), on a path that runs hundreds of statements per second; adding and removing an
/// entry here is a lock and a dictionary update. The timer is re-armed only when a call's deadline comes
/// before the armed one, and when it fires (at most once per shortest timeout while calls keep finishing).
final class CallDeadlines: Sendable {
    private struct Entry {
        let deadline: NIODeadline
        let expire: @Sendable () -> Void
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var armed: (deadline: NIODeadline, timer: Scheduled<Void>)?
    }

    private let state = Mutex(State())
    private let loop: any EventLoop

    init(loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any()) {
        self.loop = loop
    }

    /// Calls in flight (tests).
    var count: Int { state.withLock { $0.entries.count } }

    /// Registers a call that `expire` fails at `deadline` unless it is removed first.
    func add(at deadline: NIODeadline, expire: @escaping @Sendable () -> Void) -> UInt64 {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.entries[id] = Entry(deadline: deadline, expire: expire)
            if state.armed.map({ deadline < $0.deadline }) ?? true { arm(&state, at: deadline) }
            return id
        }
    }

    func remove(_ id: UInt64) {
        state.withLock { _ = $0.entries.removeValue(forKey: id) }
    }

    private func arm(_ state: inout State, at deadline: NIODeadline) {
        state.armed?.timer.cancel()
        state.armed = (deadline, loop.scheduleTask(deadline: deadline) { [self] in fire() })
    }

    /// Fails the calls whose deadline passed and arms the timer for the earliest one left.
    private func fire() {
        let now = NIODeadline.now()
        let expired = state.withLock { state -> [Entry] in
            state.armed = nil
            let due = state.entries.filter { $0.value.deadline <= now }
            for id in due.keys { state.entries[id] = nil }
            if let earliest = state.entries.values.lazy.map(\.deadline).min() { arm(&state, at: earliest) }
            return Array(due.values)
        }
        for entry in expired { entry.expire() }
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
