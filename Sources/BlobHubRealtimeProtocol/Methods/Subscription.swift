// subscription/add, subscription/remove params (SPEC §6.1–§6.3).

public enum SubscriptionScope: String, Sendable, CaseIterable {
    case core
    case revision

    /// The targets that belong to the scope.
    public var targets: [SubscriptionTarget] {
        SubscriptionTarget.allCases.filter { $0.scope == self }
    }
}

public enum SubscriptionTarget: String, Sendable, CaseIterable {
    case user
    case organization
    case blob
    case revision
    case session
    case execution

    /// user/organization/blob/revision → core; session/execution → revision.
    public var scope: SubscriptionScope {
        switch self {
        case .user, .organization, .blob, .revision: return .core
        case .session, .execution: return .revision
        }
    }
}

/// Ids of platform objects (SPEC §6.1, decided).
public enum ResourceID: Sendable {
    public static let maxLength = 128

    /// 1–128 characters from `[A-Za-z0-9._:-]`.
    public static func isValid(_ id: String) -> Bool {
        var count = 0
        for c in id.utf8 {
            count += 1
            if count > maxLength { return false }
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "-"):
                continue
            default:
                return false
            }
        }
        return count > 0
    }

    /// Whether the id has the form of a UUID (8-4-4-4-12 hex digits, any case).
    public static func isUUIDForm(_ id: String) -> Bool {
        var count = 0
        for c in id.utf8 {
            switch count {
            case 8, 13, 18, 23:
                if c != UInt8(ascii: "-") { return false }
            default:
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"),
                     UInt8(ascii: "a")...UInt8(ascii: "f"),
                     UInt8(ascii: "A")...UInt8(ascii: "F"):
                    break
                default:
                    return false
                }
            }
            count += 1
            if count > 36 { return false }
        }
        return count == 36
    }

    /// UUID-form ids (8-4-4-4-12 hex) are lower-cased; others are returned unchanged.
    /// Use the result as the comparison key.
    public static func normalized(_ id: String) -> String {
        guard isUUIDForm(id) else { return id }
        var hasUpper = false
        for c in id.utf8 where c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F") {
            hasUpper = true
            break
        }
        return hasUpper ? id.lowercased() : id
    }
}

/// Event type names (SPEC §6.2).
public enum EventType: Sendable {
    public static let maxLength = 64

    /// `^[a-z][a-z0-9_.]{0,63}$`
    public static func isValid(_ name: String) -> Bool {
        var count = 0
        for c in name.utf8 {
            if count == 0 {
                guard c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") else { return false }
            } else {
                switch c {
                case UInt8(ascii: "a")...UInt8(ascii: "z"),
                     UInt8(ascii: "0")...UInt8(ascii: "9"),
                     UInt8(ascii: "_"), UInt8(ascii: "."):
                    break
                default:
                    return false
                }
            }
            count += 1
            if count > maxLength { return false }
        }
        return count > 0
    }
}

/// The identity of a subscription, comparison-normalized (UUID-form ids lower-cased).
public struct SubscriptionKey: Sendable, Hashable {
    public var scope: SubscriptionScope
    /// Normalized; `""` for scope core.
    public var scopeID: String
    public var target: SubscriptionTarget
    /// Normalized.
    public var targetID: String

    /// Normalizes the ids (`ResourceID.normalized`); a nil `scopeID` is stored as `""`.
    public init(scope: SubscriptionScope, scopeID: String?, target: SubscriptionTarget, targetID: String) {
        self.scope = scope
        self.scopeID = ResourceID.normalized(scopeID ?? "")
        self.target = target
        self.targetID = ResourceID.normalized(targetID)
    }
}

public struct SubscriptionParams: Sendable, Equatable {
    public static let maxTypes = 64

    public var scope: SubscriptionScope
    /// Exactly as written by the client; nil for core (omitted, null or "").
    public var scopeID: String?
    public var target: SubscriptionTarget
    /// Exactly as written by the client.
    public var targetID: String
    /// nil when omitted or `[]` ("every type"); otherwise de-duplicated, first-occurrence order kept.
    public var types: [String]?
    /// Only decoded for subscription/add: the offset to replay after.
    public var since: Int64?
    /// Only decoded for subscription/add: the log epoch the client last saw.
    public var epoch: String?

    public init(
        scope: SubscriptionScope,
        scopeID: String? = nil,
        target: SubscriptionTarget,
        targetID: String,
        types: [String]? = nil,
        since: Int64? = nil,
        epoch: String? = nil
    ) {
        self.scope = scope
        self.scopeID = scopeID
        self.target = target
        self.targetID = targetID
        self.types = types
        self.since = since
        self.epoch = epoch
    }

    public var key: SubscriptionKey {
        SubscriptionKey(scope: scope, scopeID: scopeID, target: target, targetID: targetID)
    }

    /// Decodes subscription/add (`allowSince: true`) or subscription/remove (`allowSince: false`) params.
    ///
    /// * params required (field `params`);
    /// * `scope` required, `core` or `revision`;
    /// * `scope_id`: for core omitted, null or `""`; for revision a required valid `ResourceID`;
    /// * `target` required and belonging to the scope; `target_id` a required valid `ResourceID`;
    /// * `types` optional array of at most 64 valid `EventType` names;
    /// * only when `allowSince`: `since` an integer ≥ 0 fitting Int64, `epoch` a string
    ///   (when `allowSince` is false both are ignored like any unknown member).
    public static func decode(_ params: JSONObject?, allowSince: Bool) throws(RPCError) -> SubscriptionParams {
        guard let params else { throw RPCError.invalidParams(field: "params", reason: "required") }

        // scope
        let scopeName = try params.requiredString("scope")
        guard let scope = SubscriptionScope(rawValue: scopeName) else {
            throw RPCError.invalidParams(field: "scope", reason: "unknown scope")
        }

        // scope_id
        let scopeID: String?
        switch scope {
        case .core:
            switch params["scope_id"] {
            case nil, .null?, .string("")?: scopeID = nil
            default: throw RPCError.invalidParams(field: "scope_id", reason: "must be empty for scope core")
            }
        case .revision:
            let id = try params.requiredString("scope_id")
            guard ResourceID.isValid(id) else {
                throw RPCError.invalidParams(field: "scope_id", reason: invalidIDReason)
            }
            scopeID = id
        }

        // target
        let targetName = try params.requiredString("target")
        guard let target = SubscriptionTarget(rawValue: targetName) else {
            throw RPCError.invalidParams(field: "target", reason: "unknown target")
        }
        guard target.scope == scope else {
            throw RPCError.invalidParams(field: "target", reason: "not a target of scope \(scope.rawValue)")
        }

        // target_id
        let targetID = try params.requiredString("target_id")
        guard ResourceID.isValid(targetID) else {
            throw RPCError.invalidParams(field: "target_id", reason: invalidIDReason)
        }

        // types
        var types: [String]?
        switch params["types"] {
        case nil:
            types = nil
        case .array(let elements)?:
            guard elements.count <= maxTypes else {
                throw RPCError.invalidParams(field: "types", reason: "at most \(maxTypes) types per request")
            }
            if !elements.isEmpty {
                var list: [String] = []
                list.reserveCapacity(elements.count)
                var seen = Set<String>()
                for element in elements {
                    guard case .string(let name) = element else {
                        throw RPCError.invalidParams(field: "types", reason: "must be an array of strings")
                    }
                    guard EventType.isValid(name) else {
                        throw RPCError.invalidParams(
                            field: "types",
                            reason: "invalid event type \(quotedForReason(name)): must match ^[a-z][a-z0-9_.]{0,63}$"
                        )
                    }
                    if seen.insert(name).inserted { list.append(name) }
                }
                types = list
            }
        default:
            throw RPCError.invalidParams(field: "types", reason: "must be an array of strings")
        }

        // since, epoch
        var since: Int64?
        var epoch: String?
        if allowSince {
            switch params["since"] {
            case nil:
                since = nil
            case .number(let text)?:
                guard let value = JSONNumberText.int64(text), value >= 0 else {
                    throw RPCError.invalidParams(field: "since", reason: "must be a non-negative integer")
                }
                since = value
            default:
                throw RPCError.invalidParams(field: "since", reason: "must be a non-negative integer")
            }
            epoch = try params.optionalString("epoch")
        }

        return SubscriptionParams(
            scope: scope, scopeID: scopeID, target: target, targetID: targetID,
            types: types, since: since, epoch: epoch
        )
    }

    static let invalidIDReason = "must be 1-128 characters from [A-Za-z0-9._:-]"
}
