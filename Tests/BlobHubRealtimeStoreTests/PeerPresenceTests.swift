import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
@testable import BlobHubRealtimeStore

@Suite struct PeerPresenceTests {
    @Test("present while the last heartbeat counted a live peer, or within the window after hearing one")
    func window() {
        let presence = PeerPresence(window: .seconds(10))
        let start = ContinuousClock.now
        #expect(!presence.isPresent(at: start))
        presence.heard(at: start)
        #expect(presence.isPresent(at: start + .seconds(9)))
        #expect(!presence.isPresent(at: start + .seconds(10)))
        presence.heartbeat(livePeers: 2)
        #expect(presence.isPresent(at: start + .seconds(60)))
        presence.heartbeat(livePeers: 0)
        #expect(!presence.isPresent(at: start + .seconds(60)))
    }

    @Test("the sender of a notification: another node's commit or start; not this node, not registry changes")
    func senders() {
        #expect(PostgresListener.otherSender(of: "e:10:other", node: "self") == "other")
        #expect(PostgresListener.otherSender(of: "n:other", node: "self") == "other")
        #expect(PostgresListener.otherSender(of: "e:10:self", node: "self") == nil)
        #expect(PostgresListener.otherSender(of: "n:self", node: "self") == nil)
        #expect(PostgresListener.otherSender(of: "r:4", node: "self") == nil)
        #expect(PostgresListener.otherSender(of: "n:", node: "self") == nil)
        #expect(PostgresListener.otherSender(of: "", node: "self") == nil)
        #expect(PostgresListener.commitPayload(offset: 7, node: "abc") == "e:7:abc")
        // A start announcement has nothing to read: it does not wake the tailer.
        #expect(!PostgresListener.wakes(for: PostgresListener.startPayload(node: "other"), node: "self", delivered: 0))
    }
}

/// Commit notifications are sent only while another node shares the database (``PeerPresence``).
@Suite("PostgreSQL commit notifications", .serialized,
       .enabled(if: PostgresTestDatabase.isConfigured, Comment(rawValue: PostgresTestDatabase.skipMessage)))
struct CommitNotificationTests {
    /// Every payload on the store's channel, from a LISTEN of the test's own.
    final class ChannelRecorder: Sendable {
        let payloads = Mutex<[String]>([])
        let listening = Mutex(false)
        private let task = Mutex<Task<Void, Never>?>(nil)

        func start(url: String) async throws {
            let configuration = try PostgresStore.listenerConfiguration(try PostgresSettings.parse(url))
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: PostgresTestDatabase.logger)
            task.withLock {
                $0 = Task {
                    try? await connection.listen(on: PostgresListener.channel) { notifications in
                        self.listening.withLock { $0 = true }
                        for try await notification in notifications { self.payloads.withLock { $0.append(notification.payload) } }
                    }
                    try? await connection.close()
                }
            }
            try await waitUntil { self.listening.withLock { $0 } }
        }

        func stop() {
            task.withLock { $0?.cancel() }
        }

        var all: [String] { payloads.withLock { $0 } }
    }

    /// No heartbeat after the one at open: only the start announcement can tell a node that another one started.
    static var noHeartbeats: PostgresStore.Timeouts {
        var timeouts = PostgresTestDatabase.testTimeouts
        timeouts.liveness = NodeLiveness(heartbeat: .seconds(3600), staleAfter: .seconds(3600), forgetAfter: .seconds(7200))
        return timeouts
    }

    @Test("a node alone announces no commits; a node that starts announces itself, and from then on the first announces every commit")
    func onlyWithPeers() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let recorder = ChannelRecorder()
            try await recorder.start(url: url)
            defer { recorder.stop() }
            let a = try await PostgresTestDatabase.open(url, timeouts: Self.noHeartbeats)
            try await waitUntil { recorder.all.contains("n:\(a.nodeID)") }
            #expect(!a.peers.isPresent())
            for index in 1...5 { _ = try await a.append([newEvent("alone\(index)")]) }
            // A notification follows its commit within milliseconds; none came.
            try await Task.sleep(for: .milliseconds(500))
            #expect(recorder.all.filter { $0.hasPrefix("e:") }.isEmpty)

            let b = try await PostgresTestDatabase.open(url, timeouts: Self.noHeartbeats)
            try await waitUntil { a.peers.isPresent() }
            let stored = try await a.append([newEvent("with a peer")])
            try await waitUntil { recorder.all.contains("e:\(stored[0].offset):\(a.nodeID)") }
            // B knew of A from its first heartbeat (A's row was live): its commits are announced too.
            #expect(b.peers.isPresent())
            let fromB = try await b.append([newEvent("from b")])
            try await waitUntil { recorder.all.contains("e:\(fromB[0].offset):\(b.nodeID)") }
            try await b.close()
            try await a.close()
        }
    }

    /// Schema version 4 adds the tailer round that announces (`blobhub_tail_v4`); a database of version 3 gets it.
    @Test("a database of schema version 3 is migrated to the current version, and commits are announced by the tailer's rounds")
    func migratesFromVersion3() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            try await PostgresTestDatabase.createRecorded(version: 3, undoing: [
                "DROP FUNCTION blobhub_tail_v4(bigint, bigint, text[], integer, text)",
            ], url: url)
            let recorder = ChannelRecorder()
            try await recorder.start(url: url)
            defer { recorder.stop() }
            let a = try await PostgresTestDatabase.open(url, timeouts: Self.noHeartbeats)
            #expect(try await PostgresTestDatabase.recordedVersion(url) == [String(PostgresSchema.currentVersion)])
            let b = try await PostgresTestDatabase.open(url, timeouts: Self.noHeartbeats)
            try await waitUntil { a.peers.isPresent() }
            var offsets: [Int64] = []
            for index in 1...3 { offsets.append(try await a.append([newEvent("announced\(index)")])[0].offset) }
            // Commits between two rounds are announced once, with the highest offset: the last one always is.
            try await waitUntil { recorder.all.contains("e:\(offsets.last!):\(a.nodeID)") }
            try await b.close()
            try await a.close()
        }
    }

    /// A busy node is woken far more often than it needs rounds; rounds start at least
    /// ``PostgresTailer/minimumRoundInterval`` apart whatever the wakes.
    @Test("a flood of wakes: the tailer's rounds stay at least the minimum interval apart")
    func roundsAreCoalesced() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let store = try await PostgresTestDatabase.open(url)
            let before = store.tailer.rounds
            let start = ContinuousClock.now
            for _ in 0..<2_000 {
                store.tailer.wake.signal()
                try await Task.sleep(for: .microseconds(100))
            }
            let elapsed = ContinuousClock.now - start
            let rounds = store.tailer.rounds - before
            // One round per interval, plus the one running when the flood began and the one it started at its end.
            let bound = Int(elapsed / PostgresTailer.minimumRoundInterval) + 2
            #expect(rounds <= bound, "\(rounds) rounds in \(elapsed)")
            #expect(rounds >= 2, "the wakes started rounds")
            try await store.close()
        }
    }

    /// A node whose rounds read several events each (a busy cluster) starts the next at least
    /// ``PostgresTailer/busyRoundInterval`` later; woken by every announcement of the other node, it would start
    /// one every ``PostgresTailer/minimumRoundInterval``. Slower rounds deliver the same events, in order.
    @Test("a busy tailer: rounds that read several events start at least the busy interval apart, and miss nothing")
    func busyRoundsAreFurtherApart() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let writer = try await PostgresTestDatabase.open(url, timeouts: Self.noHeartbeats)
            let reader = try await PostgresTestDatabase.open(url, timeouts: Self.noHeartbeats)
            // The writer announces its commits (each announcement wakes the reader) once it knows of the reader.
            try await waitUntil { writer.peers.isPresent() }
            let received = Mutex<[Int64]>([])
            reader.setCommitObserver { events in received.withLock { $0.append(contentsOf: events.map(\.offset)) } }
            let before = reader.tailer.rounds
            let start = ContinuousClock.now
            var appended: [Int64] = []
            while ContinuousClock.now - start < .seconds(1) {
                let batch = (0..<4).map { _ in newEvent("busy\(appended.count)-\(UUID().uuidString)") }
                appended += try await writer.append(batch).map(\.offset)
                try await Task.sleep(for: .milliseconds(1))
            }
            let rounds = reader.tailer.rounds - before
            let afterBusy = reader.tailer.afterBusyRounds
            #expect(afterBusy.count >= 10, "the reader's rounds were busy: \(afterBusy.count) of \(rounds) followed a busy one")
            let gap = try #require(afterBusy.shortestGap)
            #expect(gap >= PostgresTailer.busyRoundInterval, "a round started \(gap) after a busy one")
            try await waitUntil { received.withLock { $0.count } >= appended.count }
            #expect(received.withLock { $0 } == appended, "every event once, in offset order")
            try await reader.close()
            try await writer.close()
        }
    }

    @Test("the heartbeat counts other live rows, not stale ones: a node starts and stops announcing with them")
    func heartbeatCountsLiveRows() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let store = try await PostgresTestDatabase.open(url, timeouts: PostgresNodeListTests.quick)
            #expect(!store.peers.isPresent())
            // A row that stopped heartbeating long ago (beyond the stale bound) is no peer.
            try await PostgresTestDatabase.execute(["""
                INSERT INTO blobhub_nodes VALUES ('old00000', 'gone:1', 0, (extract(epoch FROM clock_timestamp()) * 1000)::bigint - 60000, 0, 0, 0, false)
                """], url: url)
            try await Task.sleep(for: .milliseconds(750))  // three heartbeats
            #expect(!store.peers.isPresent())
            // A live row (written by hand, so no start announcement) is one, from the next heartbeat on.
            try await PostgresTestDatabase.execute(["""
                INSERT INTO blobhub_nodes VALUES ('live0000', 'here:1', 0, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 0, 0, 0, false)
                """], url: url)
            try await waitUntil { store.peers.isPresent() }
            try await PostgresTestDatabase.execute(["DELETE FROM blobhub_nodes WHERE node_id = 'live0000'"], url: url)
            try await waitUntil { !store.peers.isPresent() }
            try await store.close()
        }
    }
}
