import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import Foundation

/// Applies registry commands and their consequences: core events into the log (SPEC §9),
/// subscriptions re-checked when access shrank, connections of revoked keys closed (SPEC §6.6).
package struct AdminService: Sendable {
    package let registry: RegistryService
    let publisher: PublishService
    let connections: ConnectionRegistry

    package init(registry: RegistryService, publisher: PublishService, connections: ConnectionRegistry) {
        self.registry = registry
        self.publisher = publisher
        self.connections = connections
    }

    package func apply(_ command: RegistryCommand) async throws -> RegistryChange {
        let change = try await registry.apply(command, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
        if !change.events.isEmpty {
            _ = try await publisher.publish(change.events)
        }
        if change.accessReduced {
            connections.revalidateAll(registry.snapshot)
        }
        connections.close(apiKeys: Set(change.revokedAPIKeyIDs), .authenticationExpired)
        return change
    }
}
