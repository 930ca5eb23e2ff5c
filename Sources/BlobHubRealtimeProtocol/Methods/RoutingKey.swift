/// The text form of a subscription key, as stored with each event for replay lookups:
/// `scope|scopeID|target|targetID` with normalized ids (`""` scope id for core). Also the order of
/// `subscription/list`.
public enum RoutingKey {
    public static func text(_ key: SubscriptionKey) -> String {
        "\(key.scope.rawValue)|\(key.scopeID)|\(key.target.rawValue)|\(key.targetID)"
    }

    public static func parse(_ text: String) -> SubscriptionKey? {
        // One scan for the three separators (this runs for every key of every committed event), with no
        // array of substrings; a fourth separator makes the text invalid, as `split` would.
        let utf8 = text.utf8
        var separators = (utf8.startIndex, utf8.startIndex, utf8.startIndex)
        var found = 0
        var index = utf8.startIndex
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: "|") {
                switch found {
                case 0: separators.0 = index
                case 1: separators.1 = index
                case 2: separators.2 = index
                default: return nil
                }
                found += 1
            }
            index = utf8.index(after: index)
        }
        guard found == 3 else { return nil }
        guard let scope = SubscriptionScope(rawValue: String(text[..<separators.0])),
              let target = SubscriptionTarget(rawValue: String(text[utf8.index(after: separators.1)..<separators.2])) else { return nil }
        return SubscriptionKey(
            scope: scope,
            scopeID: String(text[utf8.index(after: separators.0)..<separators.1]),
            target: target,
            targetID: String(text[utf8.index(after: separators.2)...])
        )
    }
}
