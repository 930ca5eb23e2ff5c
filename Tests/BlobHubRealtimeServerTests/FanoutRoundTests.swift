@testable import BlobHubRealtimeServer
@testable import BlobHubRealtimeHTTPAPI
@testable import BlobHubRealtimeServices
@testable import BlobHubRealtimeTransport
import Foundation
import BlobHubRealtimeStore
import NIOCore
import Testing

/// The fan-out writes in rounds (`Hub`): a round hands events to connections' batches, then writes
/// a bounded number of connections. With one connection per round every event to several
/// subscribers spans many rounds and loop turns, so these tests exercise batching, interleaving
/// with requests, and the index's removal in the middle.
@Suite struct FanoutRoundTests {
    @Test func everySubscriberGetsEveryEventOnceInOrderAcrossManyRounds() async throws {
        try await withPlatform({ $0.fanoutConnectionsPerRound = 1 }) { (server: TestServerHandle) async throws in
            var sockets: [TestWebSocket] = []
            for _ in 0..<12 {
                let socket = try await server.connectInitialized()
                #expect(try await socket.subscribe(sessionParams())["result"] != nil)
                sockets.append(socket)
            }
            var offsets: [Int] = []
            for batch in 0..<5 {
                let body = "[" + (0..<10).map { sessionEvent("processor.output", id: "round-\(batch)-\($0)") }.joined(separator: ",") + "]"
                offsets += try await server.publishAccepted(body)
            }
            for socket in sockets {
                let received = try await socket.nextEvents(offsets.count, timeout: .seconds(10)).compactMap { $0["offset"] as? Int }
                #expect(received == offsets)
                #expect(try await socket.isSilent(for: .milliseconds(100)))
            }
        }
    }

    /// Events already handed to a connection go out before any later response, so once the answer to
    /// `subscription/remove` arrives nothing more comes for that subscription; the other subscribers
    /// (the index entry was removed from the middle) still get everything. Repeated with the remove
    /// racing the publish, so it lands in the middle of the rounds at least some of the time.
    @Test func unsubscribeAnswerIsTheLastWordOfItsSubscription() async throws {
        try await withPlatform({ $0.fanoutConnectionsPerRound = 1 }) { (server: TestServerHandle) async throws in
            var sockets: [TestWebSocket] = []
            for _ in 0..<24 {
                let socket = try await server.connectInitialized()
                _ = try await socket.subscribe(sessionParams())
                sockets.append(socket)
            }
            let leaving = sockets[sockets.count - 1]
            var all: [Int] = []
            for attempt in 0..<6 {
                if attempt > 0 { _ = try await leaving.subscribe(sessionParams(), id: attempt) }
                let body = "[" + (0..<30).map { sessionEvent("processor.output", id: "leave-\(attempt)-\($0)") }.joined(separator: ",") + "]"
                let publishing = Task { try await server.publishAccepted(body) }
                try await Task.sleep(for: .microseconds(500 * attempt))
                try await leaving.send(#"{"jsonrpc":"2.0","id":"bye","method":"subscription/remove","params":\#(sessionParams())}"#)
                var before: [Int] = []
                while true {
                    guard let message = try await leaving.nextJSON(timeout: .seconds(5)) as? [String: Any] else { continue }
                    if message["id"] as? String == "bye" {
                        #expect(message["result"] != nil)
                        break
                    }
                    let params = try #require(message["params"] as? [String: Any])
                    before.append(try #require(params["offset"] as? Int))
                }
                let offsets = try await publishing.value
                all += offsets
                // Whatever arrived before the answer is the start of the batch, in order; nothing after it.
                #expect(before == Array(offsets.prefix(before.count)), "attempt \(attempt)")
                #expect(try await leaving.isSilent(for: .milliseconds(150)), "attempt \(attempt)")
            }
            for socket in sockets.dropLast() {
                let received = try await socket.nextEvents(all.count, timeout: .seconds(10)).compactMap { $0["offset"] as? Int }
                #expect(received == all)
            }
        }
    }

    /// `--event-loops 1`: one loop serves the HTTP API and every connection (its own group, not NIO's shared one).
    @Test func oneEventLoopServesPublishersAndSubscribers() async throws {
        try await withPlatform({ $0.eventLoops = 1 }) { (server: TestServerHandle) async throws in
            let first = try await server.connectInitialized()
            let second = try await server.connectInitialized()
            _ = try await first.subscribe(sessionParams())
            _ = try await second.subscribe(sessionParams())
            let offsets = try await server.publishAccepted("[" + [sessionEvent("flow.entered"), sessionEvent("flow.exited")].joined(separator: ",") + "]")
            for socket in [first, second] {
                #expect(try await socket.nextEvents(2).compactMap { $0["offset"] as? Int } == offsets)
            }
        }
    }

    /// The index keeps "filtered or not" per subscription; merges can change it either way (SPEC §6.2).
    @Test func mergingTypeFiltersChangesWhatTheIndexDelivers() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let widened = try await server.connectInitialized()
            _ = try await widened.subscribe(sessionParams(types: #"["flow.entered"]"#), id: 1)
            try await server.publishAccepted("[" + [sessionEvent("processor.output"), sessionEvent("flow.entered")].joined(separator: ",") + "]")
            #expect((try await widened.nextEvent()["event"] as? [String: Any])?["type"] as? String == "flow.entered")
            #expect(try await widened.isSilent(for: .milliseconds(200)))

            // Every type absorbs the list: the subscription stops filtering.
            _ = try await widened.subscribe(sessionParams(), id: 2)
            try await server.publishAccepted(sessionEvent("processor.output"))
            #expect((try await widened.nextEvent()["event"] as? [String: Any])?["type"] as? String == "processor.output")

            // An unfiltered subscription merged with a list stays unfiltered.
            let everything = try await server.connectInitialized()
            _ = try await everything.subscribe(sessionParams(), id: 1)
            _ = try await everything.subscribe(sessionParams(types: #"["flow.entered"]"#), id: 2)
            try await server.publishAccepted(sessionEvent("flow.exited"))
            #expect((try await everything.nextEvent()["event"] as? [String: Any])?["type"] as? String == "flow.exited")
        }
    }
}

/// The pure parts of the rounds.
@Suite struct DeliveryRoundPartsTests {
    private func frame(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func aLoneFrameIsPassedThroughAndSeveralAreJoinedInOrder() {
        var batch = DeliveryBatch()
        #expect(batch.isEmpty && batch.take() == nil)
        let lone = frame("first")
        batch.append(lone, allocator: ByteBufferAllocator())
        #expect(batch.frames == 1)
        let taken = batch.take()
        #expect(taken == lone)
        #expect(batch.isEmpty && batch.take() == nil)

        for text in ["a", "bb", "ccc", "dddd"] { batch.append(frame(text), allocator: ByteBufferAllocator()) }
        #expect(batch.frames == 4)
        #expect(batch.take().map { String(buffer: $0) } == "abbcccdddd")
        #expect(batch.isEmpty)
    }

    @Test func pendingEventsStartOneRoundAndKeepItGoingWhileWorkRemains() {
        let pending = PendingEvents()
        let event = DispatchEvent(StoredEvent(offset: 1, id: "e", type: "t", createdAt: 0, keys: [], json: Array("{}".utf8)), committedAt: 0)
        #expect(pending.add([event]))            // idle: the caller starts a round
        #expect(!pending.add([event]))           // a round is due: no second one
        #expect(pending.take().count == 2)
        #expect(pending.finish(connectionsLeft: true) == .afterYield)  // connections still waiting
        #expect(pending.take().isEmpty)
        #expect(!pending.add([event]))           // arrives while that round runs
        #expect(pending.finish(connectionsLeft: false) == .now)  // ...so one more round follows at once
        #expect(pending.take().count == 1)
        #expect(!pending.add([event]))
        #expect(pending.finish(connectionsLeft: true) == .afterYield)  // waiting connections win
        #expect(pending.take().count == 1)
        #expect(pending.finish(connectionsLeft: false) == .idle) // nothing left
        #expect(pending.add([event]))
    }
}
