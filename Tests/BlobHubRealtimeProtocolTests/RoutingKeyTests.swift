import Testing
@testable import BlobHubRealtimeProtocol

/// The stored text form of subscription keys, read back for every committed event's fan-out.
@Suite struct RoutingKeyTests {
    @Test func textAndParseRoundTrip() {
        let keys = [
            SubscriptionKey(scope: .revision, scopeID: "rev-1", target: .session, targetID: "s-9"),
            SubscriptionKey(scope: .core, scopeID: "", target: .user, targetID: "u"),
            SubscriptionKey(scope: .revision, scopeID: "r", target: .execution, targetID: "ünïcode ☃"),
        ]
        for key in keys {
            #expect(RoutingKey.parse(RoutingKey.text(key)) == key)
        }
    }

    @Test func malformedTextIsRejected() {
        for text in ["", "revision|r|session", "revision|r|session|s|extra", "galaxy|r|session|s", "revision|r|planet|s", "|||", "revision r session s"] {
            #expect(RoutingKey.parse(text) == nil, "\(text)")
        }
        #expect(RoutingKey.parse("revision|r|session|") == SubscriptionKey(scope: .revision, scopeID: "r", target: .session, targetID: ""))
    }
}
