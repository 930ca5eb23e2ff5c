import BlobHubRealtimeServer
import BlobHubRealtimeServices
import BlobHubRealtimeStore
import Foundation
import Testing

/// `GET /v1/admin/stats` on a cluster: every node lists every live node (`blobhub_nodes`, heartbeat ~1 s).
/// The name ends in ClusterTests so that `scripts/test` runs it with the other heavy suites, alone.
@Suite("PostgreSQL cluster: node list", .enabled(if: ClusterDatabase.isConfigured, Comment(rawValue: ClusterDatabase.skipMessage)))
struct NodeListClusterTests {
    @Test("stats on any node lists every node with its figures; lag settles to 0; a node stopped gracefully disappears at once")
    func everyNodeListed() async throws {
        try await withCluster(2) { nodes, database in
            let ids = try await nodes.asyncMap { try await Stats(of: $0).own }
            #expect(Set(ids).count == 2)
            for (index, node) in nodes.enumerated() {
                // A node's row is written at open, its address a moment later (when the server hands its figures over).
                let stats = try await eventually { let stats = try await Stats(of: node); return stats.live.allSatisfy { !$0.address.isEmpty } ? stats : nil }
                #expect(stats.own == ids[index])
                #expect(stats.live.map(\.id) == ids.sorted())
                #expect(stats.live.filter(\.isSelf).map(\.id) == [ids[index]])
                #expect(stats.stale.isEmpty)
                for (peer, id) in zip(nodes, ids) {
                    let entry = try #require(stats.entry(id))
                    #expect(entry.address == "127.0.0.1:\(peer.port)")
                    #expect(entry.lag >= 0)
                    #expect(entry.heartbeatAgeMs >= 0 && entry.heartbeatAgeMs < 10_000)
                }
            }

            // A WebSocket on node 1 shows on node 0 within a heartbeat or two.
            let socket = try await nodes[1].connectInitialized()
            _ = try await socket.subscribe(sessionParams())
            // Both figures: a heartbeat may be written between the connect and the subscribe.
            let seen = try await eventually {
                let stats = try await Stats(of: nodes[0])
                return stats.entry(ids[1])?.connections == 1 && stats.entry(ids[1])?.subscriptions == 1 ? stats : nil
            }
            #expect(seen.entry(ids[1])?.subscriptions == 1)
            #expect(seen.entry(ids[0])?.connections == 0)

            // Publishing on both: lag is never negative and settles to 0 on every entry, seen from either node.
            let headBefore = try await Stats(of: nodes[0]).head  // the seed's registry changes published events too
            for index in 0..<10 { try await nodes[index % 2].publishAccepted(sessionEvent("step", id: "e\(index)")) }
            _ = try await socket.receiveEvents(10)
            for node in nodes {
                let settled = try await eventually { () -> Stats? in
                    let stats = try await Stats(of: node)
                    #expect(stats.live.allSatisfy { $0.lag >= 0 })
                    return stats.live.count == 2 && stats.live.allSatisfy({ $0.lag == 0 && $0.delivered == stats.head }) ? stats : nil
                }
                #expect(settled.head == headBefore + 10)
            }

            // A third node joins, then stops gracefully (SIGTERM): it deletes its row on the way out.
            let third = try await ClusterNode(store: try clusterURL(database))
            defer { third.stop() }
            let thirdID = try await Stats(of: third).own
            _ = try await eventually { try await Stats(of: nodes[0]).entry(thirdID) != nil ? true : nil }
            third.child.signal(SIGTERM)
            #expect(try await third.child.waitForExit(timeout: .seconds(10)) == 0)
            let after = try await Stats(of: nodes[0])
            #expect(after.live.map(\.id) == ids.sorted())
            #expect(after.stale.isEmpty)
        }
    }

    @Test("a killed node goes stale after the bound (listed under stale_nodes), and its row is deleted after the forget bound")
    func killedNode() async throws {
        try await ClusterDatabase.withDatabase { _, url in
            // The observer runs in-process with short bounds; the node that dies is a real process.
            try await withPlatform({
                $0.store = url
                $0.nodeLiveness.heartbeat = .milliseconds(250)
                $0.nodeLiveness.staleAfter = .seconds(2)
                $0.nodeLiveness.forgetAfter = .seconds(4)
            }, seed: false) { observer in
                let victim = try await ClusterNode(store: url)
                defer { victim.stop() }
                let victimID = try await Stats(of: victim).own
                let observerID = try await Stats(of: observer).own
                _ = try await eventually { try await Stats(of: observer).entry(victimID) != nil ? true : nil }

                victim.child.signal(SIGKILL)
                _ = try await victim.child.waitForExit(timeout: .seconds(5))
                let killed = ContinuousClock.now
                // Still listed as live until the bound passes, then stale.
                let stale = try await eventually { let stats = try await Stats(of: observer); return stats.stale.isEmpty ? nil : stats }
                #expect(ContinuousClock.now - killed > .milliseconds(500))  // its last heartbeat was at most ~1 s before the kill
                #expect(stale.stale.map(\.id) == [victimID])
                #expect(stale.stale.first?.isSelf == false)
                #expect((stale.stale.first?.heartbeatAgeMs ?? 0) >= 2_000)
                #expect(stale.live.map(\.id) == [observerID])
                // Forgotten: the observer's heartbeat deletes the row.
                let gone = try await eventually { let stats = try await Stats(of: observer); return stats.stale.isEmpty ? stats : nil }
                #expect(gone.live.map(\.id) == [observerID])
                #expect(try await ClusterDatabase.execute(["SELECT node_id FROM blobhub_nodes"], url: url) == [observerID])
            }
        }
    }

    // MARK: Helpers

    /// The node part of a stats answer.
    struct Stats {
        struct Entry {
            var id: String, address: String, isSelf: Bool
            var connections: Int, subscriptions: Int, delivered: Int, lag: Int, heartbeatAgeMs: Int
        }

        var own: String
        var head: Int
        var live: [Entry]
        var stale: [Entry]

        init(_ json: [String: Any]?) throws {
            own = try #require(json?["node"] as? String)
            head = try #require((json?["events"] as? [String: Any])?["head_offset"] as? Int)
            func entries(_ key: String) throws -> [Entry] {
                try #require(json?[key] as? [[String: Any]]).map { entry in
                    Entry(id: try #require(entry["id"] as? String), address: try #require(entry["address"] as? String),
                          isSelf: try #require(entry["self"] as? Bool), connections: try #require(entry["connections"] as? Int),
                          subscriptions: try #require(entry["subscriptions"] as? Int), delivered: try #require(entry["delivered_offset"] as? Int),
                          lag: try #require(entry["lag"] as? Int), heartbeatAgeMs: try #require(entry["heartbeat_age_ms"] as? Int))
                }
            }
            live = try entries("nodes")
            stale = try entries("stale_nodes")
        }

        init(of node: ClusterNode) async throws {
            try self.init(try await node.admin("GET", "/stats").bodyJSON)
        }

        init(of server: TestServerHandle) async throws {
            try self.init(try await server.admin("GET", "/stats").bodyJSON)
        }

        func entry(_ id: String) -> Entry? { live.first { $0.id == id } }
    }

    /// The URL of the cluster's database (`withCluster` passes its name).
    private func clusterURL(_ database: String) throws -> String {
        var components = try #require(ClusterDatabase.environment("URL").flatMap(URLComponents.init(string:)))
        components.path = "/" + database
        return try #require(components.string)
    }

    /// Polls `probe` every 100 ms until it returns a value (at most 15 s).
    private func eventually<T>(_ probe: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            if let value = try await probe() { return value }
            guard ContinuousClock.now < deadline else { throw ByteInbox.Timeout(what: "the node list") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
