/// Why a handshake (or an in-band re-authentication) was refused.
///
/// SPEC §3: the response never says more than "missing credentials" vs "invalid credentials".
public enum AuthenticationFailure: Error, Sendable, Equatable {
    /// No credential at all was presented.
    case missingCredentials
    /// A credential was presented but is malformed, expired, revoked, unknown or otherwise unacceptable.
    case invalidCredentials

    /// The text for the HTTP 401 error body.
    public var message: String {
        switch self {
        case .missingCredentials: "missing credentials"
        case .invalidCredentials: "invalid credentials"
        }
    }
}
