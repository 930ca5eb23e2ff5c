import BlobHubRealtimeProtocol
import Foundation

/// How the client authenticates (SPEC §3).
public enum ClientCredential: Sendable, Equatable {
    case bearer(String)
    case apiKey(String)
}

/// A subscription as the caller names it; ids are sent exactly as given.
public struct ClientSubscription: Sendable, Hashable {
    public var scope: SubscriptionScope
    public var scopeID: String?
    public var target: SubscriptionTarget
    public var targetID: String
    /// nil = every type.
    public var types: [String]?

    public init(scope: SubscriptionScope, scopeID: String? = nil, target: SubscriptionTarget, targetID: String, types: [String]? = nil) {
        self.scope = scope
        self.scopeID = scopeID
        self.target = target
        self.targetID = targetID
        self.types = types
    }

    public static func session(revision: String, session: String, types: [String]? = nil) -> ClientSubscription {
        ClientSubscription(scope: .revision, scopeID: revision, target: .session, targetID: session, types: types)
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

/// One delivered event.
public struct ClientEvent: Sendable {
    public var subscription: ClientSubscription
    public var offset: Int64
    /// The event object as published.
    public var event: JSONValue
    public var type: String? { event.objectValue?["type"]?.stringValue }
}

/// What the caller sees on the event stream besides events.
public enum ClientNotice: Sendable {
    case event(ClientEvent)
    /// The server ended a subscription (access revoked).
    case revoked(ClientSubscription, reason: String)
    /// Some events could not be recovered after a reconnect: reload state over REST.
    case gap(ClientSubscription)
    /// The connection dropped; the client reconnects unless it says otherwise.
    case disconnected(code: UInt16?)
    case reconnected
}

public enum RealtimeClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The upgrade was refused with this HTTP status (401 bad credential, 403 origin, 503 full/draining).
    case refused(status: Int, message: String)
    /// The server answered a request with a JSON-RPC error.
    case rpc(code: Int, message: String, reason: String?)
    /// The connection closed (close code when the server sent one).
    case closed(code: UInt16?)
    case invalidURL(String)

    public var description: String {
        switch self {
        case .refused(let status, let message): return "upgrade refused: HTTP \(status) \(message)"
        case .rpc(let code, let message, let reason): return "error \(code) \(message)" + (reason.map { " (\($0))" } ?? "")
        case .closed(let code): return "connection closed" + (code.map { " (\($0))" } ?? "")
        case .invalidURL(let url): return "invalid URL \(url)"
        }
    }
}
