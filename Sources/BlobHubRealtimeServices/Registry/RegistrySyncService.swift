import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import Logging
import ServiceLifecycle
import Synchronization

/// Cluster mode: when the store reports that another node changed the registry, reloads the snapshot and applies
/// the consequences exactly as a local change does (SPEC §6.6): every connection's subscriptions are re-checked
/// (lost access → `subscription/revoked`), and connections of API keys that no longer exist close with 4001.
/// Signals arriving during a reload are merged into one more reload. A failed reload is retried.
package final class RegistrySyncService: Service, Sendable {
    private let registry: RegistryService
    private let connections: ConnectionRegistry
    private let logger: Logger
    private let signals: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    package init(registry: RegistryService, connections: ConnectionRegistry, logger: Logger) {
        self.registry = registry
        self.connections = connections
        self.logger = logger
        (signals, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The store's registry observer: cheap, callable from any thread.
    package func changed() {
        continuation.yield()
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in self.signals {
                await self.reloadUntilDone()
            }
        }
    }

    private func reloadUntilDone() async {
        while !Task.isCancelled {
            do {
                let (old, new) = try await registry.reload()
                connections.revalidateAll(new)
                connections.close(apiKeys: old.apiKeyIDs.subtracting(new.apiKeyIDs), .authenticationExpired)
                return
            } catch {
                logger.warning("registry reload failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
    }
}
