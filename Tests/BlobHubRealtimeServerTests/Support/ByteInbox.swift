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
        var nextWaiterID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    func append(_ buffer: ByteBuffer) {
        let waiters = state.withLock { state in
            state.bytes.append(contentsOf: buffer.readableBytesView)
            defer { state.waiters = [:] }
            return state.waiters
        }
        for waiter in waiters.values { waiter.resume() }
    }

    func markClosed() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters = [:] }
            return state.waiters
        }
        for waiter in waiters.values { waiter.resume() }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Runs `parse` over the buffered bytes until it returns a value (consuming what it used).
    func read<T: Sendable>(_ what: String, timeout: Duration, _ parse: @Sendable (inout ArraySlice<UInt8>) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            let outcome: Result<T, any Error>? = state.withLock { state in
                if let value = parse(&state.bytes) { return .success(value) }
                if state.closed { return .failure(EndOfStream()) }
                return nil
            }
            if let outcome { return try outcome.get() }
            guard ContinuousClock.now < deadline else { throw Timeout(what: what) }
            await waitForChange(until: deadline)
        }
    }

    /// Suspends until bytes arrive, the stream closes, or `deadline` passes.
    func waitForClose(until deadline: ContinuousClock.Instant) async {
        while !isClosed, ContinuousClock.now < deadline {
            await waitForChange(until: deadline)
        }
    }

    private func waitForChange(until deadline: ContinuousClock.Instant) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id: Int? = state.withLock { state in
                // Re-check under the lock: data may have arrived since the caller looked.
                if state.closed { return nil }
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
