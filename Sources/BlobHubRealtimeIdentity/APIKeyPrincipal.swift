import Foundation

/// What an API key is scoped to (SPEC §3 "API keys").
public enum APIKeyTarget: Sendable, Equatable {
    case organization(String)
    case blob(String)
}

/// The role an API key grants on its target.
public enum APIKeyRole: String, Sendable {
    case read, write
}

/// An API key that resolved to a live key.
public struct APIKeyPrincipal: Sendable, Equatable {
    public var keyID: String
    /// The user the key belongs to.
    public var userID: String
    public var target: APIKeyTarget
    public var role: APIKeyRole
    public var expiresAt: Date?

    public init(keyID: String, userID: String, target: APIKeyTarget, role: APIKeyRole, expiresAt: Date? = nil) {
        self.keyID = keyID
        self.userID = userID
        self.target = target
        self.role = role
        self.expiresAt = expiresAt
    }
}
