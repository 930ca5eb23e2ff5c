import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Testing

/// SPEC §8: the publish API's auth, validation, all-or-nothing batches, idempotency and limits.
@Suite struct PublishTests {
    @Test func keysAreRequired() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let event = sessionEvent("processor.output")
            #expect(try await server.publish(event, key: nil).status == 401)
            let wrong = try await server.publish(event, key: "nope")
            #expect(wrong.status == 401)
            #expect(wrong.header("WWW-Authenticate") == "Bearer")
            #expect(wrong.bodyJSON?["error"] != nil)
            #expect(try await server.publish(event, key: TestKeys.publisher).status == 202)
            #expect(try await server.publish(event, key: TestKeys.admin).status == 202)
        }
    }

    @Test func publishIsClosedWithoutConfiguredKeys() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            #expect(try await server.publish(sessionEvent("x"), key: "anything").status == 401)
            #expect(try await server.admin("GET", "/stats", key: "anything").status == 401)
        }
    }

    @Test func acceptedEventsReturnIDsAndOffsets() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let response = try await server.publish("[" + [sessionEvent("a.b", id: "given-id"), sessionEvent("c")].joined(separator: ",") + "]")
            #expect(response.status == 202)
            let events = try #require(response.bodyJSON?["events"] as? [[String: Any]])
            #expect(events.count == 2)
            #expect(events[0]["id"] as? String == "given-id")
            #expect((events[1]["id"] as? String)?.isEmpty == false)
            let first = try #require(events[0]["offset"] as? Int)
            #expect(events[1]["offset"] as? Int == first + 1)
        }
    }

    @Test func invalidEventsAre400NamingIndexAndField() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let cases: [(String, Int, String)] = [
                ("[" + sessionEvent("ok") + #",{"revision_id":"r","session_id":"s"}]"#, 1, "type"),
                (#"[{"type":"Bad Type","user_id":"u"}]"#, 0, "type"),
                (#"[{"type":"x","session_id":"s"}]"#, 0, "revision_id"),
                (#"[{"type":"x"}]"#, 0, "event"),
                (#"[{"type":"x","user_id":"u","created_at":"yesterday"}]"#, 0, "created_at"),
                // Beyond 2^53-1 (schemathesis found 28191446168948465664 answered as a valid number).
                (#"[{"type":"x","user_id":"u","created_at":9007199254740992}]"#, 0, "created_at"),
                (#"[{"type":"x","user_id":"u","created_at":28191446168948465664}]"#, 0, "created_at"),
                (#"[{"type":"x","user_id":"u","created_at":1.5}]"#, 0, "created_at"),
                (#"[{"type":"x","user_id":null,"blob_id":null}]"#, 0, "event"),
                (#"[{"type":"x","user_id":"u","id":5}]"#, 0, "id"),
                (#"[{"type":"x","user_id":"bad id!"}]"#, 0, "user_id"),
                (#"[{"type":"execution_started","revision_id":"r","session_id":"s"}]"#, 0, "type"),
                (#"[{"type":"execution_ended","revision_id":"r","session_id":"s"}]"#, 0, "type"),
                ("[" + sessionEvent("ok") + "," + sessionEvent("ok") + ",7]", 2, "event"),
            ]
            for (body, index, field) in cases {
                let response = try await server.publish(body)
                #expect(response.status == 400, "\(body)")
                let error = response.bodyJSON?["error"] as? [String: Any]
                #expect(error?["index"] as? Int == index, "\(body)")
                #expect(error?["field"] as? String == field, "\(body)")
            }
            #expect(try await server.publish("not json").status == 400)
            #expect(try await server.publish("[]").status == 400)
        }
    }

    /// A batch with one bad event stores nothing: the log head does not move and nobody is notified.
    @Test func batchesAreAllOrNothing() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            _ = try await socket.subscribe(sessionParams())
            let before = try await headOffset(server)
            let response = try await server.publish("[" + sessionEvent("fine") + "," + sessionEvent("fine") + #",{"type":"broken"}]"#)
            #expect(response.status == 400)
            #expect(try await headOffset(server) == before)
            #expect(try await socket.isSilent(for: .milliseconds(300)))
        }
    }

    @Test func republishingAnIDReturnsTheOriginalOffset() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            _ = try await socket.subscribe(sessionParams())
            let first = try await server.publishAccepted(sessionEvent("flow.entered", id: "dup-1", execution: "e"))
            let second = try await server.publishAccepted(sessionEvent("flow.entered", id: "dup-1", execution: "e"))
            #expect(first == second)
            _ = try await socket.nextEvents(2)  // the event and its derived execution_started, once
            #expect(try await socket.isSilent(for: .milliseconds(300)))
        }
    }

    @Test func sizeLimitsAre413() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let many = "[" + Array(repeating: sessionEvent("x"), count: 1001).joined(separator: ",") + "]"
            #expect(try await server.publish(many).status == 413)
            let big = sessionEvent("x", extra: #""data":""# + String(repeating: "a", count: 262_144) + #"""#)
            let response = try await server.publish(big)
            #expect(response.status == 413)
        }
    }

    /// The event object is stored as published: number text, unicode and key order survive.
    @Test func eventsKeepTheirExactContent() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            _ = try await socket.subscribe(sessionParams())
            let event = #"{"type":"processor.output","revision_id":"\#(Fixture.revision)","session_id":"\#(Fixture.session)","id":"exact","created_at":1714150000000,"data":{"big":12345678901234567890,"pi":3.14159265358979323846,"e":1E+2,"text":"héllo ☃ \"q\""}}"#
            try await server.publishAccepted(event)
            let text = try await socket.nextText()
            #expect(text.hasSuffix(#","event":"# + event + "}}"))
        }
    }

    private func headOffset(_ server: TestServerHandle) async throws -> Int {
        let stats = try await server.admin("GET", "/stats")
        return try #require((stats.bodyJSON?["events"] as? [String: Any])?["head_offset"] as? Int)
    }
}
