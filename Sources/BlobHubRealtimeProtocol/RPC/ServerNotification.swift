/// A notification the server sends about a subscription (SPEC §7), as a client reads it: the one definition of
/// their shape on the receiving side (the server writes them from ``RPCNotificationMethod`` and the
/// subscription's identity fields).
public enum ServerNotification: Sendable, Equatable {
    /// `subscription/event`: the subscription, the event's offset and the event object.
    case event(SubscriptionKey, offset: Int64, event: JSONValue)
    /// `subscription/revoked`: the subscription the server ended, and why.
    case revoked(SubscriptionKey, reason: String)

    /// The notification in a parsed message; nil for anything else (a response, another method, a malformed one).
    public static func decode(_ message: JSONObject) -> ServerNotification? {
        guard message["id"] == nil, let method = message["method"]?.stringValue.flatMap(RPCNotificationMethod.init(rawValue:)),
              let params = message["params"]?.objectValue,
              let scope = params["scope"]?.stringValue.flatMap(SubscriptionScope.init(rawValue:)),
              let target = params["target"]?.stringValue.flatMap(SubscriptionTarget.init(rawValue:)),
              let targetID = params["target_id"]?.stringValue
        else { return nil }
        let key = SubscriptionKey(scope: scope, scopeID: params["scope_id"]?.stringValue, target: target, targetID: targetID)
        switch method {
        case .subscriptionEvent:
            guard let offset = params["offset"]?.int64Value, let event = params["event"] else { return nil }
            return .event(key, offset: offset, event: event)
        case .subscriptionRevoked:
            return .revoked(key, reason: params["reason"]?.stringValue ?? "")
        }
    }
}

extension RPCEncoder {
    /// `{"jsonrpc":"2.0","id":<id>,"method":…,"params":…}` (`params` omitted when nil): a client's request.
    public static func request(id: Int64, method: RPCMethod, params: JSONValue? = nil) -> [UInt8] {
        var object = JSONObject([("jsonrpc", .string("2.0")), ("id", .number(String(id))), ("method", .string(method.rawValue))])
        if let params { object["params"] = params }
        return JSONWriter.serialize(.object(object))
    }
}
