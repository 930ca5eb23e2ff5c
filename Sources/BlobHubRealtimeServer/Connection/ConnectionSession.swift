import BlobHubRealtimeAuth
import BlobHubRealtimeProtocol
import Foundation

/// The protocol state of one connection (SPEC §5): initialization, the authenticated principal and
/// its expiry. Pure logic: it never touches the network. The transport feeds it requests and carries
/// out the steps it returns.
struct ConnectionSession {
    /// What the transport must do for one request.
    enum Step {
        /// Answer with this result or error (notifications are not answered by the caller).
        case done(Result<JSONValue, RPCError>)
        /// Verify this token off the event loop, then call `finishAuthentication`.
        case verifyToken(String)
    }

    struct Settings: Sendable {
        var serverName: String
        var serverVersion: String
        var epoch: String
        var heartbeatIntervalMs: Int
        var maxMessageBytes: Int
        var maxSubscriptions: Int
    }

    let connectionID: String
    let settings: Settings
    private(set) var principal: Principal
    private(set) var isInitialized = false

    init(connectionID: String, principal: Principal, settings: Settings) {
        self.connectionID = connectionID
        self.principal = principal
        self.settings = settings
    }

    /// When the credential stops being valid (before leeway), if it expires at all.
    var credentialExpiry: Date? { principal.expiresAt }

    mutating func handle(_ request: RPCRequest) -> Step {
        guard let method = RPCMethod(rawValue: request.method) else {
            return .done(.failure(.methodNotSupported))
        }
        if method == .ping { return .done(.success(.object(JSONObject()))) }
        if method == .initialize { return .done(initialize(request.params)) }
        guard isInitialized else {
            return .done(.failure(.invalidParams(field: nil, reason: "connection not initialized")))
        }
        switch method {
        case .authenticate:
            guard case .user = principal else { return .done(.failure(.methodNotSupported)) }
            do {
                let params = try AuthenticateParams.decode(request.params)
                return .verifyToken(params.token)
            } catch {
                return .done(.failure(error))
            }
        case .subscriptionAdd, .subscriptionRemove, .subscriptionList:
            // Subscriptions arrive with the store (issue 3).
            return .done(.failure(.methodNotSupported))
        case .initialize, .ping:
            preconditionFailure("handled above")
        }
    }

    private mutating func initialize(_ params: JSONObject?) -> Result<JSONValue, RPCError> {
        guard !isInitialized else {
            return .failure(.invalidParams(field: nil, reason: "already initialized"))
        }
        do {
            _ = try InitializeParams.decode(params)
        } catch {
            return .failure(error)
        }
        isInitialized = true
        let result = InitializeResult(
            serverName: settings.serverName,
            serverVersion: settings.serverVersion,
            connectionID: connectionID,
            epoch: settings.epoch,
            heartbeatIntervalMs: settings.heartbeatIntervalMs,
            maxMessageBytes: settings.maxMessageBytes,
            maxSubscriptions: settings.maxSubscriptions
        )
        return .success(result.json())
    }

    /// Completes `status/authenticate`: the new token must be valid and name the same user (SPEC §5.3).
    mutating func finishAuthentication(_ outcome: Result<UserPrincipal, AuthenticationFailure>) -> Result<JSONValue, RPCError> {
        guard case .success(let user) = outcome, case .user(let current) = principal, current.userID == user.userID else {
            return .failure(.forbidden)
        }
        principal = .user(user)
        let ms = Int64((user.expiresAt.timeIntervalSince1970 * 1000).rounded())
        return .success(.object(JSONObject([("expires_at", .number(String(ms)))])))
    }
}
