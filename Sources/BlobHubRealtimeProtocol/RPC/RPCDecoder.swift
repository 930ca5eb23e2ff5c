// Inbound JSON-RPC 2.0 decoding with the SPEC §4 rules.

public enum RPCDecoder: Sendable {
    /// Maximum nesting of arrays/objects accepted in an inbound message.
    public static let maxDepth = 64

    /// Decodes one inbound text message.
    ///
    /// * Unparsable JSON → `.single(.invalid(id: nil, error:))`, 400 with `data.reason` = the parser's error.
    /// * An array: empty → `.single(.invalid(id: nil, …))`; else `.batch`, one entry per element.
    /// * Any other non-object value → `.single(.invalid(id: nil, …))`.
    /// * An object → see `decodeEntry(_:)`.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> RPCInbound {
        let value: JSONValue
        do throws(JSONParseError) {
            value = try JSONParser.parse(bytes, maxDepth: maxDepth)
        } catch {
            return .single(.invalid(id: nil, error: .withReason(.invalidSyntax, "invalid JSON: \(error.description)")))
        }
        return decode(value)
    }

    public static func decode(_ bytes: [UInt8]) -> RPCInbound {
        bytes.withUnsafeBytes { decode($0) }
    }

    /// Decodes an already parsed message.
    public static func decode(_ value: JSONValue) -> RPCInbound {
        switch value {
        case .array(let elements):
            if elements.isEmpty {
                return .single(.invalid(id: nil, error: .withReason(.invalidSyntax, "empty batch")))
            }
            var entries: [RPCEntry] = []
            entries.reserveCapacity(elements.count)
            for element in elements {
                entries.append(decodeEntry(element))
            }
            return .batch(entries)
        default:
            return .single(decodeEntry(value))
        }
    }

    /// Decodes one request object (a single message or one batch element).
    ///
    /// The `id` is read first: absent → notification; string/number/null → echoed as is; any other
    /// type → the id cannot be read and the entry is `.invalid(id: nil, …)`. Then `jsonrpc` must be
    /// exactly `"2.0"`, `method` a string, `params` (when present) an object. Unknown members are ignored.
    public static func decodeEntry(_ value: JSONValue) -> RPCEntry {
        guard case .object(let object) = value else {
            return .invalid(id: nil, error: .withReason(.invalidSyntax, "a request must be a JSON object"))
        }

        let id: RPCRequestID?
        switch object["id"] {
        case nil: id = nil
        case .string(let s)?: id = .string(s)
        case .number(let n)?: id = .number(n)
        case .null?: id = .null
        default:
            return .invalid(id: nil, error: .invalidParams(field: "id", reason: "must be a string, a number or null"))
        }

        guard case .string("2.0")? = object["jsonrpc"] else {
            return .invalid(id: id, error: .invalidParams(field: "jsonrpc", reason: "must be \"2.0\""))
        }

        let method: String
        switch object["method"] {
        case .string(let m)?: method = m
        case nil:
            return .invalid(id: id, error: .invalidParams(field: "method", reason: "required"))
        default:
            return .invalid(id: id, error: .invalidParams(field: "method", reason: "must be a string"))
        }

        let params: JSONObject?
        switch object["params"] {
        case nil: params = nil
        case .object(let p)?: params = p
        default:
            return .invalid(id: id, error: .invalidParams(field: "params", reason: "must be an object"))
        }

        return .request(RPCRequest(id: id, method: method, params: params))
    }
}
