import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import NIOCore
import Synchronization

/// The node's open WebSocket connections: counts them for `--max-connections` and reaches each one
/// on its own event loop (drain, revocation).
public final class ConnectionRegistry: Sendable {
    /// A way to act on one connection from any thread.
    package struct Handle: Sendable {
        let eventLoop: any EventLoop
        /// The API key the connection authenticated with, if any.
        let apiKeyID: String?
        package let close: @Sendable (CloseCode) -> Void
        let revalidate: @Sendable (RegistrySnapshot) -> Void

        package init(eventLoop: any EventLoop, apiKeyID: String?, close: @escaping @Sendable (CloseCode) -> Void,
                     revalidate: @escaping @Sendable (RegistrySnapshot) -> Void) {
            self.eventLoop = eventLoop
            self.apiKeyID = apiKeyID
            self.close = close
            self.revalidate = revalidate
        }
    }

    private let state = Mutex<[ObjectIdentifier: Handle]>([:])

    public init() {}

    public var count: Int { state.withLock { $0.count } }

    package func register(_ key: ObjectIdentifier, _ handle: Handle) {
        state.withLock { $0[key] = handle }
    }

    package func unregister(_ key: ObjectIdentifier) {
        state.withLock { _ = $0.removeValue(forKey: key) }
    }

    /// Re-checks every connection's subscriptions against `registry` (each on its own loop).
    func revalidateAll(_ registry: RegistrySnapshot) {
        for handle in state.withLock({ Array($0.values) }) { handle.revalidate(registry) }
    }

    /// Closes the connections that authenticated with one of these API keys (SPEC §6.6: 4001).
    func close(apiKeys: Set<String>, _ code: CloseCode) {
        guard !apiKeys.isEmpty else { return }
        let handles = state.withLock { $0.values.filter { $0.apiKeyID.map(apiKeys.contains) ?? false } }
        for handle in handles { handle.close(code) }
    }

    /// The open connections right now (drain closes them in batches).
    package func handles() -> [Handle] {
        state.withLock { Array($0.values) }
    }

    /// Closes every connection with `code` on its own event loop.
    package func closeAll(_ code: CloseCode) {
        let handles = state.withLock { Array($0.values) }
        for handle in handles { handle.close(code) }
    }
}
