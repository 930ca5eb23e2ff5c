import BlobHubRealtimeProtocol

/// Runs one input through everything a WebSocket text message meets before the connection state
/// machine: the JSON parser, the JSON-RPC decoder, every method's params decoder and the response
/// encoder. Besides crashes and memory errors (ASan), it traps when an invariant breaks:
/// parse → write → parse is the identity, batches keep their length, decoded params are valid,
/// and every response the server would send is valid JSON echoing the request id exactly.
enum ProtocolHarness {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        checkRoundTrip(bytes)
        let inbound = RPCDecoder.decode(bytes)
        switch inbound {
        case .single(let entry):
            check(entry)
        case .batch(let entries):
            guard case .array(let elements)? = try? JSONParser.parse(bytes, maxDepth: RPCDecoder.maxDepth) else {
                fail("a batch was decoded from input that is not a JSON array")
            }
            require(entries.count == elements.count && !entries.isEmpty, "batch length changed")
            entries.forEach(check)
        }
    }

    /// parse(write(parse(x))) == parse(x), and the writer is deterministic.
    private static func checkRoundTrip(_ bytes: UnsafeRawBufferPointer) {
        guard let value = try? JSONParser.parse(bytes, maxDepth: RPCDecoder.maxDepth) else { return }
        let written = JSONWriter.serialize(value)
        guard let reparsed = try? JSONParser.parse(written, maxDepth: RPCDecoder.maxDepth) else {
            fail("the writer produced JSON the parser refuses: \(String(decoding: written, as: UTF8.self))")
        }
        require(reparsed == value, "parse → write → parse changed the value")
        require(JSONWriter.serialize(reparsed) == written, "the writer is not deterministic")
    }

    private static func check(_ entry: RPCEntry) {
        switch entry {
        case .invalid(let id, let error):
            require(error.code == .invalidSyntax, "an invalid request object must be a 400")
            checkResponse(RPCEncoder.error(id: id, error: error), id: id)
        case .request(let request):
            let outcome = decodeParams(request)
            switch outcome {
            case .success(let result): checkResponse(RPCEncoder.result(id: request.id, result: result), id: request.id)
            case .failure(let error): checkResponse(RPCEncoder.error(id: request.id, error: error), id: request.id)
            }
        }
    }

    /// What the params decoders make of a request; successful decodes are checked for validity.
    private static func decodeParams(_ request: RPCRequest) -> Result<JSONValue, RPCError> {
        guard let method = RPCMethod(rawValue: request.method) else { return .failure(RPCError(.methodNotSupported)) }
        do throws(RPCError) {
            switch method {
            case .ping:
                return .success(.object(JSONObject()))
            case .initialize:
                let params = try InitializeParams.decode(request.params)
                let result = InitializeResult(
                    serverName: params.clientInfo?.name ?? "fuzz", serverVersion: params.clientInfo?.version ?? "0",
                    connectionID: "c", epoch: "e", heartbeatIntervalMs: 1, maxMessageBytes: 1, maxSubscriptions: 1
                )
                return .success(result.json())
            case .authenticate:
                let params = try AuthenticateParams.decode(request.params)
                return .success(.object(JSONObject([("token", .string(params.token))])))
            case .subscriptionAdd, .subscriptionRemove, .subscriptionList:
                let params = try SubscriptionParams.decode(request.params, allowSince: method == .subscriptionAdd)
                checkValid(params)
                return .success(.object(JSONObject([("target_id", .string(params.targetID))])))
            }
        } catch {
            require(error.code == .invalidSyntax, "params errors must be 400")
            return .failure(error)
        }
    }

    private static func checkValid(_ params: SubscriptionParams) {
        require(ResourceID.isValid(params.targetID), "accepted an invalid target_id")
        require(params.target.scope == params.scope, "accepted a target outside its scope")
        if params.scope == .core {
            require(params.scopeID == nil, "core subscription kept a scope id")
        } else {
            require(params.scopeID.map(ResourceID.isValid) == true, "accepted an invalid scope_id")
        }
        if let types = params.types {
            require(!types.isEmpty && types.count <= SubscriptionParams.maxTypes, "bad types list")
            require(types.allSatisfy(EventType.isValid), "accepted an invalid event type")
            require(Set(types).count == types.count, "types kept a duplicate")
        }
        require((params.since ?? 0) >= 0, "accepted a negative since")
        if ResourceID.isUUIDForm(params.targetID) {
            let upper = SubscriptionKey(scope: params.scope, scopeID: params.scopeID, target: params.target, targetID: params.targetID.uppercased())
            require(upper == params.key, "UUID ids must compare case-insensitively")
        }
    }

    /// A response must be one JSON object with `"jsonrpc":"2.0"` and the request's id, byte-exact.
    static func checkResponse(_ bytes: [UInt8], id: RPCRequestID?) {
        guard case .object(let object)? = try? JSONParser.parse(bytes, maxDepth: RPCDecoder.maxDepth + 8) else {
            fail("a response is not a JSON object: \(String(decoding: bytes, as: UTF8.self))")
        }
        require(object["jsonrpc"] == .string("2.0"), "response without jsonrpc 2.0")
        require(object["id"] == (id?.json ?? .null), "response id differs from the request id")
        require((object["result"] == nil) != (object["error"] == nil), "a response needs exactly one of result/error")
    }

    private static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fail(message()) }
    }

    private static func fail(_ message: String) -> Never {
        fatalError("fuzz invariant: \(message)")
    }
}
