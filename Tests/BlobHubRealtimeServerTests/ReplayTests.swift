import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Testing

/// SPEC §7.4: offsets, `since` replay, epochs, limits and restarts.
@Suite struct ReplayTests {
    @Test func sinceReplaysRetainedEventsThenLive() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            var offsets: [Int] = []
            for index in 0..<5 { offsets += try await server.publishAccepted(sessionEvent("processor.output", extra: #""i":\#(index)"#)) }
            let socket = try await server.connectInitialized()
            let reply = try await socket.subscribe(sessionParams(extra: #","since":\#(offsets[1])"#))
            let result = try #require(reply["result"] as? [String: Any])
            #expect(result["recovered"] as? Bool == true)
            #expect(result["offset"] as? Int == offsets[4])
            #expect((result["epoch"] as? String)?.isEmpty == false)
            let replayed = try await socket.nextEvents(3).compactMap { $0["offset"] as? Int }
            #expect(replayed == Array(offsets[2...]))
            let live = try await server.publishAccepted(sessionEvent("processor.output"))
            #expect(try await socket.nextEvent()["offset"] as? Int == live[0])
        }
    }

    @Test func sinceZeroReplaysEverythingMatchingTheFilter() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            try await server.publishAccepted("[" + [sessionEvent("a"), sessionEvent("b"), sessionEvent("a"), sessionEvent("a", session: "other")].joined(separator: ",") + "]")
            let socket = try await server.connectInitialized()
            _ = try await socket.subscribe(sessionParams(types: #"["a"]"#, extra: #","since":0"#))
            let events = try await socket.nextEvents(2)
            #expect(events.allSatisfy { ($0["event"] as? [String: Any])?["type"] as? String == "a" })
            #expect(try await socket.isSilent(for: .milliseconds(200)))
        }
    }

    @Test func otherEpochMeansLiveOnly() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            try await server.publishAccepted(sessionEvent("a"))
            let socket = try await server.connectInitialized()
            let reply = try await socket.subscribe(sessionParams(extra: #","since":0,"epoch":"some-other-log""#))
            let result = try #require(reply["result"] as? [String: Any])
            #expect(result["recovered"] as? Bool == false)
            #expect(try await socket.isSilent(for: .milliseconds(200)))
            try await server.publishAccepted(sessionEvent("b"))
            #expect((try await socket.nextEvent()["event"] as? [String: Any])?["type"] as? String == "b")
        }
    }

    @Test func tooManyToReplayMeansNoReplay() async throws {
        try await withPlatform({ $0.maxReplayEvents = 3 }) { (server: TestServerHandle) async throws in
            try await server.publishAccepted("[" + Array(repeating: sessionEvent("a"), count: 5).joined(separator: ",") + "]")
            let socket = try await server.connectInitialized()
            let result = try #require(try await socket.subscribe(sessionParams(extra: #","since":0"#))["result"] as? [String: Any])
            #expect(result["recovered"] as? Bool == false)
            #expect(try await socket.isSilent(for: .milliseconds(200)))
        }
    }

    /// Retention (applied at start) prunes old events: resuming from before them says recovered false
    /// and replays what is left; resuming after them is still a full recovery.
    @Test func prunedEventsMakeRecoveryFalse() async throws {
        try await withTemporaryDirectory { directory in
            let store = "sqlite:" + directory.appendingPathComponent("log.sqlite").path
            let offsets = try await withPlatform({ $0.store = store }) { (server: TestServerHandle) async throws in
                try await server.publishAccepted("[" + Array(repeating: sessionEvent("a"), count: 6).joined(separator: ",") + "]")
            }
            try await withPlatform({ $0.store = store; $0.retentionEvents = 2 }, seed: false) { (server: TestServerHandle) async throws in
                let socket = try await server.connectInitialized()
                let early = try #require(try await socket.subscribe(sessionParams(extra: #","since":0"#), id: 1)["result"] as? [String: Any])
                #expect(early["recovered"] as? Bool == false)
                #expect(try await socket.nextEvents(2).compactMap { $0["offset"] as? Int } == Array(offsets[4...]))
                let other = try await server.connectInitialized()
                let late = try #require(try await other.subscribe(sessionParams(extra: #","since":\#(offsets[3])"#), id: 2)["result"] as? [String: Any])
                #expect(late["recovered"] as? Bool == true)
            }
        }
    }

    /// A subscriber that resumes while events keep being published gets every event once, in order.
    @Test func replayRacingLivePublishesHasNoGapOrDuplicate() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let total = 300
            let publisher = Task {
                var offsets: [Int] = []
                for batch in 0..<30 {
                    let events = (0..<10).map { sessionEvent("processor.output", extra: #""n":\#(batch * 10 + $0)"#) }
                    offsets += try await server.publishAccepted("[" + events.joined(separator: ",") + "]")
                }
                return offsets
            }
            try await Task.sleep(for: .milliseconds(30))
            let socket = try await server.connectInitialized()
            _ = try await socket.subscribe(sessionParams(extra: #","since":0"#))
            let published = try await publisher.value
            let received = try await socket.nextEvents(total, timeout: .seconds(10)).compactMap { $0["offset"] as? Int }
            #expect(received == published)
            #expect(try await socket.isSilent(for: .milliseconds(200)))
        }
    }

    /// The SQLite log survives a restart: same epoch, offsets continue, resume works.
    @Test func sqliteRestartKeepsTheLog() async throws {
        try await withTemporaryDirectory { directory in
        let store = "sqlite:" + directory.appendingPathComponent("log.sqlite").path

        let (firstOffsets, epoch) = try await withPlatform({ $0.store = store }) { (server: TestServerHandle) async throws in
            let offsets = try await server.publishAccepted("[" + [sessionEvent("a"), sessionEvent("b")].joined(separator: ",") + "]")
            let socket = try await server.connectInitialized()
            let reply = try await socket.subscribe(sessionParams(extra: #","since":0"#))
            return (offsets, (reply["result"] as? [String: Any])?["epoch"] as? String)
        }
        try await withPlatform({ $0.store = store }, seed: false) { (server: TestServerHandle) async throws in
            // The registry came back from the file too: the seeded revision is still known.
            let socket = try await server.connectInitialized()
            let reply = try await socket.subscribe(sessionParams(extra: #","since":\#(firstOffsets[0]),"epoch":"\#(epoch ?? "")""#))
            let result = try #require(reply["result"] as? [String: Any])
            #expect(result["epoch"] as? String == epoch)
            #expect(result["recovered"] as? Bool == true)
            #expect(try await socket.nextEvent()["offset"] as? Int == firstOffsets[1])
            let next = try await server.publishAccepted(sessionEvent("c"))
            #expect(next[0] > firstOffsets[1])
            #expect(try await socket.nextEvent()["offset"] as? Int == next[0])
        }
        }
    }
}
