// HTTP-style JSON-RPC error codes (SPEC §4).

public enum RPCErrorCode: Int, Sendable, CaseIterable {
    case invalidSyntax = 400
    case forbidden = 403
    case methodNotSupported = 405
    case tooManyRequests = 429
    case unexpectedFailure = 500

    /// The exact `error.message` text for the code.
    public var message: String {
        switch self {
        case .invalidSyntax: return "Invalid syntax"
        case .forbidden: return "Access forbidden"
        case .methodNotSupported: return "Method not supported"
        case .tooManyRequests: return "Too many requests"
        case .unexpectedFailure: return "Unexpected failure"
        }
    }
}

/// A JSON-RPC error: a code (with its fixed message) and optional `data`.
public struct RPCError: Error, Sendable, Equatable {
    public var code: RPCErrorCode
    public var data: JSONValue?

    public init(_ code: RPCErrorCode, data: JSONValue? = nil) {
        self.code = code
        self.data = data
    }

    /// The exact `error.message` text.
    public var message: String { code.message }

    /// 400 with `data` = `{"field":<field>,"reason":<reason>}`; `"field"` is omitted when nil.
    public static func invalidParams(field: String?, reason: String) -> RPCError {
        var data = JSONObject()
        if let field { data.append(key: "field", value: .string(field)) }
        data.append(key: "reason", value: .string(reason))
        return RPCError(.invalidSyntax, data: .object(data))
    }

    /// `code` with `data` = `{"reason":<reason>}`.
    public static func withReason(_ code: RPCErrorCode, _ reason: String) -> RPCError {
        RPCError(code, data: .object(JSONObject([("reason", .string(reason))])))
    }

    /// 400 without data.
    public static let invalidSyntax = RPCError(.invalidSyntax)
    public static let forbidden = RPCError(.forbidden)
    public static let methodNotSupported = RPCError(.methodNotSupported)
    public static let tooManyRequests = RPCError(.tooManyRequests)
    public static let unexpectedFailure = RPCError(.unexpectedFailure)

    /// `data.field`, when `data` is an object carrying a string `field`.
    public var field: String? { data?.objectValue?["field"]?.stringValue }
    /// `data.reason`, when `data` is an object carrying a string `reason`.
    public var reason: String? { data?.objectValue?["reason"]?.stringValue }
}
