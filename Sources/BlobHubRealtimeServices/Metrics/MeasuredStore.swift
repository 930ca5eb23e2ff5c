import BlobHubRealtimeRegistry
import BlobHubRealtimeStore

/// The node's store with every call timed into `blobhub_realtime_store_latency_seconds{operation}`.
///
/// A decorator, so the stores themselves stay free of metrics and every engine is measured the same way.
package struct MeasuredStore: RealtimeStore {
    let base: any RealtimeStore
    let metrics: ServerMetrics

    package init(base: any RealtimeStore, metrics: ServerMetrics) {
        self.base = base
        self.metrics = metrics
    }

    package var epoch: String { base.epoch }

    package func setCommitObserver(_ observer: @escaping @Sendable ([StoredEvent]) -> Void) {
        base.setCommitObserver(observer)
    }

    package func setRegistryObserver(_ observer: @escaping @Sendable () -> Void) {
        base.setRegistryObserver(observer)
    }

    package func setFanoutInterest(_ interest: @escaping @Sendable () -> FanoutInterest) {
        base.setFanoutInterest(interest)
    }

    package func append(_ events: [NewEvent]) async throws -> [AppendResult] {
        try await timed(.append) { try await base.append(events) }
    }

    package func append(_ events: [NewEvent], completion: @escaping @Sendable (Result<[AppendResult], any Error>) -> Void) {
        let start = ContinuousClock.now
        base.append(events) { [metrics] result in
            metrics.storeOperation(.append, took: ContinuousClock.now - start)
            completion(result)
        }
    }

    package func events(withKey key: String, after: Int64, limit: Int) async throws -> [StoredEvent] {
        try await timed(.eventsByKey) { try await base.events(withKey: key, after: after, limit: limit) }
    }

    package func events(after: Int64, limit: Int) async throws -> [StoredEvent] {
        try await timed(.events) { try await base.events(after: after, limit: limit) }
    }

    package func headOffset() async throws -> Int64 {
        try await timed(.headOffset) { try await base.headOffset() }
    }

    package func prunedThrough() async throws -> Int64 {
        try await timed(.prunedThrough) { try await base.prunedThrough() }
    }

    package func prune(_ policy: RetentionPolicy, nowMs: Int64) async throws -> Int {
        try await timed(.prune) { try await base.prune(policy, nowMs: nowMs) }
    }

    package func registryRows() async throws -> [RegistryRow] {
        try await timed(.registryRows) { try await base.registryRows() }
    }

    package func persist(_ diff: RegistryRows) async throws {
        try await timed(.persist) { try await base.persist(diff) }
    }

    package var nodeID: String { base.nodeID }

    package func setNodeStatusProvider(_ provider: @escaping @Sendable () async -> NodeStatus) {
        base.setNodeStatusProvider(provider)
    }

    package func nodes() async -> NodeList { await base.nodes() }

    package func isHealthy() async -> Bool { await base.isHealthy() }

    package func close() async throws { try await base.close() }

    /// Failed calls are timed too: a slow failure is what an operator needs to see.
    private func timed<T>(_ operation: StoreOperation, _ body: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        defer { metrics.storeOperation(operation, took: ContinuousClock.now - start) }
        return try await body()
    }
}
