// status/initialize (SPEC §5.1).

public struct ClientInfo: Sendable, Equatable {
    public var name: String?
    public var version: String?

    public init(name: String? = nil, version: String? = nil) {
        self.name = name
        self.version = version
    }
}

public struct InitializeParams: Sendable, Equatable {
    public var clientInfo: ClientInfo?

    public init(clientInfo: ClientInfo? = nil) {
        self.clientInfo = clientInfo
    }

    /// `client_info` is optional; when present it must be an object (field `client_info`) whose
    /// `name`/`version`, when present, are strings (fields `client_info.name` / `client_info.version`).
    /// JSON null counts as present. Unknown members are ignored.
    public static func decode(_ params: JSONObject?) throws(RPCError) -> InitializeParams {
        guard let params, let value = params["client_info"] else { return InitializeParams() }
        guard case .object(let info) = value else {
            throw RPCError.invalidParams(field: "client_info", reason: "must be an object")
        }
        let name = try info.optionalString("name", field: "client_info.name")
        let version = try info.optionalString("version", field: "client_info.version")
        return InitializeParams(clientInfo: ClientInfo(name: name, version: version))
    }
}

public struct InitializeResult: Sendable, Equatable {
    public var serverName: String
    public var serverVersion: String
    public var connectionID: String
    public var epoch: String
    public var heartbeatIntervalMs: Int
    public var maxMessageBytes: Int
    public var maxSubscriptions: Int

    public init(
        serverName: String = "BlobHub Realtime Server",
        serverVersion: String,
        connectionID: String,
        epoch: String,
        heartbeatIntervalMs: Int,
        maxMessageBytes: Int,
        maxSubscriptions: Int
    ) {
        self.serverName = serverName
        self.serverVersion = serverVersion
        self.connectionID = connectionID
        self.epoch = epoch
        self.heartbeatIntervalMs = heartbeatIntervalMs
        self.maxMessageBytes = maxMessageBytes
        self.maxSubscriptions = maxSubscriptions
    }

    /// `{"server_info":{"name":…,"version":…},"connection_id":…,"epoch":…,"heartbeat_interval_ms":…,
    /// "limits":{"max_message_bytes":…,"max_subscriptions":…}}`
    public func json() -> JSONValue {
        .object(JSONObject([
            ("server_info", .object(JSONObject([
                ("name", .string(serverName)),
                ("version", .string(serverVersion)),
            ]))),
            ("connection_id", .string(connectionID)),
            ("epoch", .string(epoch)),
            ("heartbeat_interval_ms", .integer(heartbeatIntervalMs)),
            ("limits", .object(JSONObject([
                ("max_message_bytes", .integer(maxMessageBytes)),
                ("max_subscriptions", .integer(maxSubscriptions)),
            ]))),
        ]))
    }
}
