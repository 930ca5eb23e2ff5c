import BlobHubRealtimeIdentity
import Foundation
import NIOHTTP1

/// The outcome of a successful handshake authentication.
public struct AuthenticatedClient: Sendable, Equatable {
    public var principal: Principal
    /// The subprotocol to select in the 101 response (the marker as the client sent it), nil for header auth.
    public var selectedSubprotocol: String?

    public init(principal: Principal, selectedSubprotocol: String?) {
        self.principal = principal
        self.selectedSubprotocol = selectedSubprotocol
    }
}

/// The API-key lookup failed (e.g. the store is unreachable): not the client's fault, so the server
/// answers 503/500 rather than 401.
public struct APIKeyResolutionError: Error, CustomStringConvertible {
    public var underlying: any Error

    public init(underlying: any Error) {
        self.underlying = underlying
    }

    public var description: String { "API key lookup failed: \(underlying)" }
}

/// Authenticates a WebSocket upgrade request: extraction (SPEC §3 precedence) plus verification.
public struct Authenticator: Sendable {
    public let bearer: BearerTokenVerifier
    public let apiKeys: any APIKeyResolver

    public init(bearer: BearerTokenVerifier, apiKeys: any APIKeyResolver) {
        self.bearer = bearer
        self.apiKeys = apiKeys
    }

    /// `.success` with the principal, or `.failure` for a missing or invalid credential (HTTP 401).
    ///
    /// - Throws: ``APIKeyResolutionError`` when the API-key resolver throws; only that.
    public func authenticate(headers: HTTPHeaders, now: Date = Date()) async throws -> Result<
        AuthenticatedClient, AuthenticationFailure
    > {
        let presented: PresentedCredential
        switch CredentialExtractor.extract(from: headers) {
        case .success(let credential): presented = credential
        case .failure(let failure): return .failure(failure)
        }

        let selectedSubprotocol: String? =
            switch presented.transport {
            case .header: nil
            case .subprotocol(let marker): marker
            }

        let principal: Principal
        switch presented.credential {
        case .bearer(let token):
            do {
                principal = .user(try await bearer.verify(token, now: now))
            } catch {
                return .failure(error)
            }
        case .apiKey(let secret):
            let resolved: APIKeyPrincipal?
            do {
                resolved = try await apiKeys.resolve(secret: secret, now: now)
            } catch {
                throw APIKeyResolutionError(underlying: error)
            }
            // The resolver already filters expired keys; the expiry is checked again so that a
            // resolver bug cannot admit an expired key.
            guard let resolved, resolved.expiresAt.map({ now < $0 }) ?? true else {
                return .failure(.invalidCredentials)
            }
            principal = .apiKey(resolved)
        }
        return .success(AuthenticatedClient(principal: principal, selectedSubprotocol: selectedSubprotocol))
    }
}
