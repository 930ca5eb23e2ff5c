import NIOCore
import Synchronization

/// Bytes received on a test socket, read by parsers that wait (polling, bounded by a timeout).
final class ByteInbox: Sendable {
    struct Timeout: Error, CustomStringConvertible {
        let what: String
        var description: String { "timed out waiting for \(what)" }
    }
    struct EndOfStream: Error {}

    private struct State {
        var bytes: [UInt8] = []
        var closed = false
    }
    private let state = Mutex(State())

    func append(_ buffer: ByteBuffer) {
        state.withLock { $0.bytes.append(contentsOf: buffer.readableBytesView) }
    }

    func markClosed() {
        state.withLock { $0.closed = true }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Runs `parse` over the buffered bytes until it returns a value (consuming what it used).
    func read<T: Sendable>(_ what: String, timeout: Duration, _ parse: @Sendable (inout [UInt8]) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            let outcome: Result<T, any Error>? = state.withLock { state in
                if let value = parse(&state.bytes) { return .success(value) }
                if state.closed { return .failure(EndOfStream()) }
                return nil
            }
            if let outcome { return try outcome.get() }
            guard ContinuousClock.now < deadline else { throw Timeout(what: what) }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}
