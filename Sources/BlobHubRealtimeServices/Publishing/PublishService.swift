import BlobHubRealtimeProtocol
import BlobHubRealtimeStore
import Foundation

/// Accepts events for the log: intake (validation, routing, derivation), then one durable append.
/// Fan-out happens through the store's commit observer, in offset order.
package struct PublishService: Sendable {
    let store: any RealtimeStore
    let registry: RegistryService

    package init(store: any RealtimeStore, registry: RegistryService) {
        self.store = store
        self.registry = registry
    }

    package struct Accepted: Sendable { package var id: String; package var offset: Int64 }

    /// Intake runs on the caller's thread; the outcome arrives once the events are durable (or the append
    /// failed). An ``EventIntake/Rejection`` is reported before anything is stored. The outcome may
    /// arrive before the commit observer hands the events to fan-out: on SQLite just before (the publish
    /// endpoint's answer is queued ahead of the round), on PostgreSQL until another node's earlier offsets
    /// committed (docs/cluster.md); callers that act on the connections afterwards use the async variant.
    func publish(_ objects: [JSONValue], completion: @escaping @Sendable (Result<[Accepted], any Error>) -> Void) {
        let prepared: EventIntake.Prepared
        do {
            prepared = try prepare(objects)
        } catch {
            return completion(.failure(error))
        }
        store.append(prepared.events) { outcome in
            completion(outcome.map(prepared.accepted))
        }
    }

    /// Returns after the events are durable and handed to fan-out, on every store: a revocation that
    /// follows (``AdminService``) is queued on each connection's loop behind the events' delivery round,
    /// so a subscriber sees `member_removed` before its subscription ends.
    package func publish(_ objects: [JSONValue]) async throws -> [Accepted] {
        let prepared = try prepare(objects)
        return prepared.accepted(try await store.append(prepared.events))
    }

    private func prepare(_ objects: [JSONValue]) throws -> EventIntake.Prepared {
        try EventIntake(registry: registry.snapshot, nowMs: Int64(Date().timeIntervalSince1970 * 1000)).prepare(objects)
    }
}

extension EventIntake.Prepared {
    /// The answer for the published (not derived) events, in input order.
    fileprivate func accepted(_ results: [AppendResult]) -> [PublishService.Accepted] {
        publishedIndices.map { PublishService.Accepted(id: results[$0].id, offset: results[$0].offset) }
    }
}
