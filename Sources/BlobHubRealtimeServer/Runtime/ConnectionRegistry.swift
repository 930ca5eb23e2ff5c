import NIOCore
import Synchronization

/// The node's open WebSocket connections: counts them for `--max-connections` and reaches each one
/// on its own event loop (drain, revocation).
public final class ConnectionRegistry: Sendable {
    /// A way to act on one connection from any thread.
    struct Handle: Sendable {
        let eventLoop: any EventLoop
        let close: @Sendable (CloseCode) -> Void
    }

    private let state = Mutex<[ObjectIdentifier: Handle]>([:])
    /// Upgrades admitted but not yet registered count against the limit too.
    private let reserved = Atomic<Int>(0)

    public init() {}

    public var count: Int { state.withLock { $0.count } }

    /// Reserves a slot for an upgrade in progress; false when the node is full.
    func reserve(limit: Int) -> Bool {
        let open = count
        let pending = reserved.add(1, ordering: .relaxed).newValue
        if open + pending > limit {
            reserved.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func releaseReservation() {
        reserved.subtract(1, ordering: .relaxed)
    }

    func register(_ key: ObjectIdentifier, _ handle: Handle) {
        state.withLock { $0[key] = handle }
    }

    func unregister(_ key: ObjectIdentifier) {
        state.withLock { _ = $0.removeValue(forKey: key) }
    }

    /// Closes every connection with `code` on its own event loop.
    func closeAll(_ code: CloseCode) {
        let handles = state.withLock { Array($0.values) }
        for handle in handles { handle.close(code) }
    }
}
