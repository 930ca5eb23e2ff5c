import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import BlobHubRealtimeSession
import Foundation
import Testing

/// The notifications the server writes (the subscription's event prefix completed as the fan-out does, the
/// revocation the state machine sends) are what a client reads back with ``ServerNotification`` (Protocol).
@Suite struct NotificationShapeTests {
    static func subscription(_ params: String) throws -> ActiveSubscription {
        let object = try #require(try JSONParser.parse(Array(params.utf8)).objectValue)
        return ActiveSubscription(try SubscriptionParams.decode(object, allowSince: true))
    }

    @Test("a subscription/event as the fan-out completes the prefix decodes to the subscription, offset and event",
          arguments: [#"{"scope":"core","target":"user","target_id":"user-1"}"#,
                      #"{"scope":"revision","scope_id":"0A06AB3A-DD72-4D42-939A-61DC4EF69418","target":"session","target_id":"S-1.a_b:c"}"#])
    func eventRoundTrip(_ params: String) throws {
        let subscription = try Self.subscription(params)
        let event = Array(#"{"type":"flow.entered","n":1.50}"#.utf8)
        let frame = subscription.prefix + Array("42".utf8) + Array(#","event":"#.utf8) + event + Array("}}".utf8)
        let message = try #require(try JSONParser.parse(frame).objectValue)
        #expect(ServerNotification.decode(message) == .event(subscription.key, offset: 42, event: try JSONParser.parse(event)))
    }

    @Test("the revocation the state machine sends decodes to the subscription and the reason")
    func revokedRoundTrip() throws {
        var registry = RegistrySnapshot()
        _ = try registry.apply(.putOrganization(id: "org-1", body: ["name": "one"]), nowMs: 0)
        _ = try registry.apply(.putOrganizationMember(organizationID: "org-1", userID: "user-1", body: ["role": "read"]), nowMs: 0)
        var machine = ConnectionStateMachineTests.machine()
        ConnectionStateMachineTests.initialized(&machine)
        _ = machine.received(ConnectionStateMachineTests.message(ConnectionStateMachineTests.request(2, "subscription/add", ConnectionStateMachineTests.orgKey)),
                             registry: registry, now: 0)
        let actions = machine.revalidate(RegistrySnapshot())
        let sent = actions.compactMap { action -> [UInt8]? in if case .send(let bytes) = action { bytes } else { nil } }
        let revocation = try #require(sent.first)
        let message = try #require(try JSONParser.parse(revocation).objectValue)
        #expect(ServerNotification.decode(message) == .revoked(ConnectionStateMachineTests.orgSubscription, reason: "access revoked"))
    }

    @Test("responses, other methods and malformed notifications are not notifications")
    func notNotifications() throws {
        for text in [#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
                     #"{"jsonrpc":"2.0","method":"status/ping","params":{"scope":"core","target":"user","target_id":"u"}}"#,
                     #"{"jsonrpc":"2.0","method":"subscription/event","params":{"scope":"core","target":"user","target_id":"u","event":{}}}"#,
                     #"{"jsonrpc":"2.0","method":"subscription/event","params":{"scope":"nope","target":"user","target_id":"u","offset":1,"event":{}}}"#] {
            let message = try #require(try JSONParser.parse(Array(text.utf8)).objectValue)
            #expect(ServerNotification.decode(message) == nil, "\(text)")
        }
    }

    @Test("a client request: method from RPCMethod, params when given")
    func request() throws {
        let bare = try JSONParser.parse(RPCEncoder.request(id: 7, method: .initialize))
        #expect(bare.objectValue?["method"]?.stringValue == "status/initialize" && bare.objectValue?["id"]?.int64Value == 7)
        #expect(bare.objectValue?["params"] == nil && bare.objectValue?["jsonrpc"]?.stringValue == "2.0")
        let withParams = try JSONParser.parse(RPCEncoder.request(id: 8, method: .subscriptionAdd, params: .object(JSONObject([("scope", .string("core"))]))))
        #expect(withParams.objectValue?["params"]?.objectValue?["scope"]?.stringValue == "core")
        // What the server's decoder makes of it.
        guard case .single(.request(let decoded)) = RPCDecoder.decode(RPCEncoder.request(id: 9, method: .subscriptionList)) else {
            Issue.record("not decoded as one request")
            return
        }
        #expect(decoded.method == RPCMethod.subscriptionList.rawValue && decoded.id == .number("9"))
    }
}
