import BlobHubRealtimeRegistry
import Foundation
import Synchronization

/// A store that keeps everything in memory (tests, demos): nothing survives the process; every instance
/// is a new log with a random epoch. Thread-safe: all state sits behind one `Mutex`, and appends call the
/// commit observer while holding it, so observers see batches in offset order.
public final class MemoryStore: RealtimeStore {
    public let epoch: String

    private let state = Mutex(State())
    private let observer = CommitObserverSlot()
    private let node = SingleNode()

    public init() {
        epoch = UUID().uuidString.lowercased()
    }

    private struct State {
        /// Retained events, ascending and dense: `events[start + i]` has offset `prunedThrough + 1 + i`.
        var events: [StoredEvent] = []
        /// Index of the oldest retained event in `events` (pruning advances it; the array is compacted lazily).
        var start = 0
        var head: Int64 = 0
        var prunedThrough: Int64 = 0
        var offsetsByID: [String: Int64] = [:]
        /// Ascending offsets of the retained events carrying each key.
        var offsetsByKey: [String: [Int64]] = [:]
        var registry: [RegistryRowKey: [UInt8]] = [:]
        var closed = false

        func event(at offset: Int64) -> StoredEvent {
            events[start + Int(offset - prunedThrough - 1)]
        }
    }

    public func setCommitObserver(_ observer: @escaping @Sendable ([StoredEvent]) -> Void) {
        self.observer.set(observer)
    }

    /// Single node: only this node changes the registry, so there is nothing to observe. (Required rather than
    /// defaulted in the protocol so that a wrapping store cannot forget to forward it.)
    public func setRegistryObserver(_ observer: @escaping @Sendable () -> Void) {}

    public func append(_ events: [NewEvent]) async throws -> [AppendResult] {
        try appendNow(events)
    }

    /// Nothing to wait for: the outcome is passed on before this returns, on the caller's thread.
    public func append(_ events: [NewEvent], completion: @escaping @Sendable (Result<[AppendResult], any Error>) -> Void) {
        completion(Result { try appendNow(events) })
    }

    private func appendNow(_ events: [NewEvent]) throws -> [AppendResult] {
        let validated = try ValidatedEvent.validate(events)
        return try state.withLock { state throws -> [AppendResult] in
            guard !state.closed else { throw StoreError.closed }
            if validated.isEmpty { return [] }
            var results: [AppendResult] = []
            results.reserveCapacity(validated.count)
            var stored: [StoredEvent] = []
            stored.reserveCapacity(validated.count)
            // Validation already happened, so nothing below can fail: the batch is applied whole.
            for item in validated {
                if let existing = state.offsetsByID[item.event.id] {
                    results.append(AppendResult(id: item.event.id, offset: existing, duplicate: true))
                    continue
                }
                state.head += 1
                let offset = state.head
                let event = item.stored(at: offset)
                state.events.append(event)
                state.offsetsByID[event.id] = offset
                for key in event.keys {
                    state.offsetsByKey[key, default: []].append(offset)
                }
                stored.append(event)
                results.append(AppendResult(id: event.id, offset: offset, duplicate: false))
            }
            observer.notify(stored)
            return results
        }
    }

    public func events(withKey key: String, after: Int64, limit: Int) async throws -> [StoredEvent] {
        try state.withLock { state throws -> [StoredEvent] in
            guard !state.closed else { throw StoreError.closed }
            guard limit > 0, let offsets = state.offsetsByKey[key] else { return [] }
            let first = Self.firstIndex(in: offsets, greaterThan: after)
            return offsets[first...].prefix(limit).map { state.event(at: $0) }
        }
    }

    public func events(after: Int64, limit: Int) async throws -> [StoredEvent] {
        try state.withLock { state throws -> [StoredEvent] in
            guard !state.closed else { throw StoreError.closed }
            guard limit > 0 else { return [] }
            let from = max(after, state.prunedThrough) + 1
            guard from <= state.head else { return [] }
            let to = min(state.head, from + Int64(limit) - 1)
            return (from...to).map { state.event(at: $0) }
        }
    }

    public func headOffset() async throws -> Int64 {
        try state.withLock { state throws -> Int64 in
            guard !state.closed else { throw StoreError.closed }
            return state.head
        }
    }

    public func prunedThrough() async throws -> Int64 {
        try state.withLock { state throws -> Int64 in
            guard !state.closed else { throw StoreError.closed }
            return state.prunedThrough
        }
    }

    public func prune(_ policy: RetentionPolicy, nowMs: Int64) async throws -> Int {
        try state.withLock { state throws -> Int in
            guard !state.closed else { throw StoreError.closed }
            let cutoff = policy.cutoff(nowMs: nowMs)
            var through = max(state.prunedThrough, policy.countThreshold(head: state.head))
            // Age: extend over the leading run of expired events.
            while through < state.head, state.event(at: through + 1).createdAt < cutoff {
                through += 1
            }
            guard through > state.prunedThrough else { return 0 }

            let removedCount = Int(through - state.prunedThrough)
            var touchedKeys = Set<String>()
            for index in state.start..<(state.start + removedCount) {
                let event = state.events[index]
                state.offsetsByID[event.id] = nil
                touchedKeys.formUnion(event.keys)
            }
            for key in touchedKeys {
                guard var offsets = state.offsetsByKey[key] else { continue }
                offsets.removeFirst(Self.firstIndex(in: offsets, greaterThan: through))
                state.offsetsByKey[key] = offsets.isEmpty ? nil : offsets
            }
            state.start += removedCount
            state.prunedThrough = through
            // Compact once the dead prefix dominates, keeping pruning amortized O(removed).
            if state.start > 1024, state.start * 2 > state.events.count {
                state.events.removeFirst(state.start)
                state.start = 0
            }
            return removedCount
        }
    }

    public func registryRows() async throws -> [RegistryRow] {
        try state.withLock { state throws -> [RegistryRow] in
            guard !state.closed else { throw StoreError.closed }
            return state.registry
                .map { RegistryRow(kind: $0.key.kind, id: $0.key.id, data: $0.value) }
                .sorted { ($0.kind, $0.id) < ($1.kind, $1.id) }
        }
    }

    public func persist(_ diff: RegistryRows) async throws {
        try state.withLock { state throws in
            guard !state.closed else { throw StoreError.closed }
            for key in diff.deletes {
                state.registry[key] = nil
            }
            for row in diff.upserts {
                state.registry[row.key] = row.data
            }
        }
    }

    // MARK: - Nodes

    /// One node, no table: ``SingleNode``.
    public var nodeID: String { node.id }

    public func setNodeStatusProvider(_ provider: @escaping @Sendable () async -> NodeStatus) {
        node.status.set(provider)
    }

    public func nodes() async -> NodeList {
        await node.list { try await headOffset() }
    }

    public func isHealthy() async -> Bool {
        state.withLock { !$0.closed }
    }

    public func close() async throws {
        state.withLock { state in
            state.closed = true
            state.events = []
            state.start = 0
            state.offsetsByID = [:]
            state.offsetsByKey = [:]
            state.registry = [:]
        }
    }

    /// Index of the first element greater than `value` in an ascending array.
    private static func firstIndex(in offsets: [Int64], greaterThan value: Int64) -> Int {
        var low = 0
        var high = offsets.count
        while low < high {
            let mid = (low + high) / 2
            if offsets[mid] <= value { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
