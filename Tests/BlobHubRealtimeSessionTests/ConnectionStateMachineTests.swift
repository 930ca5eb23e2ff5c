import BlobHubRealtimeIdentity
import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import BlobHubRealtimeSession
import Foundation
import Testing

/// The connection state machine without any I/O: messages in, actions out.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine<String>
    typealias Action = Machine.Action

    static let settings = ConnectionSession.Settings(
        serverName: "test", serverVersion: "0", epoch: "epoch-1", heartbeatIntervalMs: 25_000, maxMessageBytes: 65536, maxSubscriptions: 10
    )
    static let user = Principal.user(UserPrincipal(userID: "user-1", expiresAt: Date(timeIntervalSince1970: 2_000_000_000)))
    static let second: UInt64 = 1_000_000_000

    /// A registry where user-1 is a member of org-1; `withoutMembership`: the same without it.
    static func registry(member: Bool = true) -> RegistrySnapshot {
        var registry = RegistrySnapshot()
        var commands: [RegistryCommand] = [.putOrganization(id: "org-1", body: ["name": "one"])]
        if member { commands.append(.putOrganizationMember(organizationID: "org-1", userID: "user-1", body: ["role": "read"])) }
        for command in commands { _ = try? registry.apply(command, nowMs: 0) }
        return registry
    }

    static func machine(principal: Principal = user, rate: Int = 1000, holdLimit: Int = 100) -> Machine {
        Machine(session: ConnectionSession(connectionID: "c", principal: principal, settings: settings),
                rate: rate, burst: rate * 2, holdLimit: holdLimit, now: 0)
    }

    static func message(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func request(_ id: Int, _ method: String, _ params: String = "{}") -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"\#(method)","params":\#(params)}"#
    }

    static let userKey = #"{"scope":"core","target":"user","target_id":"user-1"}"#
    static let orgKey = #"{"scope":"core","target":"organization","target_id":"org-1"}"#
    static let userSubscription = SubscriptionKey(scope: .core, scopeID: nil, target: .user, targetID: "user-1")
    static let orgSubscription = SubscriptionKey(scope: .core, scopeID: nil, target: .organization, targetID: "org-1")

    /// The JSON of every `.send`, parsed.
    static func sent(_ actions: [Action]) -> [JSONValue] {
        actions.compactMap { action in
            guard case .send(let bytes) = action else { return nil }
            return try? JSONParser.parse(bytes)
        }
    }

    /// A compact description of the actions, for order checks.
    static func names(_ actions: [Action]) -> [String] {
        actions.map { action in
            switch action {
            case .send(let bytes):
                let json = try? JSONParser.parse(bytes)
                if let id = json?.objectValue?["id"]?.int64Value { return "send#\(id)" }
                if json?.arrayValue != nil { return "send[batch]" }
                return "send:\(json?.objectValue?["method"]?.stringValue ?? "?")"
            case .sendFrame(let frame): return "frame:\(frame)"
            case .sendReplayed(_, let offset, _): return "replayed:\(offset)"
            case .verifyToken: return "verify"
            case .loadReplay(_, let since, _): return "load:\(since)"
            case .subscribe: return "subscribe"
            case .unsubscribe: return "unsubscribe"
            case .credentialChanged: return "credential"
            case .close(let code): return "close:\(code.rawValue)"
            }
        }
    }

    static func initialized(_ machine: inout Machine, now: UInt64 = 0) {
        let actions = machine.received(message(request(1, "status/initialize")), registry: registry(), now: now)
        #expect(names(actions) == ["send#1"])
        #expect(machine.isInitialized)
    }

    @Test("requests are answered in order; a notification is not answered; a batch is answered as one array")
    func answers() {
        var machine = Self.machine()
        #expect(Self.names(machine.received(Self.message(Self.request(1, "status/ping")), registry: Self.registry(), now: 0)) == ["send#1"])
        #expect(machine.received(Self.message(#"{"jsonrpc":"2.0","method":"status/ping"}"#), registry: Self.registry(), now: 0).isEmpty)
        let batch = machine.received(Self.message("[\(Self.request(2, "status/ping")),\(Self.request(3, "nope"))]"), registry: Self.registry(), now: 0)
        let answer = Self.sent(batch).first?.arrayValue
        #expect(answer?.compactMap { $0.objectValue?["id"]?.int64Value } == [2, 3])
        #expect(answer?.last?.objectValue?["error"]?.objectValue?["code"]?.int64Value == Int64(RPCErrorCode.methodNotSupported.rawValue))
        // Invalid JSON gets a parse error.
        let bad = Self.sent(machine.received(Self.message("{"), registry: Self.registry(), now: 0))
        #expect(bad.first?.objectValue?["error"]?.objectValue?["code"]?.int64Value == Int64(RPCErrorCode.invalidSyntax.rawValue))
    }

    @Test("a subscription before status/initialize is refused and changes nothing; after it, the fan-out is told")
    func subscribeNeedsInitialize() {
        var machine = Self.machine()
        let refused = machine.received(Self.message(Self.request(1, "subscription/add", Self.userKey)), registry: Self.registry(), now: 0)
        #expect(Self.names(refused) == ["send#1"])
        #expect(Self.sent(refused).first?.objectValue?["error"] != nil)
        #expect(machine.session.subscriptions.isEmpty)
        Self.initialized(&machine)
        let added = machine.received(Self.message(Self.request(2, "subscription/add", Self.userKey)), registry: Self.registry(), now: 0)
        #expect(Self.names(added) == ["subscribe", "send#2"])
        #expect(machine.admission(of: Self.userSubscription, type: "t", offset: 1, filtered: false) == .deliver)
        let removed = machine.received(Self.message(Self.request(3, "subscription/remove", Self.userKey)), registry: Self.registry(), now: 0)
        #expect(Self.names(removed) == ["unsubscribe", "send#3"])
    }

    @Test("status/authenticate suspends the connection's requests until the token is verified; then all are answered in order")
    func authenticationSuspends() {
        var machine = Self.machine()
        Self.initialized(&machine)
        let asked = machine.received(Self.message(Self.request(2, "status/authenticate", #"{"token":"t"}"#)), registry: Self.registry(), now: 0)
        #expect(Self.names(asked) == ["verify"])
        // Waiting behind it: not answered yet.
        #expect(machine.received(Self.message(Self.request(3, "status/ping")), registry: Self.registry(), now: 0).isEmpty)
        #expect(machine.received(Self.message(Self.request(4, "status/ping")), registry: Self.registry(), now: 0).isEmpty)
        let refreshed = UserPrincipal(userID: "user-1", expiresAt: Date(timeIntervalSince1970: 2_100_000_000))
        let done = machine.authenticationFinished(.success(refreshed), registry: Self.registry(), now: 0)
        #expect(Self.names(done) == ["credential", "send#2", "send#3", "send#4"])
        #expect(machine.credentialDeadline(leeway: 30) == Date(timeIntervalSince1970: 2_100_000_030))
        // Another user's token is refused: no credential change.
        _ = machine.received(Self.message(Self.request(5, "status/authenticate", #"{"token":"t"}"#)), registry: Self.registry(), now: 0)
        let other = UserPrincipal(userID: "user-2", expiresAt: Date(timeIntervalSince1970: 2_100_000_000))
        let refused = machine.authenticationFinished(.success(other), registry: Self.registry(), now: 0)
        #expect(Self.names(refused) == ["send#5"])
        #expect(Self.sent(refused).first?.objectValue?["error"] != nil)
        #expect(machine.session.principal.userID == "user-1")
        // A completion nobody waits for changes nothing.
        #expect(machine.authenticationFinished(.success(refreshed), registry: Self.registry(), now: 0).isEmpty)
    }

    @Test("a since replay: live events are held, then the result, replayed and held events in offset order, without duplicates")
    func replayMerge() {
        var machine = Self.machine()
        Self.initialized(&machine)
        let add = machine.received(Self.message(Self.request(2, "subscription/add", #"{"scope":"core","target":"user","target_id":"user-1","since":3}"#)),
                                   registry: Self.registry(), now: 0)
        #expect(Self.names(add) == ["subscribe", "load:3"])
        // Live events during the read: held (one is also in the replay).
        #expect(machine.admission(of: Self.userSubscription, type: "t", offset: 5, filtered: false) == .hold)
        let heldFive = machine.hold("live-5", offset: 5, key: Self.userSubscription)
        #expect(heldFive)
        let heldSeven = machine.hold("live-7", offset: 7, key: Self.userSubscription)
        #expect(heldSeven)
        // A request behind the replay waits.
        #expect(machine.received(Self.message(Self.request(3, "status/ping")), registry: Self.registry(), now: 0).isEmpty)
        let replay = Replay(result: .object(JSONObject([("offset", .integer(7))])),
                            events: [4, 5, 6].map { Replay.Event(offset: $0, type: "t", json: Array(#"{"type":"t"}"#.utf8)) })
        let done = machine.replayFinished(.success(replay), registry: Self.registry(), now: 0)
        #expect(Self.names(done) == ["send#2", "replayed:4", "frame:live-5", "replayed:6", "frame:live-7", "send#3"])
        // Live events the replay already sent are refused; later ones delivered.
        #expect(machine.admission(of: Self.userSubscription, type: "t", offset: 6, filtered: false) == .refuse)
        #expect(machine.admission(of: Self.userSubscription, type: "t", offset: 8, filtered: false) == .deliver)
        // After a remove, the subscription starts afresh: the replayed mark is gone.
        _ = machine.received(Self.message(Self.request(4, "subscription/remove", Self.userKey)), registry: Self.registry(), now: 0)
        _ = machine.received(Self.message(Self.request(5, "subscription/add", Self.userKey)), registry: Self.registry(), now: 0)
        #expect(machine.admission(of: Self.userSubscription, type: "t", offset: 6, filtered: false) == .deliver)
    }

    @Test("a replay in a batch: its events go out before the batch's answer, which includes the add's result")
    func replayInBatch() {
        var machine = Self.machine()
        Self.initialized(&machine)
        let batch = "[\(Self.request(2, "subscription/add", #"{"scope":"core","target":"user","target_id":"user-1","since":0}"#)),\(Self.request(3, "status/ping"))]"
        #expect(Self.names(machine.received(Self.message(batch), registry: Self.registry(), now: 0)) == ["subscribe", "load:0"])
        let replay = Replay(result: .object(JSONObject()), events: [Replay.Event(offset: 1, type: "t", json: Array("{}".utf8))])
        let done = machine.replayFinished(.success(replay), registry: Self.registry(), now: 0)
        #expect(Self.names(done) == ["replayed:1", "send[batch]"])
        #expect(Self.sent(done).first?.arrayValue?.compactMap { $0.objectValue?["id"]?.int64Value } == [2, 3])
    }

    @Test("a failed replay answers an internal error, then sends what was held")
    func replayFailure() {
        struct Broken: Error {}
        var machine = Self.machine()
        Self.initialized(&machine)
        _ = machine.received(Self.message(Self.request(2, "subscription/add", #"{"scope":"core","target":"user","target_id":"user-1","since":0}"#)),
                             registry: Self.registry(), now: 0)
        let heldNine = machine.hold("live-9", offset: 9, key: Self.userSubscription)
        #expect(heldNine)
        let done = machine.replayFinished(.failure(Broken()), registry: Self.registry(), now: 0)
        #expect(Self.names(done) == ["send#2", "frame:live-9"])
        #expect(Self.sent(done).first?.objectValue?["error"]?.objectValue?["code"]?.int64Value == Int64(RPCErrorCode.unexpectedFailure.rawValue))
    }

    @Test("holding more than the limit during a replay makes the connection a slow consumer")
    func holdLimit() {
        var machine = Self.machine(holdLimit: 2)
        Self.initialized(&machine)
        _ = machine.received(Self.message(Self.request(2, "subscription/add", #"{"scope":"core","target":"user","target_id":"user-1","since":0}"#)),
                             registry: Self.registry(), now: 0)
        let heldA = machine.hold("a", offset: 1, key: Self.userSubscription)
        #expect(heldA)
        let heldB = machine.hold("b", offset: 2, key: Self.userSubscription)
        #expect(heldB)
        let heldC = machine.hold("c", offset: 3, key: Self.userSubscription)
        #expect(!heldC)
    }

    @Test("beyond the rate: 429 answers; beyond ten times the rate within a second: closed with 4029, nothing processed after")
    func rateLimit() {
        var machine = Self.machine(rate: 2)  // burst 4
        var codes: [Int64?] = []
        for id in 1...6 {
            let sent = Self.sent(machine.received(Self.message(Self.request(id, "status/ping")), registry: Self.registry(), now: 0))
            codes.append(sent.first?.objectValue?["error"]?.objectValue?["code"]?.int64Value)
        }
        #expect(codes == [nil, nil, nil, nil, Int64(RPCErrorCode.tooManyRequests.rawValue), Int64(RPCErrorCode.tooManyRequests.rawValue)])
        // A second later the bucket has refilled.
        #expect(Self.sent(machine.received(Self.message(Self.request(7, "status/ping")), registry: Self.registry(), now: Self.second))
            .first?.objectValue?["error"] == nil)
        var closed: [Action] = []
        for id in 8...40 where closed.isEmpty {
            closed = machine.received(Self.message(Self.request(id, "status/ping")), registry: Self.registry(), now: Self.second).filter {
                if case .close = $0 { return true } else { return false }
            }
        }
        #expect(Self.names(closed) == ["close:4029"])
        #expect(machine.state == .closing)
        #expect(machine.received(Self.message(Self.request(99, "status/ping")), registry: Self.registry(), now: 3 * Self.second).isEmpty)
    }

    @Test("type filters: a filtered subscription admits only its types")
    func typeFilter() {
        var machine = Self.machine()
        Self.initialized(&machine)
        let add = machine.received(Self.message(Self.request(2, "subscription/add", #"{"scope":"core","target":"user","target_id":"user-1","types":["a"]}"#)),
                                   registry: Self.registry(), now: 0)
        guard case .subscribe(_, _, let filtered)? = add.first else { Issue.record("no subscribe action"); return }
        #expect(filtered)
        #expect(machine.admission(of: Self.userSubscription, type: "a", offset: 1, filtered: true) == .deliver)
        #expect(machine.admission(of: Self.userSubscription, type: "b", offset: 2, filtered: true) == .refuse)
    }

    @Test("a registry change ends the subscriptions the user lost: out of the fan-out, and the client is told")
    func revalidation() {
        var machine = Self.machine()
        Self.initialized(&machine)
        _ = machine.received(Self.message(Self.request(2, "subscription/add", Self.orgKey)), registry: Self.registry(), now: 0)
        _ = machine.received(Self.message(Self.request(3, "subscription/add", Self.userKey)), registry: Self.registry(), now: 0)
        #expect(machine.revalidate(Self.registry()).isEmpty)
        let lost = machine.revalidate(Self.registry(member: false))
        #expect(Self.names(lost) == ["unsubscribe", "send:\(RPCNotificationMethod.subscriptionRevoked.rawValue)"])
        guard case .unsubscribe(let key)? = lost.first else { return }
        #expect(key == Self.orgSubscription)
        #expect(Array(machine.session.subscriptions.keys) == [Self.userSubscription])
    }

    @Test("closing: once, then nothing is admitted or processed; the client's close is answered or ends the handshake")
    func lifecycle() {
        var machine = Self.machine()
        Self.initialized(&machine)
        _ = machine.received(Self.message(Self.request(2, "subscription/add", Self.userKey)), registry: Self.registry(), now: 0)
        let first = machine.beginClosing()
        let second = machine.beginClosing()
        #expect(first && !second)
        #expect(machine.admission(of: Self.userSubscription, type: "t", offset: 1, filtered: false) == .refuse)
        let answerToOurs = machine.clientClosed()
        #expect(answerToOurs == .hangUp)
        let ended = machine.closed()
        #expect(ended?.wasOpen == false && ended?.subscriptions == [Self.userSubscription])
        let again = machine.closed()
        #expect(again == nil)
        let late = machine.clientClosed()
        #expect(late == .ignore)

        var other = Self.machine()
        let theirs = other.clientClosed()
        #expect(theirs == .answer && other.state == .closing)
        var dropped = Self.machine()
        let lost = dropped.closed()
        #expect(lost?.wasOpen == true)
    }

    @Test("timers' decisions: silence since a ping, initialization, and the credential deadline (leeway for tokens only)")
    func timers() {
        var machine = Self.machine()
        machine.inboundArrived(at: 5)
        #expect(machine.isSilent(since: 6))
        #expect(!machine.isSilent(since: 5))
        #expect(!machine.isInitialized)
        #expect(machine.credentialDeadline(leeway: 30) == Date(timeIntervalSince1970: 2_000_000_030))
        let key = APIKeyPrincipal(keyID: "k", userID: "user-1", target: .organization("org-1"), role: .read,
                                  expiresAt: Date(timeIntervalSince1970: 1_900_000_000))
        #expect(Self.machine(principal: .apiKey(key)).credentialDeadline(leeway: 30) == Date(timeIntervalSince1970: 1_900_000_000))
        let forever = APIKeyPrincipal(keyID: "k", userID: "user-1", target: .organization("org-1"), role: .read)
        #expect(Self.machine(principal: .apiKey(forever)).credentialDeadline(leeway: 30) == nil)
    }
}
