import BlobHubRealtimeProtocol
import BlobHubRealtimeStore
import Foundation

/// Accepts events for the log: intake (validation, routing, derivation), then one durable append.
/// Fan-out happens through the store's commit observer, in offset order.
struct PublishService: Sendable {
    let store: any RealtimeStore
    let registry: RegistryService

    struct Accepted: Sendable { var id: String; var offset: Int64 }

    func publish(_ objects: [JSONValue]) async throws -> [Accepted] {
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let prepared = try EventIntake(registry: registry.snapshot, nowMs: nowMs).prepare(objects)
        let results = try await store.append(prepared.events)
        return prepared.publishedIndices.map { Accepted(id: results[$0].id, offset: results[$0].offset) }
    }
}
