import BlobHubRealtimeRegistry
/// Persistence of the event log and the registry rows. The only component that does persistence I/O.
///
/// Implementations: ``MemoryStore`` (nothing persisted), ``SQLiteStore`` (one node) and ``PostgresStore``
/// (a cluster: many nodes, one database). Nothing here is specific to one database.
public protocol RealtimeStore: Sendable {
    /// Names the log: fixed for the lifetime of a database (created with it), new for every MemoryStore instance.
    var epoch: String { get }

    /// Called once per committed append, in commit (= offset) order, with the newly stored events (duplicates excluded),
    /// before `append` returns and before any later append is committed. The server uses it to fan events out in order.
    /// Must be cheap; it is invoked on the writer's serialization context. Set before the first append.
    /// An append that stores nothing new (empty, or only duplicates) does not call it.
    ///
    /// Cluster stores (``PostgresStore``) call it with the events committed by *every* node, in offset order, each
    /// exactly once, from one background task; batches there may merge or split appends, and `append` waits
    /// (bounded) until its own events were passed on. While ``setFanoutInterest(_:)`` says the node has no
    /// subscription, they pass on this node's own events only.
    func setCommitObserver(_ observer: @escaping @Sendable ([StoredEvent]) -> Void)

    /// Tells a cluster store what the node's fan-out wants (``FanoutInterest``); it asks before and after every read
    /// of the shared log, from its background task, so the closure must be cheap. Without it every event is read.
    /// Single-node stores hand the observer only their own commits anyway and ignore it.
    func setFanoutInterest(_ interest: @escaping @Sendable () -> FanoutInterest)

    /// Called (from a background task, any number of times) when another node may have changed the registry rows:
    /// the server reloads them and re-checks access. Single-node stores never call it.
    func setRegistryObserver(_ observer: @escaping @Sendable () -> Void)

    /// Appends atomically (one transaction): all events or none. Returns one result per input, in input order.
    /// Offsets are assigned in input order, strictly increasing, never reused (also after pruning and restarts).
    /// An id already in the log (or earlier in the same batch) is a duplicate: its original offset is returned.
    /// An id whose event was pruned is no longer known and is stored again.
    /// Returns only after the data is durable. Throws ``StoreError/invalidEvent(index:reason:)`` (nothing stored)
    /// for an empty id or json, or a keys list that is empty, longer than 16, or has an empty key.
    func append(_ events: [NewEvent]) async throws -> [AppendResult]

    /// ``append(_:)`` for callers on an event loop (the publish endpoint): the same contract, but the outcome
    /// goes to `completion`, exactly once, once the events are durable. It may run before this returns, on
    /// the calling thread (``MemoryStore``), or on the store's writer; ``SQLiteStore`` and ``PostgresStore``
    /// call it just before the commit observer (so the answer's hop to its loop is queued ahead of the fan-out
    /// round), ``MemoryStore`` after it. Callers that need their events fanned out first (a revocation that
    /// must follow its event) use ``append(_:)``. No task per append.
    func append(_ events: [NewEvent], completion: @escaping @Sendable (Result<[AppendResult], any Error>) -> Void)

    /// Events whose keys contain `key` with offset > `after`, ascending, at most `limit`.
    func events(withKey key: String, after: Int64, limit: Int) async throws -> [StoredEvent]
    /// All events with offset > `after`, ascending, at most `limit` (cluster catch-up, tests).
    func events(after: Int64, limit: Int) async throws -> [StoredEvent]
    /// The highest offset ever assigned (0 for an empty new log). Survives restarts and pruning.
    func headOffset() async throws -> Int64
    /// The highest offset that retention has removed (0 if nothing was ever pruned). Events with offset > this are all retained.
    func prunedThrough() async throws -> Int64
    /// Applies retention; returns how many events were removed. `nowMs` is injectable for tests.
    func prune(_ policy: RetentionPolicy, nowMs: Int64) async throws -> Int

    /// All registry rows (to rebuild the in-memory registry at start), ordered by (kind, id).
    func registryRows() async throws -> [RegistryRow]
    /// Applies a diff atomically (upserts replace by (kind,id); deletes of absent rows are no-ops).
    func persist(_ diff: RegistryRows) async throws

    /// Names this node among the nodes that share the store: new for every store instance (each start of a node).
    var nodeID: String { get }
    /// Supplies this node's figures (address, connections, subscriptions) for ``nodes()``. Cluster stores ask
    /// it with every heartbeat (about once a second, from a background task) and write the answer into the
    /// node's row, never on the append path. Set at start.
    func setNodeStatusProvider(_ provider: @escaping @Sendable () async -> NodeStatus)
    /// The nodes sharing the store: those heartbeating (this one included, with current figures) and those gone
    /// silent. Single-node stores list this node alone. Does not throw: when the store cannot be read the list
    /// holds this node only and says why (``NodeList/error``).
    func nodes() async -> NodeList

    /// True when the store can serve requests (readiness probe).
    func isHealthy() async -> Bool
    /// Releases resources. Later calls throw (or report unhealthy); closing twice is a no-op. A cluster store
    /// deletes this node's row first, so the others stop listing it at once.
    func close() async throws
}

extension RealtimeStore {
    /// For single-node stores: nothing to leave unread.
    public func setFanoutInterest(_ interest: @escaping @Sendable () -> FanoutInterest) {}

    /// For stores without a callback path of their own: a task around ``append(_:)``.
    public func append(_ events: [NewEvent], completion: @escaping @Sendable (Result<[AppendResult], any Error>) -> Void) {
        Task {
            do { completion(.success(try await append(events))) } catch { completion(.failure(error)) }
        }
    }
}

/// An event that passed validation, with its keys de-duplicated and encoded. Shared by the stores.
struct ValidatedEvent: Sendable {
    var event: NewEvent

    static let maxKeys = 16

    /// Validates a whole batch up front so that a rejected batch touches nothing.
    static func validate(_ events: [NewEvent]) throws(StoreError) -> [ValidatedEvent] {
        var result: [ValidatedEvent] = []
        result.reserveCapacity(events.count)
        for (index, event) in events.enumerated() {
            if event.id.isEmpty {
                throw .invalidEvent(index: index, reason: "empty id")
            }
            if event.json.isEmpty {
                throw .invalidEvent(index: index, reason: "empty json")
            }
            if event.keys.isEmpty {
                throw .invalidEvent(index: index, reason: "no routing keys")
            }
            if event.keys.count > maxKeys {
                throw .invalidEvent(index: index, reason: "more than \(maxKeys) routing keys")
            }
            if event.keys.contains(where: \.isEmpty) {
                throw .invalidEvent(index: index, reason: "empty routing key")
            }
            var unique = event
            unique.keys = uniqueKeys(event.keys)
            result.append(ValidatedEvent(event: unique))
        }
        return result
    }

    private static func uniqueKeys(_ keys: [String]) -> [String] {
        // At most 16 keys: a quadratic scan beats hashing, and the common case allocates nothing.
        var index = 1
        while index < keys.count, !keys[..<index].contains(keys[index]) {
            index += 1
        }
        if index == keys.count { return keys }
        var out = Array(keys[..<index])
        for key in keys[index...] where !out.contains(key) {
            out.append(key)
        }
        return out
    }

    func stored(at offset: Int64) -> StoredEvent {
        StoredEvent(offset: offset, id: event.id, type: event.type, createdAt: event.createdAt,
                    keys: event.keys, json: event.json)
    }
}

extension RetentionPolicy {
    /// The creation time before which an event has expired (saturating).
    func cutoff(nowMs: Int64) -> Int64 {
        let (value, overflow) = nowMs.subtractingReportingOverflow(maxAgeMs)
        if overflow { return maxAgeMs > 0 ? .min : .max }
        return value
    }

    /// Offsets at or below this are removed by the count limit.
    func countThreshold(head: Int64) -> Int64 {
        head - Int64(max(0, maxEvents))
    }
}
