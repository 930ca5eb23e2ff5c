import Foundation

/// A user authenticated by a bearer access token.
public struct UserPrincipal: Sendable, Equatable {
    /// The `sub` claim.
    public var userID: String
    /// The `exp` claim (without leeway).
    public var expiresAt: Date

    public init(userID: String, expiresAt: Date) {
        self.userID = userID
        self.expiresAt = expiresAt
    }
}

/// Who a connection authenticated as.
public enum Principal: Sendable, Equatable {
    case user(UserPrincipal)
    case apiKey(APIKeyPrincipal)

    /// The user the connection acts for (an API key belongs to a user).
    public var userID: String {
        switch self {
        case .user(let user): user.userID
        case .apiKey(let key): key.userID
        }
    }

    /// When the credential stops being valid (nil: an API key without expiry).
    public var expiresAt: Date? {
        switch self {
        case .user(let user): user.expiresAt
        case .apiKey(let key): key.expiresAt
        }
    }
}
