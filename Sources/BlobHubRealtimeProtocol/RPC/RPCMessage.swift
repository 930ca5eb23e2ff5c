// JSON-RPC 2.0 inbound message model (SPEC §4).

/// A request id as received. Responses echo it exactly (same JSON type, numbers byte-for-byte).
public enum RPCRequestID: Sendable, Hashable {
    case string(String)
    /// The exact literal text of a numeric id, e.g. `"12345678901234567890"` or `"1.5"`.
    case number(String)
    /// The request carried `"id": null` explicitly (it is NOT a notification).
    case null

    /// The id as a JSON value.
    public var json: JSONValue {
        switch self {
        case .string(let s): return .string(s)
        case .number(let n): return .number(n)
        case .null: return .null
        }
    }
}

extension RPCRequestID: CustomStringConvertible {
    /// The id's JSON text (e.g. `"abc"` quoted, `12` bare, `null`).
    public var description: String { JSONWriter.string(json) }
}

/// A structurally valid request or notification.
public struct RPCRequest: Sendable, Equatable {
    /// nil = notification (the message had no `"id"` member at all).
    public var id: RPCRequestID?
    public var method: String
    /// nil when absent.
    public var params: JSONObject?

    public init(id: RPCRequestID?, method: String, params: JSONObject? = nil) {
        self.id = id
        self.method = method
        self.params = params
    }

    public var isNotification: Bool { id == nil }
}

/// One element of an inbound message.
public enum RPCEntry: Sendable, Equatable {
    /// A structurally valid request or notification.
    case request(RPCRequest)
    /// A structurally invalid element: always answered; `id` nil → answered with `"id": null`.
    case invalid(id: RPCRequestID?, error: RPCError)
}

/// A decoded inbound WebSocket message.
public enum RPCInbound: Sendable, Equatable {
    case single(RPCEntry)
    /// Never empty.
    case batch([RPCEntry])
}
