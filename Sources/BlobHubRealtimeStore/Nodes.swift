import Foundation
import Synchronization

// The nodes that share a store (`GET /v1/admin/stats` → `nodes`). A cluster store keeps one row per node
// (PostgreSQL: `blobhub_nodes`, written by every node about once a second); a single-node store knows only
// the node it runs in.

/// What a node says about itself: supplied by the server (``RealtimeStore/setNodeStatusProvider(_:)``),
/// written with every heartbeat.
public struct NodeStatus: Sendable, Equatable {
    /// Where the node listens, `host:port` (the advertised address: what a peer or an operator would dial).
    public var address: String
    /// Open WebSocket connections.
    public var connections: Int
    /// Subscriptions over all of them.
    public var subscriptions: Int
    /// Shutting down (drain under way).
    public var draining: Bool

    public init(address: String = "", connections: Int = 0, subscriptions: Int = 0, draining: Bool = false) {
        self.address = address
        self.connections = connections
        self.subscriptions = subscriptions
        self.draining = draining
    }
}

/// One node sharing the store, as of its last heartbeat (this node's own entry: as of now).
public struct NodeRecord: Sendable, Equatable {
    /// New at every start of a node (``RealtimeStore/nodeID``).
    public var id: String
    public var address: String
    /// Milliseconds since the Unix epoch, on the clock that ``NodeList/nowMs`` uses.
    public var startedAtMs: Int64
    /// The node's last heartbeat, same clock.
    public var heartbeatAtMs: Int64
    public var connections: Int
    public var subscriptions: Int
    public var draining: Bool
    /// The highest offset the node's fan-out has been handed (its lag is the head minus this).
    public var delivered: Int64

    public init(id: String, address: String, startedAtMs: Int64, heartbeatAtMs: Int64, connections: Int, subscriptions: Int,
                draining: Bool, delivered: Int64) {
        self.id = id
        self.address = address
        self.startedAtMs = startedAtMs
        self.heartbeatAtMs = heartbeatAtMs
        self.connections = connections
        self.subscriptions = subscriptions
        self.draining = draining
        self.delivered = delivered
    }
}

/// The nodes sharing a store, read at one moment (``RealtimeStore/nodes()``).
public struct NodeList: Sendable, Equatable {
    /// The moment of the reading, in ms since the Unix epoch: the database's clock for a cluster store (every
    /// heartbeat is stamped by the database too, so the nodes' own clocks do not matter), else this process's.
    public var nowMs: Int64
    /// The log's head at that moment.
    public var headOffset: Int64
    /// Nodes whose last heartbeat is at most ``NodeLiveness/staleAfter`` old, ordered by id. This node is
    /// always among them (it is answering, whatever the age of its last heartbeat).
    public var live: [NodeRecord]
    /// Nodes that stopped heartbeating (killed, or cut off from the database) and are not forgotten yet,
    /// ordered by id. A node that shut down gracefully deleted its row and is in neither list.
    public var stale: [NodeRecord]
    /// Set when the store could not be read: the lists then hold only this node, as it knows itself.
    public var error: String?

    public init(nowMs: Int64, headOffset: Int64, live: [NodeRecord], stale: [NodeRecord] = [], error: String? = nil) {
        self.nowMs = nowMs
        self.headOffset = headOffset
        self.live = live
        self.stale = stale
        self.error = error
    }
}

/// How often a cluster node heartbeats and how long a silent node stays listed.
public struct NodeLiveness: Sendable, Equatable {
    /// Interval of the heartbeat write.
    public var heartbeat: Duration = .seconds(1)
    /// A node whose last heartbeat is older than this is listed as stale, not live.
    public var staleAfter: Duration = .seconds(10)
    /// A row whose last heartbeat is older than this is deleted (by whichever node heartbeats next).
    public var forgetAfter: Duration = .seconds(3600)

    public init() {}

    public init(heartbeat: Duration, staleAfter: Duration, forgetAfter: Duration) {
        self.heartbeat = heartbeat
        self.staleAfter = staleAfter
        self.forgetAfter = forgetAfter
    }
}

/// Holds a store's node-status provider (a class box, for the reason given at ``CommitObserverSlot``).
final class NodeStatusSlot: Sendable {
    private final class Box: Sendable {
        let provider: @Sendable () async -> NodeStatus
        init(_ provider: @escaping @Sendable () async -> NodeStatus) { self.provider = provider }
    }

    private let box = Mutex<Box?>(nil)

    func set(_ provider: @escaping @Sendable () async -> NodeStatus) {
        let new = Box(provider)
        box.withLock { $0 = new }
    }

    /// The provider's answer; an empty status while none is set.
    func current() async -> NodeStatus {
        guard let current = box.withLock({ $0 }) else { return NodeStatus() }
        return await current.provider()
    }
}

enum NodeIdentity {
    /// A fresh node id: 8 hex digits (also the node's tag in PostgreSQL notifications, so kept short).
    static func generate() -> String {
        String(UUID().uuidString.prefix(8)).lowercased()
    }

    static func nowMs() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}

/// The node list of a single-node store (memory, SQLite): this node alone, as of now, with no table behind it.
/// Its fan-out is handed every commit before the append returns, so it has delivered the head.
final class SingleNode: Sendable {
    let id = NodeIdentity.generate()
    let startedAtMs = NodeIdentity.nowMs()
    let status = NodeStatusSlot()

    func list(headOffset: Int64) async -> NodeList {
        let status = await status.current()
        let now = NodeIdentity.nowMs()
        return NodeList(nowMs: now, headOffset: headOffset, live: [NodeRecord(
            id: id, address: status.address, startedAtMs: startedAtMs, heartbeatAtMs: now, connections: status.connections,
            subscriptions: status.subscriptions, draining: status.draining, delivered: headOffset)])
    }
}

extension SingleNode {
    /// ``list(headOffset:)`` with the head read from the store; a store that cannot answer (closed) still lists this node.
    func list(head: () async throws -> Int64) async -> NodeList {
        do {
            return await list(headOffset: try await head())
        } catch {
            var list = await list(headOffset: 0)
            list.error = "\(error)"
            return list
        }
    }
}
