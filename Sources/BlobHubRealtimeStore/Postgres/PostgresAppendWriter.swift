import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The node's append writer: a database connection of its own, driven with futures on that connection's event loop
/// (docs/cluster.md, "Append").
///
/// Until it, a group was written by a task through the pool: HTTP loop → task → the pooled connection's loop →
/// database → that loop → task → HTTP loop. On a CPU-bound host every hop from one thread to another waits for a
/// core, and the publish's latency — which, for publishers that wait for each acknowledgement, is their rate — was
/// mostly such waits. Without the two task hops (three same-session A/B pairs on three nodes of one 2-core machine):
/// single-event publish 6.2/6.3/6.9k → 7.2/8.9/9.0k events/s (publish p50 4.8 → 3.3 ms), cross-node fan-out
/// 468/444/535k → 546/645/624k deliveries/s.
///
/// A connection that closes (the database restarted, a deadline dropped it) is replaced when the next group comes;
/// until the database answers again every group fails, and publishes answer 503 (SPEC §8: never acknowledged).
final class PostgresAppendWriter: Sendable {
    /// A connection with the append statement prepared on it (named: PostgreSQL parses and plans it once per
    /// connection, not on every group).
    private struct Session: Sendable {
        let connection: PostgresConnection
        let append: PreparedQuery
    }

    private struct State {
        var session: Session?
        /// A connection being opened (and its statement prepared): groups that come meanwhile wait for it.
        var connecting: EventLoopFuture<Session>?
        var opened = 0
        var closed = false
    }

    /// Where the connection runs and the store's writer loop with it.
    let eventLoop: any EventLoop
    private let configuration: PostgresConnection.Configuration
    private let deadlines: CallDeadlines
    private let logger: Logger
    private let state = Mutex(State())

    init(configuration: PostgresConnection.Configuration, eventLoop: any EventLoop, deadlines: CallDeadlines, logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.deadlines = deadlines
        self.logger = logger
    }

    /// Connections opened so far (tests check one is replaced after it closed).
    var connectionsOpened: Int { state.withLock { $0.opened } }

    /// Stores the group (connecting first when needed; written again, up to ``PostgresAppendGroup/attempts``
    /// times, after a concurrent duplicate made it fail) within `timeout`. `done` runs once: with the outcome, the
    /// database's error, or ``PostgresStoreError/timedOut(_:)`` — then the connection is dropped, since the
    /// statement's outcome is unknown (a retry is answered from the id index; the tailer delivers it if it committed).
    func commit(_ appends: PostgresAppendGroup, timeout: Duration,
                _ done: @escaping @Sendable (Result<PostgresAppendGroup.Outcome, any Error>) -> Void) {
        let answer = AnswerOnce(done)
        let deadline = deadlines.add(at: .now() + TimeAmount(timeout)) { [self] in
            if answer.give(.failure(PostgresStoreError.timedOut(timeout))) { drop() }
        }
        session().flatMap { session in
            self.run(appends, on: session, attempt: 1)
        }.whenComplete { [self] result in
            deadlines.remove(deadline)
            if case .failure = result { dropIfClosed() }
            answer.give(result)
        }
    }

    deinit {
        // A store dropped without `close()` (a test failing midway): PostgresNIO requires a connection to be closed
        // before it is released.
        state.withLock { $0.session?.connection }.map(Self.closeWhenDone)
    }

    /// Closes the connection; later groups fail ``StoreError/closed``.
    func close() {
        let connection = state.withLock { state -> PostgresConnection? in
            state.closed = true
            defer { state.session = nil }
            return state.session?.connection
        }
        connection.map(Self.closeWhenDone)
    }

    private func run(_ appends: PostgresAppendGroup, on session: Session,
                     attempt: Int) -> EventLoopFuture<PostgresAppendGroup.Outcome> {
        let statement = appends.statement
        let binds: [PostgresData]
        do {
            binds = try statement.makeData()
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        return session.append.execute(binds).flatMapThrowing { rows in
            var existing: [String: Int64] = [:], stored: [String: Int64] = [:]
            for row in rows {
                let (id, offset, fresh) = try statement.decodeRow(row)
                guard let id, let offset, let fresh else { continue }
                if fresh { stored[id] = offset } else { existing[id] = offset }
            }
            return try appends.outcome(existing: existing, stored: stored)
        }.flatMapError { [self] error in
            if Self.sqlState(of: error) == PostgresAppendGroup.uniqueViolation, attempt < PostgresAppendGroup.attempts {
                logger.debug("append raced with a duplicate on another node; writing the group again")
                return run(appends, on: session, attempt: attempt + 1)
            }
            return eventLoop.makeFailedFuture(error)
        }
    }

    /// The open session, or one being opened.
    private func session() -> EventLoopFuture<Session> {
        let (future, opening) = state.withLock { state -> (EventLoopFuture<Session>, Bool) in
            if state.closed { return (eventLoop.makeFailedFuture(StoreError.closed), false) }
            if let session = state.session, !session.connection.isClosed { return (eventLoop.makeSucceededFuture(session), false) }
            if let connecting = state.connecting { return (connecting, false) }
            state.opened += 1
            // Returns at once (the connection opens on the loop); its completion is registered outside the lock.
            let opening = open(id: state.opened)
            state.connecting = opening
            return (opening, true)
        }
        if opening {
            future.whenComplete { [self] result in
                let late = state.withLock { state -> PostgresConnection? in
                    state.connecting = nil
                    guard case .success(let session) = result else { return nil }
                    if state.closed { return session.connection }
                    state.session = session
                    return nil
                }
                late.map(Self.closeWhenDone)
            }
        }
        return future
    }

    /// Connects and prepares the append statement; a connection whose statement cannot be prepared is closed.
    private func open(id: Int) -> EventLoopFuture<Session> {
        PostgresConnection.connect(on: eventLoop, configuration: configuration, id: id, logger: logger).flatMap { connection in
            connection.prepare(query: PostgresAppendStatement.sql).map { Session(connection: connection, append: $0) }
                .flatMapError { error in
                    Self.closeWhenDone(connection)
                    return connection.eventLoop.makeFailedFuture(error)
                }
        }
    }

    /// The SQLSTATE of a database error: the prepared statement's path reports PostgresNIO's older error type.
    private static func sqlState(of error: any Error) -> String? {
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] }
        if case .server(let message) = error as? PostgresError { return message.fields[.sqlState] }
        return nil
    }

    private func drop() {
        state.withLock { state in
            defer { state.session = nil }
            return state.session?.connection
        }.map(Self.closeWhenDone)
    }

    /// Closes the connection, holding it until it is closed (PostgresNIO requires a connection to be closed before
    /// it is released).
    private static func closeWhenDone(_ connection: PostgresConnection) {
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    private func dropIfClosed() {
        state.withLock { state in
            if state.session?.connection.isClosed == true { state.session = nil }
        }
    }
}

/// A completion called at most once, by whichever of the statement and its deadline comes first.
private final class AnswerOnce: Sendable {
    private let done: Mutex<(@Sendable (Result<PostgresAppendGroup.Outcome, any Error>) -> Void)?>

    init(_ done: @escaping @Sendable (Result<PostgresAppendGroup.Outcome, any Error>) -> Void) {
        self.done = Mutex(done)
    }

    /// True when this call gave the answer.
    @discardableResult
    func give(_ result: Result<PostgresAppendGroup.Outcome, any Error>) -> Bool {
        guard let done = done.withLock({ done in defer { done = nil }; return done }) else { return false }
        done(result)
        return true
    }
}
