import Foundation
import Testing
@testable import BlobHubRealtimeStore

/// `nodes()`: every store lists the node it runs in; PostgreSQL lists every node heartbeating on the database.
@Suite("Node list")
struct NodeListTests {
    @Test("a store lists its own node with the provider's figures, delivered through the head", arguments: StoreKind.allCases)
    func ownNode(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            store.setNodeStatusProvider { NodeStatus(address: "node-a:8080", connections: 3, subscriptions: 5) }
            _ = try await store.append([newEvent("a"), newEvent("b")])
            let list = await store.nodes()
            #expect(list.error == nil)
            #expect(list.stale.isEmpty)
            #expect(list.live.map(\.id) == [store.nodeID])
            let own = try #require(list.live.first)
            #expect(own.address == "node-a:8080")
            #expect(own.connections == 3)
            #expect(own.subscriptions == 5)
            #expect(own.draining == false)
            #expect(list.headOffset == 2)
            #expect(own.delivered == 2)
            #expect(own.startedAtMs <= own.heartbeatAtMs && own.heartbeatAtMs <= list.nowMs)
            #expect(list.nowMs - own.heartbeatAtMs < 5_000)
        }
    }

    @Test("node ids are new for every store instance")
    func freshIDs() throws {
        let ids = Set((0..<20).map { _ in MemoryStore().nodeID })
        #expect(ids.count == 20)
        #expect(ids.allSatisfy { $0.count == 8 })
    }

    @Test("a closed single-node store still names itself and says why the list is partial")
    func closedSingleNode() async throws {
        let store = MemoryStore()
        try await store.close()
        let list = await store.nodes()
        #expect(list.live.map(\.id) == [store.nodeID])
        #expect(list.error != nil)
    }
}

@Suite("PostgreSQL node list", .serialized, .enabled(if: PostgresTestDatabase.isConfigured, Comment(rawValue: PostgresTestDatabase.skipMessage)))
struct PostgresNodeListTests {
    /// Quick bounds: heartbeat 250 ms, stale after 3 s, forgotten after 6 s (the bounds leave room for a loaded
    /// machine: the full suite runs these next to hundreds of other tests; serialized for the same reason).
    static var quick: PostgresStore.Timeouts {
        var timeouts = PostgresTestDatabase.testTimeouts
        timeouts.liveness = NodeLiveness(heartbeat: .milliseconds(250), staleAfter: .seconds(3), forgetAfter: .seconds(6))
        return timeouts
    }

    @Test("two stores on one database list each other; a store's figures reach the other within a heartbeat; close deletes the row")
    func twoNodes() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let a = try await PostgresTestDatabase.open(url, timeouts: Self.quick)
            let b = try await PostgresTestDatabase.open(url, timeouts: Self.quick)
            a.setNodeStatusProvider { NodeStatus(address: "a:1", connections: 1, subscriptions: 2) }
            b.setNodeStatusProvider { NodeStatus(address: "b:2", connections: 7, subscriptions: 9, draining: true) }
            #expect(a.nodeID != b.nodeID)
            let expected = [a.nodeID, b.nodeID].sorted()
            let seenFromA = try await eventually { let list = await a.nodes(); return list.live.first { $0.id == b.nodeID }?.connections == 7 ? list : nil }
            #expect(seenFromA.live.map(\.id) == expected)
            let bOnA = try #require(seenFromA.live.first { $0.id == b.nodeID })
            #expect(bOnA.address == "b:2" && bOnA.subscriptions == 9 && bOnA.draining)
            #expect(seenFromA.nowMs - bOnA.heartbeatAtMs < 3000)
            let seenFromB = try await eventually { let list = await b.nodes(); return list.live.first { $0.id == a.nodeID }?.address == "a:1" ? list : nil }
            #expect(seenFromB.live.map(\.id) == expected)

            // Lag: events appended on A reach B's fan-out, and B's row says so within a heartbeat.
            _ = try await a.append((1...5).map { newEvent("e\($0)") })
            let caughtUp = try await eventually { let list = await a.nodes(); return list.live.allSatisfy { $0.delivered == 5 } ? list : nil }
            #expect(caughtUp.headOffset == 5)

            try await b.close()
            let afterClose = await a.nodes()
            #expect(afterClose.live.map(\.id) == [a.nodeID])
            #expect(afterClose.stale.isEmpty)
            try await a.close()
            #expect(try await PostgresTestDatabase.execute(["SELECT count(*)::text FROM blobhub_nodes"], url: url) == ["0"])
        }
    }

    @Test("a row without heartbeat goes stale after the bound and is deleted after the forget bound")
    func staleAndForgotten() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let store = try await PostgresTestDatabase.open(url, timeouts: Self.quick)
            // A node that stopped heartbeating just now (a kill -9: its row stays), and one whose own last
            // heartbeat is long past: the answering node is listed live all the same.
            try await PostgresTestDatabase.execute(["""
                INSERT INTO blobhub_nodes VALUES ('dead0000', 'gone:1', 0, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 4, 4, 0, false)
                """], url: url)
            let fresh = await store.nodes()
            #expect(fresh.live.map(\.id).contains("dead0000") || fresh.stale.map(\.id) == ["dead0000"])  // live unless the machine stalled 3 s
            let stale = try await eventually { let list = await store.nodes(); return list.stale.isEmpty ? nil : list }
            #expect(stale.stale.map(\.id) == ["dead0000"])
            #expect(stale.live.map(\.id) == [store.nodeID])
            #expect(stale.nowMs - stale.stale[0].heartbeatAtMs >= 3000)
            // Forgotten: the live node's heartbeat deletes the row.
            _ = try await eventually { let list = await store.nodes(); return list.stale.isEmpty ? list : nil }
            #expect(try await PostgresTestDatabase.execute(["SELECT node_id FROM blobhub_nodes"], url: url) == [store.nodeID])
            try await store.close()
        }
    }

    @Test("its own row deleted behind its back, a node still lists itself, and its next heartbeat restores the row")
    func ownRowDeleted() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let store = try await PostgresTestDatabase.open(url, timeouts: Self.quick)
            try await PostgresTestDatabase.execute(["DELETE FROM blobhub_nodes"], url: url)
            #expect(await store.nodes().live.map(\.id) == [store.nodeID])
            _ = try await eventually {
                try await PostgresTestDatabase.execute(["SELECT node_id FROM blobhub_nodes"], url: url) == [store.nodeID] ? true : nil
            }
            try await store.close()
        }
    }

    @Test("the answering node is live even when its own heartbeat is older than the stale bound")
    func ownNodeAlwaysLive() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            var timeouts = Self.quick
            timeouts.liveness.heartbeat = .seconds(3600)  // one heartbeat at open, then none
            let store = try await PostgresTestDatabase.open(url, timeouts: timeouts)
            try await PostgresTestDatabase.execute(["UPDATE blobhub_nodes SET heartbeat_at = heartbeat_at - 60000"], url: url)
            let list = await store.nodes()
            #expect(list.live.map(\.id) == [store.nodeID])
            #expect(list.stale.isEmpty)
            #expect(list.nowMs - (list.live.first?.heartbeatAtMs ?? 0) >= 60_000)
            try await store.close()
        }
    }

    @Test("a database of schema version 1 (before blobhub_nodes) is migrated to the current version")
    func migratesFromVersion1() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            try await PostgresTestDatabase.createRecorded(version: 1, undoing: ["DROP TABLE blobhub_nodes"], url: url)
            let store = try await PostgresTestDatabase.open(url)
            #expect(try await PostgresTestDatabase.recordedVersion(url)
                    == [String(PostgresSchema.currentVersion)])
            #expect(PostgresSchema.currentVersion == 6)
            #expect(await store.nodes().live.map(\.id) == [store.nodeID])
            #expect(try await PostgresTestDatabase.execute(["SELECT node_id FROM blobhub_nodes"], url: url) == [store.nodeID])
            try await store.close()
        }
    }

    @Test("the database unreachable: the list holds this node alone and says why")
    func unreachable() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            var timeouts = Self.quick
            timeouts.healthCheck = .milliseconds(500)
            let store = try await PostgresTestDatabase.open(url, timeouts: timeouts)
            store.setNodeStatusProvider { NodeStatus(address: "a:1", connections: 2) }
            let name = String(url.split(separator: "/").last!)
            try await PostgresTestDatabase.execute([
                "ALTER DATABASE \(name) ALLOW_CONNECTIONS false",
                "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = '\(name)' AND pid <> pg_backend_pid()",
            ])
            let list = await store.nodes()
            try await PostgresTestDatabase.execute(["ALTER DATABASE \(name) ALLOW_CONNECTIONS true"])
            #expect(list.error != nil)
            #expect(list.live.map(\.id) == [store.nodeID])
            #expect(list.live.first?.connections == 2)
            try await store.close()
        }
    }

    /// Polls `probe` every 50 ms until it returns a value (at most 30 s).
    private func eventually<T>(_ probe: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            if let value = try await probe() { return value }
            guard ContinuousClock.now < deadline else { throw Timeout() }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    private struct Timeout: Error {}
}
