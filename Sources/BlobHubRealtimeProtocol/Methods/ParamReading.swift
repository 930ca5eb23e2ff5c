// Small helpers shared by the params decoders.

extension JSONObject {
    /// A string member: nil when absent; throws `must be a string` for any other type (JSON null included).
    func optionalString(_ key: String, field: String? = nil) throws(RPCError) -> String? {
        switch self[key] {
        case nil: return nil
        case .string(let s)?: return s
        default: throw RPCError.invalidParams(field: field ?? key, reason: "must be a string")
        }
    }

    /// A required string member (absent or JSON null → `required`, other types → `must be a string`).
    func requiredString(_ key: String, field: String? = nil) throws(RPCError) -> String {
        switch self[key] {
        case nil, .null?: throw RPCError.invalidParams(field: field ?? key, reason: "required")
        case .string(let s)?: return s
        default: throw RPCError.invalidParams(field: field ?? key, reason: "must be a string")
        }
    }
}

/// Echoes a piece of client input inside an error reason, shortened.
func quotedForReason(_ text: String) -> String {
    let limit = 64
    if text.count <= limit { return "\"\(text)\"" }
    return "\"\(text.prefix(limit))…\""
}
