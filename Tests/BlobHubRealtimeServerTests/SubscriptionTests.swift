import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Testing

/// SPEC §6–§7 over real connections: add/merge/remove/list, access rules, routing and delivery.
@Suite struct SubscriptionTests {
    @Test func sessionEventsArriveLiveWithOffsetsAndEchoedIDs() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            #expect(try await socket.subscribe(sessionParams())["result"] != nil)
            let offsets = try await server.publishAccepted(sessionEvent("session_object_modified", extra: #""session_object":{"alias":"a"},"n":1.50"#))
            let event = try await socket.nextEvent()
            #expect(event["scope"] as? String == "revision")
            #expect(event["scope_id"] as? String == Fixture.revision)
            #expect(event["target"] as? String == "session")
            #expect(event["target_id"] as? String == Fixture.session)
            #expect(event["offset"] as? Int == offsets[0])
            let body = try #require(event["event"] as? [String: Any])
            #expect(body["type"] as? String == "session_object_modified")
            #expect(body["id"] is String && body["created_at"] is Int)
            await socket.close()
        }
    }

    /// UUID-form ids compare case-insensitively; each subscriber sees its own spelling echoed.
    @Test func uuidIDsMatchCaseInsensitivelyAndEchoAsWritten() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let upper = try await server.connectInitialized()
            let lower = try await server.connectInitialized()
            _ = try await upper.subscribe(sessionParams())
            _ = try await lower.subscribe(sessionParams(revision: Fixture.revision.lowercased(), session: Fixture.session.lowercased()))
            try await server.publishAccepted(sessionEvent("session_graph_changed", revision: Fixture.revision.lowercased(), session: Fixture.session))
            let a = try await upper.nextEvent()
            let b = try await lower.nextEvent()
            #expect(a["target_id"] as? String == Fixture.session && a["scope_id"] as? String == Fixture.revision)
            #expect(b["target_id"] as? String == Fixture.session.lowercased() && b["scope_id"] as? String == Fixture.revision.lowercased())
            #expect(a["offset"] as? Int == b["offset"] as? Int)
        }
    }

    @Test func typeFiltersMergeAndRemove() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            _ = try await socket.subscribe(sessionParams(types: #"["flow.entered"]"#), id: 1)
            _ = try await socket.subscribe(sessionParams(types: #"["flow.exited"]"#), id: 2)
            let list = try await socket.call(#"{"jsonrpc":"2.0","id":3,"method":"subscription/list"}"#)
            let subscriptions = try #require((list["result"] as? [String: Any])?["subscriptions"] as? [[String: Any]])
            #expect(subscriptions.count == 1)
            #expect(subscriptions[0]["types"] as? [String] == ["flow.entered", "flow.exited"])
            #expect(subscriptions[0]["target_id"] as? String == Fixture.session)

            try await server.publishAccepted("[" + [sessionEvent("processor.output"), sessionEvent("flow.exited")].joined(separator: ",") + "]")
            let event = try await socket.nextEvent()
            #expect((event["event"] as? [String: Any])?["type"] as? String == "flow.exited")

            // Removing one type keeps the other; removing the last ends the subscription.
            #expect(try await socket.call(#"{"jsonrpc":"2.0","id":4,"method":"subscription/remove","params":\#(sessionParams(types: #"["flow.exited"]"#))}"#)["result"] != nil)
            #expect(try await socket.call(#"{"jsonrpc":"2.0","id":5,"method":"subscription/remove","params":\#(sessionParams(types: #"["flow.entered"]"#))}"#)["result"] != nil)
            let empty = try await socket.call(#"{"jsonrpc":"2.0","id":6,"method":"subscription/list"}"#)
            #expect(((empty["result"] as? [String: Any])?["subscriptions"] as? [Any])?.isEmpty == true)
            // Removing what is not subscribed succeeds.
            #expect(try await socket.call(#"{"jsonrpc":"2.0","id":7,"method":"subscription/remove","params":\#(sessionParams())}"#)["result"] != nil)
            try await server.publishAccepted(sessionEvent("flow.exited"))
            #expect(try await socket.isSilent(for: .milliseconds(300)))
        }
    }

    @Test func everyTypeAbsorbsListsAndCannotBeNarrowed() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            _ = try await socket.subscribe(sessionParams(types: #"["flow.entered"]"#), id: 1)
            _ = try await socket.subscribe(sessionParams(), id: 2)
            let list = try await socket.call(#"{"jsonrpc":"2.0","id":3,"method":"subscription/list"}"#)
            #expect(((list["result"] as? [String: Any])?["subscriptions"] as? [[String: Any]])?.first?["types"] as? [String] == [])
            let narrowed = try await socket.call(#"{"jsonrpc":"2.0","id":4,"method":"subscription/remove","params":\#(sessionParams(types: #"["flow.entered"]"#))}"#)
            #expect((narrowed["error"] as? [String: Any])?["code"] as? Int == 400)
            #expect(((narrowed["error"] as? [String: Any])?["data"] as? [String: Any])?["field"] as? String == "types")
        }
    }

    @Test func noEventAfterRemoveResponse() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            _ = try await socket.subscribe(sessionParams())
            let publisher = Task {
                for index in 0..<40 { _ = try? await server.publish(sessionEvent("processor.output", extra: #""i":\#(index)"#)) }
            }
            try await Task.sleep(for: .milliseconds(50))
            try await socket.send(#"{"jsonrpc":"2.0","id":"rm","method":"subscription/remove","params":\#(sessionParams())}"#)
            // Events may precede the response, never follow it.
            while true {
                let message = try #require(try await socket.nextJSON() as? [String: Any])
                if message["id"] as? String == "rm" { break }
                #expect(message["method"] as? String == "subscription/event")
            }
            _ = await publisher.result
            #expect(try await socket.isSilent(for: .milliseconds(300)))
        }
    }

    @Test func subscriptionLimit() async throws {
        try await withPlatform({ $0.maxSubscriptions = 2 }) { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            for (index, session) in ["s1", "s2"].enumerated() {
                #expect(try await socket.subscribe(sessionParams(session: session), id: index)["result"] != nil)
            }
            let third = try await socket.subscribe(sessionParams(session: "s3"), id: 3)
            #expect((third["error"] as? [String: Any])?["code"] as? Int == 400)
            #expect(((third["error"] as? [String: Any])?["data"] as? [String: Any])?["reason"] as? String == "subscription limit reached")
            // Re-adding an existing one is not a new subscription.
            #expect(try await socket.subscribe(sessionParams(session: "s1"), id: 4)["result"] != nil)
        }
    }

    @Test func invalidParamsNameTheField() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            let cases: [(String, String)] = [
                (#"{"scope":"galaxy","target":"user","target_id":"u"}"#, "scope"),
                (#"{"scope":"core","scope_id":"x","target":"user","target_id":"u"}"#, "scope_id"),
                (#"{"scope":"core","target":"session","target_id":"u"}"#, "target"),
                (#"{"scope":"revision","target":"session","target_id":"s"}"#, "scope_id"),
                (#"{"scope":"core","target":"user","target_id":"bad id!"}"#, "target_id"),
                (#"{"scope":"core","target":"user","target_id":"u","types":["Bad"]}"#, "types"),
                (#"{"scope":"core","target":"user","target_id":"u","since":-1}"#, "since"),
            ]
            for (params, field) in cases {
                let reply = try await socket.subscribe(params)
                let error = try #require(reply["error"] as? [String: Any], "\(params)")
                #expect(error["code"] as? Int == 400, "\(params)")
                #expect((error["data"] as? [String: Any])?["field"] as? String == field, "\(params)")
            }
        }
    }

    /// SPEC §6.5 for users: each row of the access table, and 403 for unknown objects (no existence oracle).
    @Test func userAccessRules() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let member = try await server.connectInitialized(user: Fixture.user)
            let outsider = try await server.connectInitialized(user: Fixture.outsider)
            let core = { (target: String, id: String) in #"{"scope":"core","target":"\#(target)","target_id":"\#(id)"}"# }
            let cases: [(TestWebSocket, String, Bool)] = [
                (member, core("user", Fixture.user), true),
                (member, core("user", Fixture.outsider), false),
                (member, core("organization", Fixture.org), true),
                (outsider, core("organization", Fixture.org), false),
                (member, core("blob", Fixture.blob), true),
                (outsider, core("blob", Fixture.blob), false),
                (member, core("revision", Fixture.revision), true),
                (outsider, core("revision", Fixture.revision), false),
                (outsider, core("blob", Fixture.publicBlob), true),
                (outsider, core("revision", Fixture.publicRevision), true),
                (member, core("blob", Fixture.privateBlob), false),
                (member, core("organization", "org-unknown"), false),
                (member, core("blob", "blob-unknown"), false),
                (member, sessionParams(), true),
                (outsider, sessionParams(), false),
                (outsider, sessionParams(revision: Fixture.publicRevision), true),
                (member, sessionParams(revision: "rev-unknown"), false),
                (member, sessionParams(revision: Fixture.onnxRevision), false),
            ]
            for (index, (socket, params, allowed)) in cases.enumerated() {
                let reply = try await socket.subscribe(params, id: index)
                if allowed {
                    #expect(reply["result"] != nil, "case \(index): \(params)")
                } else {
                    let error = reply["error"] as? [String: Any]
                    #expect(error?["code"] as? Int == 403, "case \(index): \(params)")
                    #expect(error?["message"] as? String == "Access forbidden", "case \(index)")
                }
            }
        }
    }

    @Test func apiKeyAccessRules() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let orgKey = try await server.createAPIKey(target: "orgs", targetID: Fixture.org)
            let blobKey = try await server.createAPIKey(target: "blobs", targetID: Fixture.blob)
            let orgSocket = try await TestWebSocket.connect(port: server.port, headers: [("X-API-Key", orgKey.secret)])
            let blobSocket = try await TestWebSocket.connect(port: server.port, headers: [("Sec-WebSocket-Protocol", "x-api-key.base64, \(Base64Form.urlSafeUnpadded.encode(blobKey.secret))")])
            _ = try await orgSocket.initialize()
            _ = try await blobSocket.initialize()
            let core = { (target: String, id: String) in #"{"scope":"core","target":"\#(target)","target_id":"\#(id)"}"# }
            let cases: [(TestWebSocket, String, Bool)] = [
                (orgSocket, core("organization", Fixture.org), true),
                (orgSocket, core("blob", Fixture.blob), true),
                (orgSocket, core("revision", Fixture.revision), true),
                (orgSocket, sessionParams(), true),
                (orgSocket, core("organization", Fixture.otherOrg), false),
                (orgSocket, core("blob", Fixture.publicBlob), false),
                (orgSocket, core("user", Fixture.user), false),
                (blobSocket, core("blob", Fixture.blob), true),
                (blobSocket, core("revision", Fixture.revision), true),
                (blobSocket, sessionParams(), true),
                (blobSocket, core("organization", Fixture.org), false),
                (blobSocket, core("blob", Fixture.onnxBlob), false),
                (blobSocket, core("user", Fixture.user), false),
            ]
            for (index, (socket, params, allowed)) in cases.enumerated() {
                let reply = try await socket.subscribe(params, id: index)
                #expect((reply["result"] != nil) == allowed, "case \(index): \(params)")
                if !allowed { #expect((reply["error"] as? [String: Any])?["code"] as? Int == 403, "case \(index)") }
            }
        }
    }

    /// A session id used under another revision never leaks: routing needs the event's own revision.
    @Test func sessionIDUnderAnotherRevisionDoesNotLeak() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            _ = try await socket.subscribe(sessionParams(revision: Fixture.revision, session: "shared-session"))
            try await server.publishAccepted(sessionEvent("flow.entered", revision: Fixture.privateRevision, session: "shared-session", execution: "e1"))
            #expect(try await socket.isSilent(for: .milliseconds(300)))
        }
    }

    @Test func executionEventsReachSessionAndExecutionSubscribers() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let sessionSocket = try await server.connectInitialized()
            let executionSocket = try await server.connectInitialized()
            let otherExecution = try await server.connectInitialized()
            _ = try await sessionSocket.subscribe(sessionParams())
            _ = try await executionSocket.subscribe(#"{"scope":"revision","scope_id":"\#(Fixture.revision)","target":"execution","target_id":"exec-1"}"#)
            _ = try await otherExecution.subscribe(#"{"scope":"revision","scope_id":"\#(Fixture.revision)","target":"execution","target_id":"exec-2"}"#)
            try await server.publishAccepted(sessionEvent("processor.entered", execution: "exec-1"))
            try await server.publishAccepted(sessionEvent("session_thread_item_posted", extra: #""alias":"t","item_id":"i1""#))
            #expect((try await sessionSocket.nextEvent()["event"] as? [String: Any])?["type"] as? String == "processor.entered")
            #expect((try await sessionSocket.nextEvent()["event"] as? [String: Any])?["type"] as? String == "session_thread_item_posted")
            let execution = try await executionSocket.nextEvent()
            #expect(execution["target"] as? String == "execution" && execution["target_id"] as? String == "exec-1")
            #expect(try await executionSocket.isSilent(for: .milliseconds(200)))
            #expect(try await otherExecution.isSilent(for: .milliseconds(100)))
        }
    }

    /// SPEC §7.2: flow.entered/exited/error derive execution_started/ended right after the source event.
    @Test func derivedLifecycleEvents() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            _ = try await socket.subscribe(sessionParams())
            let offsets = try await server.publishAccepted("[" + [
                sessionEvent("flow.entered", id: "ev-1", execution: "exec-1"),
                sessionEvent("flow.exited", id: "ev-2", execution: "exec-1"),
                sessionEvent("flow.entered", id: "ev-3", execution: "exec-2"),
                sessionEvent("flow.error", id: "ev-4", execution: "exec-2"),
            ].joined(separator: ",") + "]")
            #expect(offsets.count == 4)
            let events = try await socket.nextEvents(8)
            let types = events.compactMap { ($0["event"] as? [String: Any])?["type"] as? String }
            #expect(types == ["flow.entered", "execution_started", "flow.exited", "execution_ended", "flow.entered", "execution_started", "flow.error", "execution_ended"])
            let eventOffsets = events.compactMap { $0["offset"] as? Int }
            #expect(eventOffsets == eventOffsets.sorted() && Set(eventOffsets).count == 8)
            let ended = try #require(events[3]["event"] as? [String: Any])
            #expect(ended["status"] as? String == "completed")
            #expect(ended["source_event_id"] as? String == "ev-2")
            #expect(ended["execution_id"] as? String == "exec-1")
            #expect((events[7]["event"] as? [String: Any])?["status"] as? String == "failed")
            let started = try #require(events[1]["event"] as? [String: Any])
            #expect(started["created_at"] as? Int == (events[0]["event"] as? [String: Any])?["created_at"] as? Int)
        }
    }

    /// SPEC §7.3: core events fill blob and organization from the registry.
    @Test func coreEventsReachParentSubscribers() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            for (index, (target, id)) in [("revision", Fixture.revision), ("blob", Fixture.blob), ("organization", Fixture.org)].enumerated() {
                #expect(try await socket.subscribe(#"{"scope":"core","target":"\#(target)","target_id":"\#(id)"}"#, id: index)["result"] != nil)
            }
            try await server.publishAccepted(#"{"type":"revision_phase_changed","revision_id":"\#(Fixture.revision)","phase":"commit","previous_phase":"draft"}"#)
            let events = try await socket.nextEvents(3)
            #expect(Set(events.compactMap { $0["target"] as? String }) == ["revision", "blob", "organization"])
            #expect(Set(events.compactMap { $0["offset"] as? Int }).count == 1)
            #expect(events.allSatisfy { $0["scope"] as? String == "core" })
        }
    }

    @Test func registryChangesEmitCoreEvents() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            _ = try await socket.subscribe(#"{"scope":"core","target":"blob","target_id":"\#(Fixture.blob)"}"#)
            let response = try await server.admin("PUT", "/revisions/rev-new", #"{"blob_id":"\#(Fixture.blob)","phase":"draft"}"#)
            #expect(response.status == 200)
            let event = try #require(try await socket.nextEvent()["event"] as? [String: Any])
            #expect(event["type"] as? String == "revision_created")
            #expect(event["revision_id"] as? String == "rev-new")
        }
    }
}
