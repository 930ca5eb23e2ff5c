import BlobHubRealtimeProtocol
import Foundation

/// How the client authenticates (SPEC §3).
public enum ClientCredential: Sendable, Equatable {
    /// A JWT access token (`Authorization: Bearer`); refresh it in band with `authenticate(token:)`.
    case bearer(String)
    /// An API key (`X-API-Key`), for services.
    case apiKey(String)
}

/// TLS for `wss://` connections. The server's certificate chain and name are always verified.
public struct ClientTLS: Sendable, Equatable {
    /// A PEM file of CA certificates to trust instead of the system's trust store (a private CA, or a
    /// test server's own self-signed certificate); nil trusts the system store.
    public var trustedCAFile: String?
    /// The name the server's certificate must carry, also sent as SNI; nil uses the host (an IP address
    /// is then matched against the certificate's IP entries and no SNI is sent).
    public var serverName: String?

    /// Defaults: the system trust store, the host's own name.
    public init(trustedCAFile: String? = nil, serverName: String? = nil) {
        self.trustedCAFile = trustedCAFile
        self.serverName = serverName
    }
}

/// A subscription as the caller names it; ids are sent exactly as given.
public struct ClientSubscription: Sendable, Hashable {
    /// `core` (users, organizations, blobs, revisions) or `revision` (sessions and executions of one revision).
    public var scope: SubscriptionScope
    /// The revision id for scope `revision`; nil for `core`.
    public var scopeID: String?
    /// What is watched (SPEC §6: user, organization, blob, revision, session, execution).
    public var target: SubscriptionTarget
    /// The id of what is watched, sent exactly as given.
    public var targetID: String
    /// nil = every type.
    public var types: [String]?

    /// Any subscription; `types` nil (or empty) = every event type.
    public init(scope: SubscriptionScope, scopeID: String? = nil, target: SubscriptionTarget, targetID: String, types: [String]? = nil) {
        self.scope = scope
        self.scopeID = scopeID
        self.target = target
        self.targetID = targetID
        self.types = types
    }

    /// The events of one workflow session of a revision (the commonest subscription).
    public static func session(revision: String, session: String, types: [String]? = nil) -> ClientSubscription {
        ClientSubscription(scope: .revision, scopeID: revision, target: .session, targetID: session, types: types)
    }

    /// A subscription as `subscription/list` reports it; nil for a shape this client does not know.
    init?(listed value: JSONValue) {
        guard let object = value.objectValue,
              let scope = object["scope"]?.stringValue.flatMap(SubscriptionScope.init(rawValue:)),
              let target = object["target"]?.stringValue.flatMap(SubscriptionTarget.init(rawValue:)),
              let targetID = object["target_id"]?.stringValue else { return nil }
        let types = object["types"]?.arrayValue?.compactMap(\.stringValue) ?? []
        self.init(scope: scope, scopeID: object["scope_id"]?.stringValue, target: target, targetID: targetID,
                  types: types.isEmpty ? nil : types)
    }

    /// Identity for matching server notifications (UUID-form ids compare case-insensitively).
    var key: SubscriptionKey { SubscriptionKey(scope: scope, scopeID: scopeID, target: target, targetID: targetID) }

    func params(since: Int64?, epoch: String?) -> JSONValue {
        var object = JSONObject([("scope", .string(scope.rawValue))])
        if let scopeID { object["scope_id"] = .string(scopeID) }
        object["target"] = .string(target.rawValue)
        object["target_id"] = .string(targetID)
        if let types { object["types"] = .array(types.map(JSONValue.string)) }
        if let since { object["since"] = .number(String(since)) }
        if let epoch, since != nil { object["epoch"] = .string(epoch) }
        return .object(object)
    }
}

/// What the server answered to `subscribe`. With `since` it reports where the log stood and whether
/// every event after `since` could be replayed; without it the fields are nil.
public struct SubscriptionStart: Sendable, Equatable {
    /// The log head offset when the subscription was added.
    public var headOffset: Int64?
    /// false when some events after `since` were no longer retained (reload the state over REST).
    public var recovered: Bool?
    /// The epoch (log name) the offsets belong to.
    public var epoch: String?

    /// A result with these fields (tests, mocks).
    public init(headOffset: Int64? = nil, recovered: Bool? = nil, epoch: String? = nil) {
        self.headOffset = headOffset
        self.recovered = recovered
        self.epoch = epoch
    }

    init(_ result: JSONValue) {
        let object = result.objectValue
        self.init(headOffset: object?["offset"]?.int64Value, recovered: object?["recovered"]?.boolValue,
                  epoch: object?["epoch"]?.stringValue)
    }
}

/// One delivered event.
public struct ClientEvent: Sendable {
    /// The subscription it was delivered for, as the caller named it.
    public var subscription: ClientSubscription
    /// Its offset in the log: strictly increasing per subscription; persist it to resume with `since`.
    public var offset: Int64
    /// The event object as published.
    public var event: JSONValue
    /// The event's `type` field.
    public var type: String? { event.objectValue?["type"]?.stringValue }
}

/// What the caller sees on the event stream besides events.
public enum ClientNotice: Sendable {
    /// An event of one of the subscriptions.
    case event(ClientEvent)
    /// The server ended a subscription (access revoked).
    case revoked(ClientSubscription, reason: String)
    /// Some events could not be recovered after a reconnect: reload state over REST.
    case gap(ClientSubscription)
    /// The connection dropped; the client reconnects unless it says otherwise.
    case disconnected(code: UInt16?)
    /// Connected again and every subscription added again from its last offset.
    case reconnected
}

/// Why a call or the connection failed.
public enum RealtimeClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The upgrade was refused with this HTTP status (401 bad credential, 403 origin, 503 full/draining).
    case refused(status: Int, message: String)
    /// The server answered a request with a JSON-RPC error.
    case rpc(code: Int, message: String, reason: String?)
    /// The connection closed (close code when the server sent one).
    case closed(code: UInt16?)
    /// The URL is not `ws://host[:port]/path` or `wss://…`.
    case invalidURL(String)
    /// TLS could not be set up (for example an unreadable `trustedCAFile`).
    case tls(String)
    /// No answer within `Configuration.requestTimeout` (a stalled server or network).
    case timedOut

    /// One line for logs and the CLI.
    public var description: String {
        switch self {
        case .refused(let status, let message): return "upgrade refused: HTTP \(status) \(message)"
        case .rpc(let code, let message, let reason): return "error \(code) \(message)" + (reason.map { " (\($0))" } ?? "")
        case .closed(let code): return "connection closed" + (code.map { " (\($0))" } ?? "")
        case .invalidURL(let url): return "invalid URL \(url)"
        case .tls(let message): return "TLS: \(message)"
        case .timedOut: return "request timed out"
        }
    }
}
