import BlobHubRealtimeProtocol

/// One subscription of a connection: its identity, its type filter and the ids as the client wrote them.
struct ActiveSubscription {
    let key: SubscriptionKey
    let scopeID: String?
    let targetID: String
    /// nil = every type.
    private(set) var types: [String]?
    private var typeSet: Set<String>?
    /// The encoded start of every `subscription/event` for this subscription.
    let prefix: [UInt8]

    init(_ params: SubscriptionParams) {
        key = params.key
        scopeID = params.scopeID
        targetID = params.targetID
        prefix = DeliveryFrame.prefix(scope: params.scope, scopeID: params.scopeID, target: params.target, targetID: params.targetID)
        setTypes(params.types)
    }

    func accepts(_ type: String) -> Bool {
        typeSet?.contains(type) ?? true
    }

    var acceptsEveryType: Bool { types == nil }

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
    var identityFields: [(String, JSONValue)] {
        [
            ("scope", .string(key.scope.rawValue)),
            ("scope_id", scopeID.map(JSONValue.string) ?? .null),
            ("target", .string(key.target.rawValue)),
            ("target_id", .string(targetID)),
        ]
    }

    var listJSON: JSONValue {
        .object(JSONObject(identityFields + [("types", .array((types ?? []).map(JSONValue.string)))]))
    }
}
