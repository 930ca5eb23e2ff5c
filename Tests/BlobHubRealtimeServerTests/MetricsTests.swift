@testable import BlobHubRealtimeServer
@testable import BlobHubRealtimeHTTPAPI
@testable import BlobHubRealtimeServices
@testable import BlobHubRealtimeTransport
import BlobHubRealtimeProtocol
import Foundation
import NIOCore
import Testing

/// `GET /metrics`: Prometheus text scraped over HTTP and parsed; values follow real connections,
/// subscriptions, publishes and closes. Every test server has its own registry.
@Suite struct MetricsTests {
    typealias Name = ServerMetrics.Name

    @Test func exposesEveryMetricInPrometheusTextFormat() async throws {
        try await withPlatform(seed: false) { (server: TestServerHandle) async throws in
            let response = try await server.http("GET", "/metrics")
            #expect(response.status == 200)
            #expect(response.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let scrape = try MetricsScrape.parse(response.bodyText)
            #expect(scrape[Name.connections] == 0)
            #expect(scrape[Name.subscriptions] == 0)
            for outcome in HandshakeOutcome.allCases { #expect(scrape[Name.handshakes, [("outcome", outcome.rawValue)]] == 0) }
            for code in CloseCode.allCases { #expect(scrape[Name.closes, [("code", String(code.rawValue))]] == 0) }
            for drop in ConnectionDrop.allCases { #expect(scrape[Name.closes, [("code", drop.rawValue)]] == 0) }
            for name in [Name.eventsPublished, Name.eventsDelivered, Name.eventsReplayed, Name.queueOverflows] {
                #expect(scrape[name] == 0, "\(name)")
            }
            #expect(scrape[Name.deliveryLatency + "_count"] == 0)
            #expect(scrape.value(Name.storeLatency + "_count", [("operation", "append")]) != nil)
            #expect(response.bodyText.contains("# TYPE \(Name.deliveryLatency) histogram"))
        }
    }

    @Test func connectionsHandshakesSubscriptionsAndClosesMove() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let first = try await server.connectInitialized()
            let second = try await server.connectInitialized()
            let (refused, head) = try await TestWebSocket.handshake(port: server.port, headers: [("Authorization", "Bearer not-a-token")])
            #expect(head.status == 401)
            await refused.close()
            let (missing, missingHead) = try await TestWebSocket.handshake(port: server.port, path: "/elsewhere", headers: [])
            #expect(missingHead.status == 404)
            await missing.close()
            _ = try await first.subscribe(sessionParams())
            _ = try await second.subscribe(sessionParams())
            _ = try await second.subscribe(sessionParams(session: "other-session"), id: 101)

            let open = try await server.scrapeMetrics()
            #expect(open[Name.connections] == 2)
            #expect(open[Name.subscriptions] == 3)
            #expect(open[Name.handshakes, [("outcome", "accepted")]] == 2)
            #expect(open[Name.handshakes, [("outcome", "unauthorized")]] == 1)
            #expect(open[Name.handshakes, [("outcome", "not_found")]] == 1)

            // The client closes (answered 1000); the server closes the other one (4008 is not at play: use a close by the client).
            try await first.sendRaw(ClientFrame.encode(opcode: 0x8, payload: [0x03, 0xE8]))
            #expect(try await first.expectClose() == 1000)
            let afterClose = try await server.scrapeMetrics(until: { $0[Name.connections] == 1 && $0[Name.subscriptions] == 2 })
            #expect(afterClose[Name.connections] == 1)
            #expect(afterClose[Name.subscriptions] == 2)
            #expect(afterClose[Name.closes, [("code", "1000")]] == 1)

            // A binary frame makes the server close with 1003.
            try await second.sendRaw(ClientFrame.encode(opcode: 0x2, payload: [1, 2, 3]))
            #expect(try await second.expectClose() == 1003)
            try await second.socket.waitForEOF()
            let end = try await server.scrapeMetrics(until: { $0[Name.connections] == 0 })
            #expect(end[Name.connections] == 0)
            #expect(end[Name.subscriptions] == 0)
            #expect(end[Name.closes, [("code", "1003")]] == 1)
            #expect(end[Name.closes, [("code", "1001")]] == 0)
        }
    }

    /// `--max-connections`: the refused upgrade (503) is counted as `unavailable`, the open one as accepted.
    @Test func fullNodeRefusalsAreCountedAsUnavailable() async throws {
        try await withTestServer({ $0.maxConnections = 1 }) { (server: TestServerHandle) async throws in
            let open = try await server.connect()
            let (refused, head) = try await TestWebSocket.handshake(port: server.port, headers: [("Authorization", "Bearer \(try await server.token())")])
            #expect(head.status == 503)
            #expect(head.header("Retry-After") == "1")
            await refused.close()
            let scrape = try await server.scrapeMetrics()
            #expect(scrape[Name.handshakes, [("outcome", "accepted")]] == 1)
            #expect(scrape[Name.handshakes, [("outcome", "unavailable")]] == 1)
            #expect(scrape[Name.connections] == 1)
            await open.close()
        }
    }

    @Test func eventsPublishedDeliveredReplayedAndLatencies() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let first = try await server.connectInitialized()
            let second = try await server.connectInitialized()
            _ = try await first.subscribe(sessionParams())
            _ = try await second.subscribe(sessionParams())
            // Seeding the registry already published core events: compare against a baseline.
            let before = try await server.scrapeMetrics()

            let batch = (1...3).map { sessionEvent("processor.output", id: "m-\($0)", execution: "e-1") }
            let offsets = try await server.publishAccepted("[" + batch.joined(separator: ",") + "]")
            #expect(offsets.count == 3)
            _ = try await first.nextEvents(3)
            _ = try await second.nextEvents(3)
            let after = try await server.scrapeMetrics(until: { $0[Name.eventsDelivered] - before[Name.eventsDelivered] == 6 })
            #expect(after[Name.eventsPublished] - before[Name.eventsPublished] == 3)
            #expect(after[Name.eventsDelivered] - before[Name.eventsDelivered] == 6)
            // One latency sample per event per event loop that delivered it, never one per recipient.
            let samples = after[Name.deliveryLatency + "_count"] - before[Name.deliveryLatency + "_count"]
            #expect(samples >= 3 && samples <= 6, "\(samples)")
            #expect(after[Name.deliveryLatency + "_sum"] > before[Name.deliveryLatency + "_sum"])
            #expect(after[Name.storeLatency + "_count", [("operation", "append")]] > before[Name.storeLatency + "_count", [("operation", "append")]])
            #expect(after[Name.storeLatency + "_count", [("operation", "persist")]] >= 1)

            // A republished id stores nothing new: published does not move.
            _ = try await server.publishAccepted(sessionEvent("processor.output", id: "m-1", execution: "e-1"))
            let republished = try await server.scrapeMetrics()
            #expect(republished[Name.eventsPublished] == after[Name.eventsPublished])

            // A resuming client gets the three again as a replay.
            let third = try await server.connectInitialized()
            let added = try await third.subscribe(sessionParams(extra: #","since":0"#))
            #expect((added["result"] as? [String: Any])?["recovered"] as? Bool == true)
            _ = try await third.nextEvents(3)
            let replayed = try await server.scrapeMetrics(until: { $0[Name.eventsReplayed] == 3 })
            #expect(replayed[Name.eventsReplayed] == 3)
            #expect(replayed[Name.storeLatency + "_count", [("operation", "events_by_key")]] >= 1)
            #expect(replayed[Name.eventsDelivered] == after[Name.eventsDelivered], "replays are counted apart from live deliveries")
        }
    }

    /// `--send-queue-limit`: a reader that stalls is closed with 4013, counted as a queue overflow,
    /// and the close frame reaches it once it reads again.
    @Test func sendQueueOverflowClosesWith4013AndIsCounted() async throws {
        try await withPlatform({ $0.sendQueueLimit = 8; $0.socketSendBufferBytes = 4096 }) { (server: TestServerHandle) async throws in
            let slow = try await server.connectInitialized()
            _ = try await slow.subscribe(sessionParams())
            try await slow.socket.channel.setOption(ChannelOptions.autoRead, value: false).get()
            try await slow.socket.channel.setOption(ChannelOptions.socketOption(.so_rcvbuf), value: 4096).get()
            // Publish 50 KB rounds until the queue overflows (read in-process: no HTTP round trip), so the
            // reader resumes well within the server's 2 s close grace.
            let payload = String(repeating: "x", count: 10_000)
            func overflows() throws -> Double {
                try MetricsScrape.parse(String(decoding: server.server.metrics.exposition(), as: UTF8.self))[Name.queueOverflows]
            }
            var round = 0
            while try overflows() == 0, round < 40 {
                let batch = (0..<5).map { _ in sessionEvent("processor.output", id: "q-\(round)-\(UUID())", extra: #""data":"\#(payload)""#) }
                try await server.publishAccepted("[" + batch.joined(separator: ",") + "]")
                round += 1
                for _ in 0..<10 where try overflows() == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(try overflows() == 1, "no overflow after \(round) rounds")
            // Reading again at once (within the 2 s close grace) drains what was in flight, then the close frame.
            // A roomy receive buffer first: with the tiny one, the reopening TCP window crawls (zero-window probes).
            try await slow.socket.channel.setOption(ChannelOptions.socketOption(.so_rcvbuf), value: 1 << 20).get()
            try await slow.socket.channel.setOption(ChannelOptions.autoRead, value: true).get()
            var frames = 0
            var code: UInt16?
            do {
                while code == nil {
                    let frame = try await slow.nextFrame(timeout: .seconds(5))
                    frames += 1
                    if frame.opcode == 0x8 { code = frame.closeCode }
                }
            } catch {
                // Under a loaded parallel run the reader may miss the server's 2 s close grace and see only EOF;
                // the close frame reaching a client is covered by ClientLibraryTests (disconnected(4013)).
            }
            #expect(code == nil || code == 4013, "close \(String(describing: code)) after \(frames) frames")
            let scrape = try await server.scrapeMetrics(until: { $0[Name.queueOverflows] == 1 })
            #expect(scrape[Name.queueOverflows] == 1)
            #expect(scrape[Name.closes, [("code", "4013")]] == 1)
        }
    }

    /// A peer that answers no ping is hung up on without a close frame: counted as `code="ping_timeout"`.
    @Test func pingTimeoutIsCountedAsAClose() async throws {
        // Roomy enough for the handshake and initialize to finish before the first ping on a loaded machine.
        try await withTestServer({ $0.pingInterval = .seconds(1); $0.pingTimeout = .milliseconds(500) }) { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            #expect(try await socket.nextFrame().opcode == 0x9)
            // Answer nothing: the server hangs up after the ping timeout.
            try await socket.socket.waitForEOF(timeout: .seconds(5))
            let scrape = try await server.scrapeMetrics(until: { $0[Name.closes, [("code", "ping_timeout")]] == 1 })
            #expect(scrape[Name.closes, [("code", "ping_timeout")]] == 1)
            #expect(scrape[Name.closes, [("code", "connection_lost")]] == 0)
            for code in CloseCode.allCases { #expect(scrape[Name.closes, [("code", String(code.rawValue))]] == 0, "\(code)") }
            #expect(scrape[Name.connections] == 0)
        }
    }

    /// A peer that ends TCP without a closing handshake, fully or only its sending side, is counted as
    /// `code="connection_lost"`; one that closes properly is counted once, by the code of the close frame.
    @Test func connectionsDroppedWithoutACloseFrameAreCounted() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let reset = try await server.connectInitialized()
            await reset.close()
            let halfClosed = try await server.connectInitialized()
            try await halfClosed.socket.channel.close(mode: .output)
            try await halfClosed.socket.waitForEOF()
            let polite = try await server.connectInitialized()
            try await polite.sendRaw(ClientFrame.encode(opcode: 0x8, payload: [0x03, 0xE8]))
            #expect(try await polite.expectClose() == 1000)
            try await polite.socket.waitForEOF()
            // Seen once in a loaded full-suite run: connection_lost 1 of 2 after the scrape bound. Every close series
            // goes into the message, to tell a late count from one counted under another code.
            let scrape = try await server.scrapeMetrics(until: { $0[Name.connections] == 0 && $0[Name.closes, [("code", "connection_lost")]] == 2 },
                                                        timeout: .seconds(15))
            #expect(scrape[Name.closes, [("code", "connection_lost")]] == 2, "\(scrape.describe(Name.closes)); connections \(scrape[Name.connections])")
            #expect(scrape[Name.closes, [("code", "1000")]] == 1)
            #expect(scrape[Name.closes, [("code", "ping_timeout")]] == 0)
            #expect(scrape[Name.handshakes, [("outcome", "accepted")]] == 3)
        }
    }

    /// A TCP peer that never finishes its first request is dropped by the handshake timeout, counted as
    /// `outcome="timeout"`; completed requests (the scrapes themselves) are not.
    @Test func handshakeTimeoutIsCounted() async throws {
        // Not shorter: every connection of the test (scrapes, the upgrade below) must also finish its first
        // request within it, on a loaded CI machine (300 ms failed there once).
        try await withTestServer({ $0.handshakeTimeout = .seconds(2) }) { (server: TestServerHandle) async throws in
            let silent = try await RawSocket.connect(port: server.port)
            let slow = try await RawSocket.connect(port: server.port)
            try await slow.write("GET /v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
            try await silent.waitForEOF(timeout: .seconds(10))
            try await slow.waitForEOF(timeout: .seconds(10))
            let scrape = try await server.scrapeMetrics(until: { $0[Name.handshakes, [("outcome", "timeout")]] == 2 })
            #expect(scrape[Name.handshakes, [("outcome", "timeout")]] == 2)
            for outcome in HandshakeOutcome.allCases where outcome != .timeout {
                #expect(scrape[Name.handshakes, [("outcome", outcome.rawValue)]] == 0, "\(outcome)")
            }
            // A connection whose upgrade completes in time is not a timeout, however long it then stays open.
            let open = try await server.connectInitialized()
            try await Task.sleep(for: .milliseconds(2500))
            #expect(try await open.call(#"{"jsonrpc":"2.0","id":"still","method":"status/ping"}"#)["result"] != nil)
            let later = try await server.scrapeMetrics()
            #expect(later[Name.handshakes, [("outcome", "timeout")]] == 2)
            #expect(later[Name.handshakes, [("outcome", "accepted")]] == 1)
            await open.close()
        }
    }
}
