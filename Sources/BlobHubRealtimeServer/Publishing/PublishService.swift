import BlobHubRealtimeProtocol
import BlobHubRealtimeStore
import Foundation

/// Accepts events for the log: intake (validation, routing, derivation), then one durable append.
/// Fan-out happens through the store's commit observer, in offset order.
struct PublishService: Sendable {
    let store: any RealtimeStore
    let registry: RegistryService

    struct Accepted: Sendable { var id: String; var offset: Int64 }

    /// Intake runs on the caller's thread; the outcome arrives once the events are durable (or the append
    /// failed). An ``EventIntake/Rejection`` is reported before anything is stored.
    func publish(_ objects: [JSONValue], completion: @escaping @Sendable (Result<[Accepted], any Error>) -> Void) {
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let prepared: EventIntake.Prepared
        do {
            prepared = try EventIntake(registry: registry.snapshot, nowMs: nowMs).prepare(objects)
        } catch {
            return completion(.failure(error))
        }
        let published = prepared.publishedIndices
        store.append(prepared.events) { outcome in
            completion(outcome.map { results in published.map { Accepted(id: results[$0].id, offset: results[$0].offset) } })
        }
    }

    func publish(_ objects: [JSONValue]) async throws -> [Accepted] {
        try await withCheckedThrowingContinuation { continuation in
            publish(objects) { continuation.resume(with: $0) }
        }
    }
}
