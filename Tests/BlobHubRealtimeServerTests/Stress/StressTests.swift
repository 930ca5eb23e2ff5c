import Foundation
import Testing

/// Issue 7: many clients, several publishers, node restarts (SIGTERM and kill -9), exact invariants.
/// The node is a real child process on a SQLite file; everything runs on loopback within bounded time.
@Suite(.serialized) struct StressTests {
    static let clientCount = 100
    static let sessions = (1...6).map { "stress-session-\($0)" }
    static let churnSession = "stress-churn"

    /// Every client that resumed has every acknowledged event of its keys exactly once, in offset order.
    @Test(.timeLimit(.minutes(2)))
    func resumingClientsGetEveryAcknowledgedEventOnceAcrossRestarts() async throws {
        try await withTemporaryDirectory { directory in
            let node = try await StressNode(directory: directory)
            defer { node.stop() }
            try await node.seed()

            let clients = (0..<Self.clientCount).map { index in
                // Each client follows two of the six sessions (every pair occurs).
                let first = index % Self.sessions.count
                let second = (first + 1 + index / Self.sessions.count % (Self.sessions.count - 1)) % Self.sessions.count
                return ResumingClient(
                    name: "client-\(index)", port: node.port, token: node.token, revision: Fixture.revision,
                    sessions: [Self.sessions[first], Self.sessions[second]], churnSession: Self.churnSession
                )
            }
            let publishers = (0..<3).map {
                StressPublisher(name: "pub\($0)", port: node.port, revision: Fixture.revision, sessions: Self.sessions, events: 240)
            }
            let clientTasks = clients.map { client in Task { await client.run() } }
            defer { clientTasks.forEach { $0.cancel() } }
            try await waitFor("every client subscribed", timeout: .seconds(30)) { clients.allSatisfy(\.subscribedOnce) }

            let publishDeadline = ContinuousClock.now + .seconds(60)
            let publishing = publishers.map { publisher in
                Task { try await publisher.run(pause: .milliseconds(25), deadline: publishDeadline) }
            }

            // Mid-run: a graceful restart, then a crash.
            try await Task.sleep(for: .seconds(2))
            let drained = try await node.restart(with: SIGTERM)
            #expect(drained == 0)
            try await waitFor("every client resumed after the drain", timeout: .seconds(30)) { clients.allSatisfy { $0.connections >= 2 } }
            try await Task.sleep(for: .seconds(1))
            try await node.restart(with: SIGKILL)

            for task in publishing { try await task.value }
            let acks = publishers.flatMap(\.acks)
            #expect(acks.count == 720)
            #expect(Set(acks.map(\.offset)).count == acks.count, "two acknowledged events share an offset")
            var expected: [String: [ResumingClient.Delivery]] = [:]
            for ack in acks.sorted(by: { $0.offset < $1.offset }) {
                expected[ack.session, default: []].append(.init(offset: ack.offset, id: ack.id))
            }

            func caughtUp(_ client: ResumingClient) -> Bool {
                let received = client.received
                return client.sessions.allSatisfy { (received[$0]?.count ?? 0) >= (expected[$0]?.count ?? 0) }
            }
            try? await waitFor("every client caught up", timeout: .seconds(30)) { clients.allSatisfy { $0.connections >= 3 && caughtUp($0) } }
            // A short quiet period: anything still arriving now would be a duplicate.
            try await Task.sleep(for: .milliseconds(500))
            clients.forEach { $0.stop() }
            for task in clientTasks { await task.value }

            for client in clients {
                #expect(client.violations.isEmpty, "\(client.violations.prefix(5))")
                #expect(client.connections >= 3, "\(client.name) connected \(client.connections) times: it did not resume after both restarts")
                let received = client.received
                for session in client.sessions {
                    let got = received[session] ?? []
                    let want = expected[session] ?? []
                    #expect(got == want, "\(client.name) \(session): \(got.count) received, \(want.count) acknowledged; first difference at \(zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(got.count, want.count))")
                }
            }
            try await node.waitUntilIdle()
            let retried = publishers.map(\.retried).reduce(0, +)
            print("stress: \(Self.clientCount) clients, \(acks.count) events, \(retried) publish retries, \(clients.map(\.connections).reduce(0, +)) connections")
        }
    }

    /// After clients leave: sockets return to the baseline, other descriptors and RSS stop growing
    /// (a second identical round costs no more than the first), and the node counts nothing open.
    @Test(.timeLimit(.minutes(2)))
    func connectionRoundsLeakNoDescriptorsNorMemory() async throws {
        try await withTemporaryDirectory { directory in
            let node = try await StressNode(directory: directory)
            defer { node.stop() }
            try await node.seed()
            let probe = ProcessProbe(pid: node.pid)
            let publisher = StressPublisher(name: "warm", port: node.port, revision: Fixture.revision, sessions: Self.sessions, events: 50)
            try await publisher.run(pause: .zero, deadline: ContinuousClock.now + .seconds(20))
            let baselineSockets = try await probe.settledSocketCount()

            var measurements: [(sockets: Int, others: Int, rss: Int)] = []
            // Round 0 warms the allocator, the SQLite reader pool and the event loops; rounds 1 and 2 are compared.
            for round in 0..<3 {
                try await connectionRound(node: node, clients: 150, round: round)
                try await node.waitUntilIdle()
                // The node counts a connection gone before the socket is closed; give the loops a moment.
                try await waitFor("sockets back to \(baselineSockets)", timeout: .seconds(10)) {
                    (try? probe.descriptors().sockets) == baselineSockets
                }
                let descriptors = try probe.descriptors()
                measurements.append((descriptors.sockets, descriptors.others, try probe.residentKiB()))
            }
            print("stress rounds (sockets, other fds, RSS KiB): \(measurements)")
            #expect(measurements.allSatisfy { $0.sockets == baselineSockets })
            #expect(measurements[2].others <= measurements[1].others, "descriptors grew: \(measurements)")
            // glibc keeps freed pages, so RSS need not drop; it must not grow by more than 10% (and 4 MiB) per round.
            let tolerance = max(4096, measurements[1].rss / 10)
            #expect(measurements[2].rss <= measurements[1].rss + tolerance, "RSS grew: \(measurements)")
        }
    }

    /// `clients` sockets connect, initialize, subscribe with a replay, receive one live event each and leave.
    private func connectionRound(node: StressNode, clients: Int, round: Int) async throws {
        let token = node.token
        let sockets = try await withThrowingTaskGroup(of: (Int, TestWebSocket).self) { group in
            for index in 0..<clients {
                group.addTask {
                    let socket = try await TestWebSocket.connect(port: node.port, headers: [("Authorization", "Bearer \(token)")])
                    _ = try await socket.initialize()
                    let session = Self.sessions[index % Self.sessions.count]
                    let answer = try await socket.subscribe(sessionParams(session: session, extra: #","since":0"#))
                    guard answer["result"] != nil else { throw StressFailure("add: \(answer)") }
                    return (index, socket)
                }
            }
            // Completion order is arbitrary; socket i follows session i % 6.
            return try await group.reduce(into: []) { $0.append($1) }.sorted { $0.0 < $1.0 }.map(\.1)
        }
        let live = StressPublisher(name: "round\(round)", port: node.port, revision: Fixture.revision, sessions: Self.sessions, events: 12)
        try await live.run(pause: .zero, deadline: ContinuousClock.now + .seconds(20))
        // Drain what each socket was sent (replay plus live events) until the newest offset shows up.
        let sessionNewest = Dictionary(grouping: live.acks, by: \.session).mapValues { $0.map(\.offset).max() ?? 0 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, socket) in sockets.enumerated() {
                let target = sessionNewest[Self.sessions[index % Self.sessions.count]] ?? 0
                group.addTask {
                    var seen: [Int] = []
                    while target > 0 {
                        do {
                            let event = try await socket.nextEvent(timeout: .seconds(10))
                            seen.append(event["offset"] as? Int ?? -1)
                        } catch {
                            throw StressFailure("socket \(index) (session \(index % Self.sessions.count)) waited for offset \(target), got \(seen): \(error)")
                        }
                        if seen.last! >= target { break }
                    }
                    await socket.close()
                }
            }
            try await group.waitForAll()
        }
    }
}

/// Polls `condition` every 50 ms until it holds; throws after `timeout`.
func waitFor(_ what: String, timeout: Duration, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw ByteInbox.Timeout(what: what) }
        try await Task.sleep(for: .milliseconds(50))
    }
}
