import BlobHubRealtimeIdentity
import Foundation

/// Looks API-key secrets up (implemented by the store).
public protocol APIKeyResolver: Sendable {
    /// The key's principal; nil for unknown, revoked or expired keys. Throws when the lookup itself
    /// failed (store unreachable), which is not an authentication failure.
    func resolve(secret: String, now: Date) async throws -> APIKeyPrincipal?
}

/// A resolver that knows no keys (until the store exists).
public struct NoAPIKeys: APIKeyResolver {
    public init() {}

    public func resolve(secret: String, now: Date) async throws -> APIKeyPrincipal? { nil }
}
