// The JSON-RPC methods a client may call (SPEC §5, §6).

public enum RPCMethod: String, Sendable, CaseIterable {
    case initialize = "status/initialize"
    case ping = "status/ping"
    case authenticate = "status/authenticate"
    case subscriptionAdd = "subscription/add"
    case subscriptionRemove = "subscription/remove"
    case subscriptionList = "subscription/list"
}

/// Methods of server-to-client notifications (SPEC §7.1, §6.6).
public enum RPCNotificationMethod: String, Sendable, CaseIterable {
    case subscriptionEvent = "subscription/event"
    case subscriptionRevoked = "subscription/revoked"
}
