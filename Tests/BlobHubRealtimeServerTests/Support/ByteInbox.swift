import NIOCore
import Synchronization

/// Bytes received on a test socket, read by parsers that wait for more data (bounded by a timeout).
final class ByteInbox: Sendable {
    struct Timeout: Error, CustomStringConvertible {
        let what: String
        var description: String { "timed out waiting for \(what)" }
    }
    struct EndOfStream: Error {}

    private struct State {
        var bytes = ArraySlice<UInt8>()
        var closed = false
        /// Bumped by every change (bytes or close): a reader waits for a change after the state it looked at.
        var generation = 0
        var nextWaiterID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    func append(_ buffer: ByteBuffer) {
        let waiters = state.withLock { state in
            state.bytes.append(contentsOf: buffer.readableBytesView)
            state.generation += 1
            defer { state.waiters = [:] }
            return state.waiters
        }
        for waiter in waiters.values { waiter.resume() }
    }

    func markClosed() {
        let waiters = state.withLock { state in
            state.closed = true
            state.generation += 1
            defer { state.waiters = [:] }
            return state.waiters
        }
        for waiter in waiters.values { waiter.resume() }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Bytes received and not consumed by a parser yet (for failure reports).
    var bufferedByteCount: Int { state.withLock { $0.bytes.count } }

    /// The current state's generation (see `waitForChange(after:until:)`).
    var generation: Int { state.withLock { $0.generation } }

    /// Runs `parse` over the buffered bytes until it returns a value (consuming what it used).
    func read<T: Sendable>(_ what: String, timeout: Duration, _ parse: @Sendable (inout ArraySlice<UInt8>) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (outcome, looked): (Result<T, any Error>?, Int) = state.withLock { state in
                if let value = parse(&state.bytes) { return (.success(value), state.generation) }
                if state.closed { return (.failure(EndOfStream()), state.generation) }
                return (nil, state.generation)
            }
            if let outcome { return try outcome.get() }
            guard ContinuousClock.now < deadline else { throw Timeout(what: what) }
            // Bytes that arrive between the look above and the wait below end the wait at once: they were
            // once slept through until the deadline (GarbageTests' "fuzzed: no answer", see ByteInboxTests).
            await waitForChange(after: looked, until: deadline)
        }
    }

    /// Suspends until bytes arrive, the stream closes, or `deadline` passes.
    func waitForClose(until deadline: ContinuousClock.Instant) async {
        while ContinuousClock.now < deadline {
            let (closed, looked) = state.withLock { ($0.closed, $0.generation) }
            if closed { return }
            await waitForChange(after: looked, until: deadline)
        }
    }

    /// Suspends until the state has changed since `generation` (at once if it already has), or `deadline` passes.
    func waitForChange(after generation: Int, until deadline: ContinuousClock.Instant) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id: Int? = state.withLock { state in
                // Checked under the lock that `append` and `markClosed` take: no change can slip in between.
                if state.closed || state.generation != generation { return nil }
                let id = state.nextWaiterID
                state.nextWaiterID += 1
                state.waiters[id] = continuation
                return id
            }
            guard let id else {
                continuation.resume()
                return
            }
            Task {
                try? await Task.sleep(until: deadline)
                let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.resume()
            }
        }
    }
}
