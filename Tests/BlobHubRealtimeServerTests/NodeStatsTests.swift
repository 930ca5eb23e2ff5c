import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Testing

/// `GET /v1/admin/stats` → `node`, `nodes`, `stale_nodes` on single-node stores (the cluster cases are in
/// Cluster/NodeListClusterTests.swift).
@Suite("Stats: node list (single node)")
struct NodeStatsTests {
    @Test("memory and SQLite: the list is this node alone, marked, with its address, figures and no lag", arguments: ["memory", "sqlite"])
    func singleNode(_ kind: String) async throws {
        try await withTemporaryDirectory { directory in
            let store = kind == "memory" ? "memory" : "sqlite:" + directory.appendingPathComponent("log.sqlite").path
            try await withPlatform({ $0.store = store }) { server in
                let socket = try await server.connectInitialized()
                _ = try await socket.subscribe(sessionParams())
                try await server.publishAccepted(sessionEvent("step", id: "e1"))
                let stats = try #require(try await server.admin("GET", "/stats").bodyJSON)
                let id = try #require(stats["node"] as? String)
                #expect(id.count == 8)
                let nodes = try #require(stats["nodes"] as? [[String: Any]])
                #expect(nodes.count == 1)
                let own = try #require(nodes.first)
                #expect(own["id"] as? String == id)
                #expect(own["self"] as? Bool == true)
                #expect(own["address"] as? String == "127.0.0.1:\(server.port)")
                #expect(own["connections"] as? Int == 1)
                #expect(own["subscriptions"] as? Int == 1)
                #expect(own["draining"] as? Bool == false)
                #expect(own["lag"] as? Int == 0)
                let head = (stats["events"] as? [String: Any])?["head_offset"] as? Int
                #expect(own["delivered_offset"] as? Int == head)
                #expect((own["heartbeat_age_ms"] as? Int).map { $0 >= 0 && $0 < 5_000 } == true)
                let started = try #require(own["started_at_ms"] as? Int), heartbeat = try #require(own["heartbeat_at_ms"] as? Int)
                #expect(started <= heartbeat)
                #expect(abs(heartbeat - Int(Date().timeIntervalSince1970 * 1000)) < 60_000)
                #expect((stats["stale_nodes"] as? [Any])?.isEmpty == true)
                #expect(stats["nodes_error"] == nil)
                // The top-level figures are still this node's.
                #expect(stats["connections"] as? Int == 1)
                #expect(stats["subscriptions"] as? Int == 1)
            }
        }
    }
}
