/// The text form of a subscription key, as stored with each event for replay lookups:
/// `scope|scopeID|target|targetID` with normalized ids (`""` scope id for core). Also the order of
/// `subscription/list`.
public enum RoutingKey {
    public static func text(_ key: SubscriptionKey) -> String {
        "\(key.scope.rawValue)|\(key.scopeID)|\(key.target.rawValue)|\(key.targetID)"
    }

    public static func parse(_ text: String) -> SubscriptionKey? {
        let parts = text.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 4, let scope = SubscriptionScope(rawValue: String(parts[0])),
              let target = SubscriptionTarget(rawValue: String(parts[2])) else { return nil }
        return SubscriptionKey(scope: scope, scopeID: String(parts[1]), target: target, targetID: String(parts[3]))
    }
}
