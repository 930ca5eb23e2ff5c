@testable import BlobHubRealtimeServer
@testable import BlobHubRealtimeHTTPAPI
@testable import BlobHubRealtimeServices
@testable import BlobHubRealtimeTransport
import BlobHubRealtimeProtocol
import NIOCore
import Foundation
import Synchronization
import Testing

/// Issue 7: garbage handshakes and fuzzed JSON-RPC over real sockets never take the node down nor
/// disturb another connection: a healthy subscriber keeps receiving every event throughout.
@Suite(.serialized) struct GarbageTests {
    @Test(.timeLimit(.minutes(1)))
    func garbageAndFuzzedMessagesNeverDisturbAHealthyClient() async throws {
        try await withPlatform { server in
            let healthy = try await server.connectInitialized()
            #expect(try await healthy.subscribe(sessionParams())["result"] != nil)

            // A publisher keeps events flowing for the whole attack.
            let stop = StopFlag()
            let publishing = Task {
                var offsets: [Int] = []
                var number = 0
                while !stop.isSet {
                    offsets += try await server.publishAccepted(sessionEvent("flow.exited", id: "healthy-\(number)"))
                    number += 1
                    try await Task.sleep(for: .milliseconds(20))
                }
                return offsets
            }
            let corpus = try Self.corpus()
            let outcomes = OutcomeTally()
            // GARBAGE_SEED=<n> replays the same attack plan; each fuzzed connection's seed is in its failure outcome
            // (replay one alone with GARBAGE_REPLAY_SEED=<seed> and the `replaysOneFuzzedConnection` test).
            let seed = Self.baseSeed()
            print("garbage seed: \(seed)")
            let attackDeadline = ContinuousClock.now + .seconds(8)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for attacker in 0..<8 {
                    group.addTask {
                        var generator = SplitMix64(seed: seed &+ UInt64(attacker) << 32)
                        var round: UInt64 = 0
                        while ContinuousClock.now < attackDeadline {
                            round += 1
                            let kind = (attacker + Int.random(in: 0..<4, using: &generator)) % 4
                            let outcome: String
                            switch kind {
                            case 0: outcome = "random bytes: " + (try await Self.randomBytes(port: server.port))
                            case 1: outcome = try await Self.truncatedHandshake(port: server.port, token: try await server.token())
                            case 2: outcome = "huge headers: " + (try await Self.hugeHeaders(port: server.port))
                            default:
                                let connectionSeed = seed &+ UInt64(attacker) << 32 &+ round
                                outcome = "fuzzed: " + (try await Self.fuzzedMessages(server: server, corpus: corpus, seed: connectionSeed))
                            }
                            outcomes.count(outcome)
                        }
                    }
                }
                try await group.waitForAll()
            }
            stop.set()
            let offsets = try await publishing.value

            // Every event published during the attack reached the healthy client, once, in order.
            let events = try await healthy.nextEvents(offsets.count, timeout: .seconds(10))
            #expect(events.compactMap { $0["offset"] as? Int } == offsets)
            #expect(try await healthy.isSilent(for: .milliseconds(300)))
            #expect(try await healthy.call(#"{"jsonrpc":"2.0","id":"after","method":"status/ping"}"#)["result"] != nil)
            #expect(try await server.http("GET", "/healthz").status == 200)
            let seen = outcomes.counts
            print("garbage outcomes: \(seen.sorted { $0.key < $1.key })")
            #expect(seen["fuzzed: internal error"] == nil, "\(seen)")
            // Every fuzzed connection is answered or closed with a protocol close code: never left unanswered.
            #expect(!seen.keys.contains { $0.hasPrefix("fuzzed: no answer") }, "\(seen)")
            // Unparsable first requests are answered (400/431) or dropped at once, not left to the 10 s handshake timeout.
            #expect(!seen.keys.contains { $0.hasSuffix("left open") }, "\(seen)")
            // The stream never stopped (the machine is shared, so the rate is not asserted: 9 events in the 8 s
            // were seen at a load average of 8.7 on 2 cores, against hundreds on a quiet machine).
            #expect(offsets.count >= 5)
        }
    }

    /// Regression (found by the test above): an unparsable first request was left open until the
    /// 10 s handshake timeout; it is answered 400 and closed at once.
    @Test(arguments: ["hello world\r\n\r\n", "GET /v1 HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", "\u{0}\u{1}\u{2}\r\n\r\n"])
    func unparsableFirstRequestIsAnswered400AndClosed(request: String) async throws {
        try await withTestServer { server in
            let socket = try await RawSocket.connect(port: server.port)
            try await socket.write(request)
            let head = try await socket.inbox.read("response", timeout: .seconds(2)) { HTTPResponseHead.parse(&$0) }
            #expect(head.status == 400)
            #expect(head.bodyJSON?["error"] != nil)
            try await socket.waitForEOF(timeout: .seconds(2))
        }
    }

    /// Regression: headers over NIO's 80 KiB limit get 431 and a closed connection, on /v1 and on plain HTTP routes.
    @Test(arguments: ["/v1", "/healthz"])
    func oversizedHeadersAreAnswered431AndClosed(path: String) async throws {
        try await withTestServer { server in
            let socket = try await RawSocket.connect(port: server.port)
            var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            for index in 0..<12 { request += "X-Filler-\(index): \(String(repeating: "x", count: 8192))\r\n" }
            try await socket.write(request + "\r\n")
            let head = try await socket.inbox.read("response", timeout: .seconds(2)) { HTTPResponseHead.parse(&$0) }
            #expect(head.status == 431)
            try await socket.waitForEOF(timeout: .seconds(2))
        }
    }

    /// Regression (found by StressTests): a peer that ends TCP without a close handshake, fully or
    /// only its sending side, was kept with its subscriptions until the ping timeout; it is dropped at once.
    @Test(arguments: [false, true])
    func peerThatDropsTCPIsForgottenAtOnce(halfClose: Bool) async throws {
        try await withPlatform { server in
            let socket = try await server.connectInitialized()
            #expect(try await socket.subscribe(sessionParams())["result"] != nil)
            #expect(await server.server.stats().objectValue?["connections"] == .integer(1))
            if halfClose {
                try await socket.socket.channel.close(mode: .output)
                try await socket.socket.waitForEOF(timeout: .seconds(2))
            } else {
                await socket.close()
            }
            let deadline = ContinuousClock.now + .seconds(2)
            var stats = await server.server.stats().objectValue
            while stats?["connections"] != .integer(0) || stats?["subscriptions"] != .integer(0), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                stats = await server.server.stats().objectValue
            }
            #expect(stats?["connections"] == .integer(0))
            #expect(stats?["subscriptions"] == .integer(0))
        }
    }

    /// The committed fuzz seed corpus (Fuzz/corpus/protocol).
    static var corpusDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz/corpus/protocol")
    }

    static func corpus() throws -> [[UInt8]] {
        let directory = corpusDirectory
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .sorted { $0.lastPathComponent < $1.lastPathComponent }  // seeds pick the same files everywhere
        let seeds = try files.map { [UInt8](try Data(contentsOf: $0)) }
        guard !seeds.isEmpty else { throw StressFailure("empty corpus at \(directory.path)") }
        return seeds
    }

    /// Bytes that are not HTTP at all; the node must drop the connection (or answer 400).
    static func randomBytes(port: Int) async throws -> String {
        let socket = try await RawSocket.connect(port: port)
        let bytes = (0..<Int.random(in: 1...4096)).map { _ in UInt8.random(in: 0...255) }
        try? await socket.write(bytes + [13, 10, 13, 10])
        return await closedOrAnswered(socket)
    }

    /// A valid upgrade request cut short; the peer then goes away.
    static func truncatedHandshake(port: Int, token: String) async throws -> String {
        let socket = try await RawSocket.connect(port: port)
        let request = "GET /v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer \(token)\r\n\r\n"
        let cut = Int.random(in: 1..<request.utf8.count)
        try? await socket.write(Array(request.utf8.prefix(cut)))
        try? await Task.sleep(for: .milliseconds(Int.random(in: 0...100)))
        await socket.close()
        return "truncated"
    }

    /// A request whose headers are far larger than any server should buffer.
    static func hugeHeaders(port: Int) async throws -> String {
        let socket = try await RawSocket.connect(port: port)
        let filler = String(repeating: "x", count: 8192)
        var request = "GET /v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        for index in 0..<Int.random(in: 12...64) { request += "X-Filler-\(index): \(filler)\r\n" }
        try? await socket.write(request + "\r\n")
        return await closedOrAnswered(socket)
    }

    /// The attack's base seed: `GARBAGE_SEED` when set, else a fresh one (printed by the test).
    static func baseSeed() -> UInt64 {
        ProcessInfo.processInfo.environment["GARBAGE_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
    }

    /// Replays one fuzzed connection from its seed (printed in a failure outcome), many times over.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["GARBAGE_REPLAY_SEED"] != nil), .timeLimit(.minutes(1)))
    func replaysOneFuzzedConnection() async throws {
        let seed = try #require(ProcessInfo.processInfo.environment["GARBAGE_REPLAY_SEED"].flatMap(UInt64.init))
        try await withPlatform { server in
            let corpus = try Self.corpus()
            for _ in 0..<20 {
                let outcome = try await Self.fuzzedMessages(server: server, corpus: corpus, seed: seed)
                print("replayed \(seed): \(outcome)")
                #expect(!outcome.hasPrefix("no answer") && outcome != "internal error", "\(outcome)")
            }
        }
    }

    /// An authenticated, initialized connection sends mutated corpus messages (all drawn from `seed`), then
    /// checks it is still answered (or was closed with a protocol close code, never 1011).
    ///
    /// Outcomes: "answered", "closed <code>", "internal error", "write failed", or "no answer: ..." telling an
    /// end of stream without a close frame from a silent open socket, with what was received and sent last.
    static func fuzzedMessages(server: TestServerHandle, corpus: [[UInt8]], seed: UInt64) async throws -> String {
        var generator = SplitMix64(seed: seed)
        let socket = try await server.connectInitialized()
        defer { Task { await socket.close() } }
        var lastSent = ""
        let count = Int.random(in: 5...40, using: &generator)
        for _ in 0..<count {
            var message = corpus.randomElement(using: &generator)!
            mutate(&message, corpus: corpus, using: &generator)
            // Mostly valid UTF-8, so most messages reach the JSON-RPC layer instead of closing with 1007.
            if Int.random(in: 0..<10, using: &generator) > 0 { message = Array(String(decoding: message, as: UTF8.self).utf8) }
            lastSent = String(decoding: message.prefix(120), as: UTF8.self)
            guard (try? await socket.sendRaw(ClientFrame.encode(opcode: 0x1, payload: message))) != nil else { return "write failed" }
        }
        let pingWritten = (try? await socket.send(#"{"jsonrpc":"2.0","id":"alive","method":"status/ping"}"#)) != nil
        let started = ContinuousClock.now
        let deadline = started + .seconds(10)
        var received = 0
        var lastFrame = "none"
        /// Why the ping looks unanswered, with what was received, left unread, and sent last.
        func noAnswer(_ what: String) async -> String {
            var unread: [ReceivedFrame] = []
            while let frame = try? await socket.nextFrame(timeout: .zero) { unread.append(frame) }
            let answerUnread = unread.contains { $0.opcode == 0x1 && $0.text.contains(#""id":"alive""#) }
            return "no answer: \(what) after \(started.duration(to: .now)), seed \(seed), \(count) messages, ping written: \(pingWritten), "
                + "\(received) frames received (last \(lastFrame)), \(unread.count) frames unread (the answer among them: \(answerUnread)), "
                + "last sent \(lastSent.debugDescription)"
        }
        while ContinuousClock.now < deadline {
            let frame: ReceivedFrame
            do {
                frame = try await socket.nextFrame(timeout: ContinuousClock.now.duration(to: deadline))
            } catch is ByteInbox.EndOfStream {
                return await noAnswer("end of stream without a close frame")
            } catch {
                return await noAnswer("\(error), socket \(socket.socket.inbox.isClosed ? "closed" : "open")")
            }
            received += 1
            lastFrame = "opcode \(frame.opcode): \(frame.text.prefix(80).debugDescription)"
            if frame.opcode == 0x8 {
                return frame.closeCode == 1011 ? "internal error" : "closed \(frame.closeCode.map(String.init) ?? "-")"
            }
            if frame.opcode == 0x1, frame.text.contains(#""id":"alive""#) { return "answered" }
            if frame.opcode == 0x1, frame.text.contains(#""code":500"#) { return "internal error" }
        }
        return await noAnswer("timed out, socket \(socket.socket.inbox.isClosed ? "closed" : "open")")
    }

    /// libFuzzer-style mutations: flip bytes, cut, splice with another seed, duplicate a slice.
    static func mutate(_ message: inout [UInt8], corpus: [[UInt8]]) {
        var generator = SystemRandomNumberGenerator()
        mutate(&message, corpus: corpus, using: &generator)
    }

    static func mutate<Generator: RandomNumberGenerator>(_ message: inout [UInt8], corpus: [[UInt8]], using generator: inout Generator) {
        for _ in 0..<Int.random(in: 1...4, using: &generator) where !message.isEmpty {
            let at = Int.random(in: 0..<message.count, using: &generator)
            switch Int.random(in: 0..<5, using: &generator) {
            case 0: message[at] ^= UInt8(1 << Int.random(in: 0..<8, using: &generator))
            case 1: message[at] = Array(#"{}[]":,0"\"#.utf8).randomElement(using: &generator)!
            case 2: message.removeSubrange(at...)
            case 3: message.insert(contentsOf: corpus.randomElement(using: &generator)!.prefix(Int.random(in: 0...64, using: &generator)), at: at)
            default: message.insert(contentsOf: message[at...].prefix(32), at: at)
            }
        }
    }

    /// Waits for the node to answer or close; a socket it leaves open would be a leak for the test to see.
    static func closedOrAnswered(_ socket: RawSocket) async -> String {
        defer { Task { await socket.close() } }
        if let head = try? await socket.inbox.read("response", timeout: .seconds(5), { HTTPResponseHead.parse(&$0) }) {
            return "HTTP \(head.status)"
        }
        return socket.inbox.isClosed ? "dropped" : "left open"
    }
}

/// A flag one task sets and others poll.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

/// How often each outcome happened, counted from many tasks.
final class OutcomeTally: Sendable {
    private let state = Mutex<[String: Int]>([:])
    var counts: [String: Int] { state.withLock { $0 } }
    func count(_ outcome: String) { state.withLock { $0[outcome, default: 0] += 1 } }
}
