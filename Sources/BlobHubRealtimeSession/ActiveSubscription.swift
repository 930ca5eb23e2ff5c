import BlobHubRealtimeProtocol

/// One subscription of a connection: its identity, its type filter and the ids as the client wrote them.
public struct ActiveSubscription: Sendable {
    public let key: SubscriptionKey
    public let scopeID: String?
    public let targetID: String
    /// nil = every type.
    public private(set) var types: [String]?
    private var typeSet: Set<String>?
    /// The encoded start of every `subscription/event` for this subscription.
    public let prefix: [UInt8]

    public init(_ params: SubscriptionParams) {
        key = params.key
        scopeID = params.scopeID
        targetID = params.targetID
        prefix = Self.eventPrefix(scope: params.scope, scopeID: params.scopeID, target: params.target, targetID: params.targetID)
        setTypes(params.types)
    }

    public func accepts(_ type: String) -> Bool {
        typeSet?.contains(type) ?? true
    }

    public var acceptsEveryType: Bool { types == nil }

    /// Union of filters; "every type" absorbs any list (SPEC §6.2).
    mutating func merge(_ added: [String]?) {
        guard let current = types, let added else { return setTypes(nil) }
        setTypes(current + added.filter { !current.contains($0) })
    }

    /// Removes types; returns false when none remain (the subscription ends).
    mutating func remove(_ removed: [String]) -> Bool {
        let remaining = (types ?? []).filter { !removed.contains($0) }
        setTypes(remaining)
        return !remaining.isEmpty
    }

    private mutating func setTypes(_ list: [String]?) {
        types = list
        typeSet = list.map(Set.init)
    }

    /// The identity fields as echoed in notifications and listings.
    public var identityFields: [(String, JSONValue)] {
        [
            ("scope", .string(key.scope.rawValue)),
            ("scope_id", scopeID.map(JSONValue.string) ?? .null),
            ("target", .string(key.target.rawValue)),
            ("target_id", .string(targetID)),
        ]
    }

    public var listJSON: JSONValue {
        .object(JSONObject(identityFields + [("types", .array((types ?? []).map(JSONValue.string)))]))
    }

    /// `{"jsonrpc":"2.0","method":"subscription/event","params":{"scope":…,"scope_id":…,"target":…,"target_id":…,"offset":`
    ///
    /// Everything of a `subscription/event` notification (SPEC §7.1) before the offset depends only on
    /// the subscription, echoing its ids as the client wrote them; the transport completes it with
    /// offset + `,"event":` + event + `}}` (the server's `DeliveryFrame.make`).
    public static func eventPrefix(scope: SubscriptionScope, scopeID: String?, target: SubscriptionTarget, targetID: String) -> [UInt8] {
        var bytes = Array(#"{"jsonrpc":"2.0","method":"#.utf8)
        JSONWriter.appendString(RPCNotificationMethod.subscriptionEvent.rawValue, into: &bytes)
        bytes += Array(#","params":"#.utf8)
        bytes += Array(#"{"scope":"#.utf8)
        JSONWriter.appendString(scope.rawValue, into: &bytes)
        bytes += Array(#","scope_id":"#.utf8)
        if let scopeID { JSONWriter.appendString(scopeID, into: &bytes) } else { bytes += Array("null".utf8) }
        bytes += Array(#","target":"#.utf8)
        JSONWriter.appendString(target.rawValue, into: &bytes)
        bytes += Array(#","target_id":"#.utf8)
        JSONWriter.appendString(targetID, into: &bytes)
        bytes += Array(#","offset":"#.utf8)
        return bytes
    }
}
