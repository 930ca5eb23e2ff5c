import Testing
@testable import BlobHubRealtimeProtocol

/// Params object from JSON text.
private func params(_ json: String) -> JSONObject {
    guard case .success(.object(let o)) = parseResult(Array(json.utf8)) else {
        fatalError("bad test params: \(json)")
    }
    return o
}

private func subscriptionError(_ json: String?, allowSince: Bool = true) -> RPCError? {
    let p = json.map(params)
    return decodeError { () throws(RPCError) in try SubscriptionParams.decode(p, allowSince: allowSince) }
}

private func subscription(_ json: String, allowSince: Bool = true) -> SubscriptionParams? {
    let p = params(json)
    return decodeValue { () throws(RPCError) in try SubscriptionParams.decode(p, allowSince: allowSince) }
}

@Suite("Method names")
struct RPCMethodTests {
    @Test func rawValues() {
        #expect(RPCMethod(rawValue: "status/initialize") == .initialize)
        #expect(RPCMethod(rawValue: "status/ping") == .ping)
        #expect(RPCMethod(rawValue: "status/authenticate") == .authenticate)
        #expect(RPCMethod(rawValue: "subscription/add") == .subscriptionAdd)
        #expect(RPCMethod(rawValue: "subscription/remove") == .subscriptionRemove)
        #expect(RPCMethod(rawValue: "subscription/list") == .subscriptionList)
        #expect(RPCMethod(rawValue: "subscription/event") == nil)
        #expect(RPCMethod(rawValue: "Status/Ping") == nil)
        #expect(RPCMethod.allCases.count == 6)
    }
}

@Suite("status/initialize params and result")
struct InitializeTests {
    @Test func validParams() throws {
        #expect(try InitializeParams.decode(nil) == InitializeParams(clientInfo: nil))
        #expect(try InitializeParams.decode(JSONObject()) == InitializeParams(clientInfo: nil))
        let full = try InitializeParams.decode(params(#"{"client_info":{"name":"Example Client","version":"1.0.1","x":1},"y":2}"#))
        #expect(full.clientInfo == ClientInfo(name: "Example Client", version: "1.0.1"))
        let partial = try InitializeParams.decode(params(#"{"client_info":{"name":"n"}}"#))
        #expect(partial.clientInfo == ClientInfo(name: "n", version: nil))
        let empty = try InitializeParams.decode(params(#"{"client_info":{}}"#))
        #expect(empty.clientInfo == ClientInfo())
    }

    @Test("client_info must be an object", arguments: [#""x""#, "1", "[]", "null", "true"])
    func clientInfoNotObject(_ value: String) {
        let p = params(#"{"client_info":\#(value)}"#)
        let error = decodeError { () throws(RPCError) in try InitializeParams.decode(p) }
        #expect(error == .invalidParams(field: "client_info", reason: "must be an object"))
    }

    @Test("client_info name/version must be strings", arguments: ["name", "version"])
    func clientInfoMembers(_ member: String) {
        for bad in ["1", "null", "{}", "[]", "false"] {
            let p = params(#"{"client_info":{"\#(member)":\#(bad)}}"#)
            let error = decodeError { () throws(RPCError) in try InitializeParams.decode(p) }
            #expect(error == .invalidParams(field: "client_info.\(member)", reason: "must be a string"))
        }
    }

    @Test func resultJSON() {
        let result = InitializeResult(
            serverName: "BlobHub Realtime Server", serverVersion: "1.2.3",
            connectionID: "7c9e6679-7425-40de-944b-e07fc1f90ae7", epoch: "log-1",
            heartbeatIntervalMs: 25000, maxMessageBytes: 65536, maxSubscriptions: 1000
        )
        #expect(JSONWriter.string(result.json()) == #"{"server_info":{"name":"BlobHub Realtime Server","version":"1.2.3"},"connection_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","epoch":"log-1","heartbeat_interval_ms":25000,"limits":{"max_message_bytes":65536,"max_subscriptions":1000}}"#)
    }

    @Test func resultDefaultServerName() {
        let result = InitializeResult(serverVersion: "v", connectionID: "c", epoch: "e", heartbeatIntervalMs: 1, maxMessageBytes: 2, maxSubscriptions: 3)
        #expect(result.json().objectValue?["server_info"]?.objectValue?["name"] == "BlobHub Realtime Server")
    }
}

@Suite("status/authenticate params")
struct AuthenticateTests {
    @Test func valid() throws {
        #expect(try AuthenticateParams.decode(params(#"{"token":"abc.def.ghi","other":1}"#)) == AuthenticateParams(token: "abc.def.ghi"))
    }

    @Test func invalid() {
        let cases: [(String?, String)] = [
            (nil, "required"),
            ("{}", "required"),
            (#"{"token":null}"#, "required"),
            (#"{"token":""}"#, "must not be empty"),
            (#"{"token":1}"#, "must be a string"),
            (#"{"token":["a"]}"#, "must be a string"),
            (#"{"token":{}}"#, "must be a string"),
        ]
        for (json, reason) in cases {
            let p = json.map(params)
            let error = decodeError { () throws(RPCError) in try AuthenticateParams.decode(p) }
            #expect(error == .invalidParams(field: "token", reason: reason), "\(json ?? "nil")")
        }
    }
}

@Suite("Ids, event types, scopes")
struct IdentifierTests {
    @Test func resourceIDs() {
        #expect(ResourceID.isValid("a"))
        #expect(ResourceID.isValid("0A06AB3A-DD72-4D42-939A-61DC4EF69418"))
        #expect(ResourceID.isValid("org_1.blob:rev-2"))
        #expect(ResourceID.isValid(String(repeating: "x", count: 128)))
        #expect(!ResourceID.isValid(String(repeating: "x", count: 129)))
        #expect(!ResourceID.isValid(""))
        #expect(!ResourceID.isValid("a b"))
        #expect(!ResourceID.isValid("a/b"))
        #expect(!ResourceID.isValid("é"))
        #expect(!ResourceID.isValid("a\u{0}"))
        #expect(!ResourceID.isValid("a*"))
        #expect(!ResourceID.isValid("ａ"))
    }

    @Test func resourceIDNormalization() {
        #expect(ResourceID.normalized("0A06AB3A-DD72-4D42-939A-61DC4EF69418") == "0a06ab3a-dd72-4d42-939a-61dc4ef69418")
        #expect(ResourceID.normalized("0a06ab3a-dd72-4d42-939a-61dc4ef69418") == "0a06ab3a-dd72-4d42-939a-61dc4ef69418")
        #expect(ResourceID.normalized("0a06AB3A-dd72-4D42-939a-61DC4EF69418") == "0a06ab3a-dd72-4d42-939a-61dc4ef69418")
        // Not UUID-shaped: unchanged.
        #expect(ResourceID.normalized("ABC") == "ABC")
        #expect(ResourceID.normalized("0A06AB3A-DD72-4D42-939A-61DC4EF6941") == "0A06AB3A-DD72-4D42-939A-61DC4EF6941")
        #expect(ResourceID.normalized("0A06AB3A-DD72-4D42-939A-61DC4EF694189") == "0A06AB3A-DD72-4D42-939A-61DC4EF694189")
        #expect(ResourceID.normalized("0A06AB3ADD72-4D42-939A-61DC4EF69418X") == "0A06AB3ADD72-4D42-939A-61DC4EF69418X")
        #expect(ResourceID.normalized("GA06AB3A-DD72-4D42-939A-61DC4EF69418") == "GA06AB3A-DD72-4D42-939A-61DC4EF69418")
        #expect(ResourceID.normalized("0A06AB3A-DD72-4D42-939A:61DC4EF69418") == "0A06AB3A-DD72-4D42-939A:61DC4EF69418")
        #expect(ResourceID.isUUIDForm("00000000-0000-0000-0000-000000000000"))
        #expect(!ResourceID.isUUIDForm("{00000000-0000-0000-0000-000000000000}"))
    }

    @Test func eventTypes() {
        for valid in ["a", "flow.entered", "execution_started", "x9", "a.b_c.1", "a" + String(repeating: "b", count: 63)] {
            #expect(EventType.isValid(valid), "\(valid)")
        }
        for invalid in ["", "A", "1a", "_a", ".a", "a-b", "a b", "Flow.entered", "aé", "a" + String(repeating: "b", count: 64), "a/b"] {
            #expect(!EventType.isValid(invalid), "\(invalid)")
        }
    }

    @Test func targetsAndScopes() {
        #expect(SubscriptionTarget.user.scope == .core)
        #expect(SubscriptionTarget.organization.scope == .core)
        #expect(SubscriptionTarget.blob.scope == .core)
        #expect(SubscriptionTarget.revision.scope == .core)
        #expect(SubscriptionTarget.session.scope == .revision)
        #expect(SubscriptionTarget.execution.scope == .revision)
        #expect(SubscriptionScope.core.targets == [.user, .organization, .blob, .revision])
        #expect(SubscriptionScope.revision.targets == [.session, .execution])
    }

    @Test func subscriptionKeyNormalizes() {
        let a = SubscriptionKey(scope: .revision, scopeID: "0A06AB3A-DD72-4D42-939A-61DC4EF69418", target: .session, targetID: "28E70055-DBB4-4CA8-88BC-133D6CEA68E6")
        let b = SubscriptionKey(scope: .revision, scopeID: "0a06ab3a-dd72-4d42-939a-61dc4ef69418", target: .session, targetID: "28e70055-dbb4-4ca8-88bc-133d6cea68e6")
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a.scopeID == "0a06ab3a-dd72-4d42-939a-61dc4ef69418")
        let c = SubscriptionKey(scope: .core, scopeID: nil, target: .blob, targetID: "Blob1")
        #expect(c.scopeID == "")
        #expect(c != SubscriptionKey(scope: .core, scopeID: nil, target: .blob, targetID: "blob1"))
        #expect(c != SubscriptionKey(scope: .core, scopeID: nil, target: .organization, targetID: "Blob1"))
    }
}

@Suite("subscription/add and subscription/remove params")
struct SubscriptionParamsTests {
    @Test func specExample() throws {
        let s = try #require(subscription(#"{"scope":"revision","scope_id":"0A06AB3A-DD72-4D42-939A-61DC4EF69418","target":"session","target_id":"28E70055-DBB4-4CA8-88BC-133D6CEA68E6","types":["execution_started","execution_ended"]}"#))
        #expect(s == SubscriptionParams(
            scope: .revision, scopeID: "0A06AB3A-DD72-4D42-939A-61DC4EF69418", target: .session,
            targetID: "28E70055-DBB4-4CA8-88BC-133D6CEA68E6", types: ["execution_started", "execution_ended"]
        ))
        #expect(s.key == SubscriptionKey(scope: .revision, scopeID: "0a06ab3a-dd72-4d42-939a-61dc4ef69418", target: .session, targetID: "28e70055-dbb4-4ca8-88bc-133d6cea68e6"))
    }

    @Test("core scope_id may be omitted, null or empty", arguments: ["", #","scope_id":null"#, #","scope_id":"""#])
    func coreScopeID(_ extra: String) throws {
        let s = try #require(subscription(#"{"scope":"core","target":"blob","target_id":"b-1"\#(extra)}"#))
        #expect(s.scope == .core)
        #expect(s.scopeID == nil)
        #expect(s.target == .blob)
        #expect(s.targetID == "b-1")
        #expect(s.types == nil)
        #expect(s.key == SubscriptionKey(scope: .core, scopeID: "", target: .blob, targetID: "b-1"))
    }

    @Test func everyTargetOfItsScope() throws {
        for target in SubscriptionTarget.allCases {
            let json: String
            if target.scope == .core {
                json = #"{"scope":"core","target":"\#(target.rawValue)","target_id":"t"}"#
            } else {
                json = #"{"scope":"revision","scope_id":"r","target":"\#(target.rawValue)","target_id":"t"}"#
            }
            let s = try #require(subscription(json))
            #expect(s.target == target)
            #expect(s.scope == target.scope)
        }
    }

    @Test func typesEmptyMeansEveryType() throws {
        let s = try #require(subscription(#"{"scope":"core","target":"user","target_id":"u","types":[]}"#))
        #expect(s.types == nil)
    }

    @Test func typesAreDeduplicatedInOrder() throws {
        let s = try #require(subscription(#"{"scope":"core","target":"user","target_id":"u","types":["b","a","b","c","a"]}"#))
        #expect(s.types == ["b", "a", "c"])
    }

    @Test func sixtyFourTypesAllowed() throws {
        let names = (0..<64).map { "t\($0)" }
        let list = names.map { "\"\($0)\"" }.joined(separator: ",")
        let s = try #require(subscription(#"{"scope":"core","target":"user","target_id":"u","types":[\#(list)]}"#))
        #expect(s.types == names)
        let duplicates = (0..<64).map { _ in "\"a\"" }.joined(separator: ",")
        #expect(subscription(#"{"scope":"core","target":"user","target_id":"u","types":[\#(duplicates)]}"#)?.types == ["a"])
    }

    @Test func sinceAndEpoch() throws {
        let s = try #require(subscription(#"{"scope":"core","target":"user","target_id":"u","since":1042,"epoch":"e-1"}"#))
        #expect(s.since == 1042)
        #expect(s.epoch == "e-1")
        #expect(subscription(#"{"scope":"core","target":"user","target_id":"u","since":0}"#)?.since == 0)
        #expect(subscription(#"{"scope":"core","target":"user","target_id":"u","since":9223372036854775807}"#)?.since == Int64.max)
        #expect(subscription(#"{"scope":"core","target":"user","target_id":"u"}"#)?.since == nil)
        // An integral number is an integer, as in JSON Schema (encoders may write 1042 as 1042.0 or 1.042e3).
        #expect(subscription(#"{"scope":"core","target":"user","target_id":"u","since":1042.0}"#)?.since == 1042)
        #expect(subscription(#"{"scope":"core","target":"user","target_id":"u","since":1.042e3}"#)?.since == 1042)
    }

    @Test func sinceAndEpochAreIgnoredForRemove() throws {
        let s = try #require(subscription(#"{"scope":"core","target":"user","target_id":"u","since":"bad","epoch":5}"#, allowSince: false))
        #expect(s.since == nil)
        #expect(s.epoch == nil)
        let ok = try #require(subscription(#"{"scope":"core","target":"user","target_id":"u","since":5,"epoch":"e"}"#, allowSince: false))
        #expect(ok.since == nil)
        #expect(ok.epoch == nil)
    }

    @Test func idsAreKeptAsWritten() throws {
        let s = try #require(subscription(#"{"scope":"revision","scope_id":"AbC","target":"execution","target_id":"0A06AB3A-DD72-4D42-939A-61DC4EF69418"}"#))
        #expect(s.scopeID == "AbC")
        #expect(s.targetID == "0A06AB3A-DD72-4D42-939A-61DC4EF69418")
        #expect(s.key.scopeID == "AbC")
        #expect(s.key.targetID == "0a06ab3a-dd72-4d42-939a-61dc4ef69418")
    }

    @Test func unknownMembersIgnored() throws {
        let s = try #require(subscription(#"{"scope":"core","target":"user","target_id":"u","foo":{"bar":[]}}"#))
        #expect(s.target == .user)
    }

    // MARK: invalid params, one field at a time

    static let base = #""target":"blob","target_id":"b""#

    static let invalidCases: [(json: String?, field: String, reason: String)] = [
        (nil, "params", "required"),
        ("{}", "scope", "required"),
        (#"{"scope":null,"target":"blob","target_id":"b"}"#, "scope", "required"),
        (#"{"scope":1,"target":"blob","target_id":"b"}"#, "scope", "must be a string"),
        (#"{"scope":"Core","target":"blob","target_id":"b"}"#, "scope", "unknown scope"),
        (#"{"scope":"session","target":"blob","target_id":"b"}"#, "scope", "unknown scope"),
        (#"{"scope":"core","scope_id":"x","target":"blob","target_id":"b"}"#, "scope_id", "must be empty for scope core"),
        (#"{"scope":"core","scope_id":1,"target":"blob","target_id":"b"}"#, "scope_id", "must be empty for scope core"),
        (#"{"scope":"core","scope_id":[],"target":"blob","target_id":"b"}"#, "scope_id", "must be empty for scope core"),
        (#"{"scope":"revision","target":"session","target_id":"s"}"#, "scope_id", "required"),
        (#"{"scope":"revision","scope_id":null,"target":"session","target_id":"s"}"#, "scope_id", "required"),
        (#"{"scope":"revision","scope_id":7,"target":"session","target_id":"s"}"#, "scope_id", "must be a string"),
        (#"{"scope":"revision","scope_id":"","target":"session","target_id":"s"}"#, "scope_id", SubscriptionParams.invalidIDReason),
        (#"{"scope":"revision","scope_id":"a b","target":"session","target_id":"s"}"#, "scope_id", SubscriptionParams.invalidIDReason),
        (#"{"scope":"core","target_id":"b"}"#, "target", "required"),
        (#"{"scope":"core","target":5,"target_id":"b"}"#, "target", "must be a string"),
        (#"{"scope":"core","target":"team","target_id":"b"}"#, "target", "unknown target"),
        (#"{"scope":"core","target":"session","target_id":"b"}"#, "target", "not a target of scope core"),
        (#"{"scope":"core","target":"execution","target_id":"b"}"#, "target", "not a target of scope core"),
        (#"{"scope":"revision","scope_id":"r","target":"blob","target_id":"b"}"#, "target", "not a target of scope revision"),
        (#"{"scope":"revision","scope_id":"r","target":"user","target_id":"b"}"#, "target", "not a target of scope revision"),
        (#"{"scope":"core","target":"blob"}"#, "target_id", "required"),
        (#"{"scope":"core","target":"blob","target_id":null}"#, "target_id", "required"),
        (#"{"scope":"core","target":"blob","target_id":12}"#, "target_id", "must be a string"),
        (#"{"scope":"core","target":"blob","target_id":""}"#, "target_id", SubscriptionParams.invalidIDReason),
        (#"{"scope":"core","target":"blob","target_id":"a/b"}"#, "target_id", SubscriptionParams.invalidIDReason),
        (#"{"scope":"core","target":"blob","target_id":"é"}"#, "target_id", SubscriptionParams.invalidIDReason),
        (#"{"scope":"core","target":"blob","target_id":"b","types":"flow.entered"}"#, "types", "must be an array of strings"),
        (#"{"scope":"core","target":"blob","target_id":"b","types":null}"#, "types", "must be an array of strings"),
        (#"{"scope":"core","target":"blob","target_id":"b","types":{}}"#, "types", "must be an array of strings"),
        (#"{"scope":"core","target":"blob","target_id":"b","types":[1]}"#, "types", "must be an array of strings"),
        (#"{"scope":"core","target":"blob","target_id":"b","types":["a",null]}"#, "types", "must be an array of strings"),
        (#"{"scope":"core","target":"blob","target_id":"b","since":-1}"#, "since", "must be a non-negative integer"),
        (#"{"scope":"core","target":"blob","target_id":"b","since":1.5}"#, "since", "must be a non-negative integer"),
        (#"{"scope":"core","target":"blob","target_id":"b","since":-1.0}"#, "since", "must be a non-negative integer"),
        (#"{"scope":"core","target":"blob","target_id":"b","since":1e-3}"#, "since", "must be a non-negative integer"),
        (#"{"scope":"core","target":"blob","target_id":"b","since":"5"}"#, "since", "must be a non-negative integer"),
        (#"{"scope":"core","target":"blob","target_id":"b","since":null}"#, "since", "must be a non-negative integer"),
        (#"{"scope":"core","target":"blob","target_id":"b","since":9223372036854775808}"#, "since", "must be a non-negative integer"),
        (#"{"scope":"core","target":"blob","target_id":"b","epoch":1}"#, "epoch", "must be a string"),
        (#"{"scope":"core","target":"blob","target_id":"b","epoch":null}"#, "epoch", "must be a string"),
    ]

    @Test func eachInvalidFieldIsNamed() {
        for c in Self.invalidCases {
            let error = subscriptionError(c.json)
            #expect(error == .invalidParams(field: c.field, reason: c.reason), "\(c.json ?? "nil")")
        }
    }

    @Test func invalidCasesAlsoFailForRemoveExceptSinceAndEpoch() {
        for c in Self.invalidCases where c.field != "since" && c.field != "epoch" {
            let error = subscriptionError(c.json, allowSince: false)
            #expect(error == .invalidParams(field: c.field, reason: c.reason), "\(c.json ?? "nil")")
        }
    }

    @Test func longRevisionScopeID() {
        let ok = String(repeating: "r", count: 128)
        #expect(subscription(#"{"scope":"revision","scope_id":"\#(ok)","target":"session","target_id":"s"}"#)?.scopeID == ok)
        let tooLong = String(repeating: "r", count: 129)
        #expect(subscriptionError(#"{"scope":"revision","scope_id":"\#(tooLong)","target":"session","target_id":"s"}"#)?.field == "scope_id")
        #expect(subscriptionError(#"{"scope":"core","target":"blob","target_id":"\#(tooLong)"}"#)?.field == "target_id")
    }

    @Test func invalidTypeName() throws {
        let error = try #require(subscriptionError(#"{"scope":"core","target":"blob","target_id":"b","types":["ok","Bad-Name"]}"#))
        #expect(error.code == .invalidSyntax)
        #expect(error.field == "types")
        #expect(error.reason?.contains("Bad-Name") == true)
        let long = "a" + String(repeating: "b", count: 64)
        #expect(subscriptionError(#"{"scope":"core","target":"blob","target_id":"b","types":["\#(long)"]}"#)?.field == "types")
        #expect(subscriptionError(#"{"scope":"core","target":"blob","target_id":"b","types":[""]}"#)?.field == "types")
    }

    @Test func moreThanSixtyFourTypes() throws {
        let list = (0..<65).map { "\"t\($0)\"" }.joined(separator: ",")
        let error = try #require(subscriptionError(#"{"scope":"core","target":"blob","target_id":"b","types":[\#(list)]}"#))
        #expect(error.field == "types")
        #expect(error.reason?.contains("64") == true)
        // The limit applies to the request, before de-duplication.
        let dup = (0..<65).map { _ in "\"a\"" }.joined(separator: ",")
        #expect(subscriptionError(#"{"scope":"core","target":"blob","target_id":"b","types":[\#(dup)]}"#)?.field == "types")
    }

    @Test func fieldsAreCheckedInOrder() {
        // Several problems at once: the first in scope → scope_id → target → target_id → types → since → epoch order is named.
        #expect(subscriptionError(#"{"scope":"x","target":"y","target_id":""}"#)?.field == "scope")
        #expect(subscriptionError(#"{"scope":"core","scope_id":"x","target":"y"}"#)?.field == "scope_id")
        #expect(subscriptionError(#"{"scope":"core","target":"y","target_id":""}"#)?.field == "target")
        #expect(subscriptionError(#"{"scope":"core","target":"user","target_id":"","types":5}"#)?.field == "target_id")
        #expect(subscriptionError(#"{"scope":"core","target":"user","target_id":"u","types":5,"since":-1}"#)?.field == "types")
        #expect(subscriptionError(#"{"scope":"core","target":"user","target_id":"u","since":-1,"epoch":1}"#)?.field == "since")
    }
}
