import BlobHubRealtimeIdentity
import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import Foundation

/// The protocol state of one connection (SPEC §5): initialization, the authenticated principal and
/// its expiry. Pure logic: it never touches the network. The transport feeds it requests and carries
/// out the steps it returns.
public struct ConnectionSession: Sendable {
    /// What the transport must do for one request.
    public enum Step: Sendable {
        /// Answer with this result or error (notifications are not answered by the caller).
        case done(Result<JSONValue, RPCError>)
        /// Verify this token off the event loop, then call `finishAuthentication`.
        case verifyToken(String)
        /// A subscription was added (or merged). When `since` is set, replay before answering.
        case subscribed(SubscriptionKey, isNew: Bool, since: Int64?, epoch: String?)
        /// A subscription ended; answer `{}` after removing it from the fan-out index.
        case unsubscribed(SubscriptionKey)
    }

    public struct Settings: Sendable {
        public var serverName: String
        public var serverVersion: String
        public var epoch: String
        public var heartbeatIntervalMs: Int
        public var maxMessageBytes: Int
        public var maxSubscriptions: Int

        public init(serverName: String, serverVersion: String, epoch: String, heartbeatIntervalMs: Int, maxMessageBytes: Int, maxSubscriptions: Int) {
            self.serverName = serverName
            self.serverVersion = serverVersion
            self.epoch = epoch
            self.heartbeatIntervalMs = heartbeatIntervalMs
            self.maxMessageBytes = maxMessageBytes
            self.maxSubscriptions = maxSubscriptions
        }
    }

    public let connectionID: String
    public let settings: Settings
    public private(set) var principal: Principal
    public private(set) var isInitialized = false
    public private(set) var subscriptions: [SubscriptionKey: ActiveSubscription] = [:]

    public init(connectionID: String, principal: Principal, settings: Settings) {
        self.connectionID = connectionID
        self.principal = principal
        self.settings = settings
    }

    /// When the credential stops being valid (before leeway), if it expires at all.
    public var credentialExpiry: Date? { principal.expiresAt }

    /// Handles one request; `registry` is the current registry, for access checks.
    public mutating func handle(_ request: RPCRequest, registry: RegistrySnapshot) -> Step {
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
        case .subscriptionAdd:
            return add(request.params, registry: registry)
        case .subscriptionRemove:
            return remove(request.params)
        case .subscriptionList:
            let list = subscriptions.values.sorted { RoutingKey.text($0.key) < RoutingKey.text($1.key) }.map(\.listJSON)
            return .done(.success(.object(JSONObject([("subscriptions", .array(list))]))))
        case .initialize, .ping:
            preconditionFailure("handled above")
        }
    }

    private mutating func add(_ raw: JSONObject?, registry: RegistrySnapshot) -> Step {
        let params: SubscriptionParams
        do {
            params = try SubscriptionParams.decode(raw, allowSince: true)
        } catch {
            return .done(.failure(error))
        }
        let key = params.key
        guard AccessPolicy.canRead(registryPrincipal, key, in: registry) else { return .done(.failure(.forbidden)) }
        if subscriptions[key] != nil {
            subscriptions[key]!.merge(params.types)
            return .subscribed(key, isNew: false, since: params.since, epoch: params.epoch)
        }
        guard subscriptions.count < settings.maxSubscriptions else {
            return .done(.failure(.invalidParams(field: nil, reason: "subscription limit reached")))
        }
        subscriptions[key] = ActiveSubscription(params)
        return .subscribed(key, isNew: true, since: params.since, epoch: params.epoch)
    }

    private mutating func remove(_ raw: JSONObject?) -> Step {
        let params: SubscriptionParams
        do {
            params = try SubscriptionParams.decode(raw, allowSince: false)
        } catch {
            return .done(.failure(error))
        }
        let key = params.key
        guard var subscription = subscriptions[key] else { return .done(.success(.object(JSONObject()))) }
        if let types = params.types {
            guard !subscription.acceptsEveryType else {
                return .done(.failure(.invalidParams(field: "types", reason: "cannot narrow an every-type subscription by removal; remove it and add the wanted types")))
            }
            if subscription.remove(types) {
                subscriptions[key] = subscription
                return .done(.success(.object(JSONObject())))
            }
        }
        subscriptions[key] = nil
        return .unsubscribed(key)
    }

    /// Drops subscriptions the principal may no longer read; returns them (SPEC §6.6).
    public mutating func revalidate(registry: RegistrySnapshot) -> [ActiveSubscription] {
        let principal = registryPrincipal
        let lost = subscriptions.values.filter { !AccessPolicy.canRead(principal, $0.key, in: registry) }
        for subscription in lost { subscriptions[subscription.key] = nil }
        return lost
    }

    public var registryPrincipal: RegistryPrincipal {
        switch principal {
        case .user(let user):
            return .user(id: user.userID)
        case .apiKey(let key):
            switch key.target {
            case .organization(let id): return .apiKey(userID: key.userID, target: .orgs, targetID: id)
            case .blob(let id): return .apiKey(userID: key.userID, target: .blobs, targetID: id)
            }
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
    public mutating func finishAuthentication(_ outcome: Result<UserPrincipal, AuthenticationFailure>) -> Result<JSONValue, RPCError> {
        guard case .success(let user) = outcome, case .user(let current) = principal, current.userID == user.userID else {
            return .failure(.forbidden)
        }
        principal = .user(user)
        let ms = Int64((user.expiresAt.timeIntervalSince1970 * 1000).rounded())
        return .success(.object(JSONObject([("expires_at", .number(String(ms)))])))
    }
}
