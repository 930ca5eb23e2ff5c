import BlobHubRealtimeAuth
import BlobHubRealtimeRegistry
import BlobHubRealtimeStore
import Foundation
import Synchronization

/// The node's registry: an in-memory snapshot for lock-free-ish reads on every access check, and
/// serialized mutations that persist their rows before the new snapshot becomes visible.
package final class RegistryService: Sendable {
    private let current: Mutex<RegistrySnapshot>
    private let store: any RealtimeStore
    private let writer = AsyncLock()

    package init(store: any RealtimeStore) async throws {
        self.store = store
        let rows = try await store.registryRows()
        current = Mutex(try RegistrySnapshot(rows: rows))
    }

    package var snapshot: RegistrySnapshot { current.withLock { $0 } }

    /// Applies a command: validate against the current snapshot, persist the rows, then publish the new snapshot.
    func apply(_ command: RegistryCommand, nowMs: Int64) async throws -> RegistryChange {
        try await writer.withLock {
            var next = snapshot
            let change = try next.apply(command, nowMs: nowMs)
            if !change.rows.isEmpty { try await store.persist(change.rows) }
            current.withLock { $0 = next }
            return change
        }
    }

    /// Replaces the snapshot from the store (another node changed the registry); returns the old and new ones.
    @discardableResult
    func reload() async throws -> (old: RegistrySnapshot, new: RegistrySnapshot) {
        try await writer.withLock {
            let rows = try await store.registryRows()
            let fresh = try RegistrySnapshot(rows: rows)
            let old = current.withLock { current in
                defer { current = fresh }
                return current
            }
            return (old, fresh)
        }
    }
}

/// API keys for the handshake, looked up by the hash of the secret in the registry snapshot.
package struct RegistryAPIKeys: APIKeyResolver {
    let registry: RegistryService

    package init(registry: RegistryService) {
        self.registry = registry
    }

    package func resolve(secret: String, now: Date) async throws -> APIKeyPrincipal? {
        guard let key = registry.snapshot.apiKey(secretHash: APIKeySecrets.hash(secret)) else { return nil }
        let expiresAt = key.expiresAt.map { Date(timeIntervalSince1970: Double($0) / 1000) }
        if let expiresAt, expiresAt <= now { return nil }
        let target: APIKeyTarget = key.target == .orgs ? .organization(key.targetID) : .blob(key.targetID)
        return APIKeyPrincipal(keyID: key.id, userID: key.userID, target: target, role: key.role == .write ? .write : .read, expiresAt: expiresAt)
    }
}
