import Foundation
import Synchronization
import Testing
@testable import BlobHubRealtimeStore

/// The implementations every behaviour test runs against: PostgreSQL only when a test database is configured
/// (`BLOBHUB_REALTIME_TEST_POSTGRES_URL`, see scripts/ci/postgres.sh); the "PostgreSQL store" suite says when it is not.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory
    case sqlite
    /// SQLite with a key index that trails the log by 3 events (the default is 1,024): reads by key then
    /// cross the indexed part and the scanned tail in these small tests.
    case sqliteShortKeyLag = "sqlite-key-lag-3"
    case postgres

    static var allCases: [StoreKind] {
        PostgresTestDatabase.isConfigured ? [.memory, .sqlite, .sqliteShortKeyLag, .postgres] : [.memory, .sqlite, .sqliteShortKeyLag]
    }

    var testDescription: String { rawValue }
}

/// A unique temporary directory, removed by `remove()`.
struct TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("blobhub-store-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String {
        url.appendingPathComponent(name).path
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// Runs `body` with a fresh store of `kind`; closes it and removes its files afterwards.
func withStore(_ kind: StoreKind, _ body: (any RealtimeStore) async throws -> Void) async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    if kind == .postgres {
        try await PostgresTestDatabase.withStore(body)
        return
    }
    let store: any RealtimeStore = switch kind {
    case .memory: MemoryStore()
    case .sqlite: try SQLiteStore(path: directory.path("store.sqlite"))
    case .sqliteShortKeyLag: try SQLiteStore(path: directory.path("store.sqlite"), keyIndexLag: 3)
    case .postgres: preconditionFailure("handled above")
    }
    try await closing(store, body)
}

/// Runs `body` with `store`, then closes the store (also when `body` throws).
func closing(_ store: any RealtimeStore, _ body: (any RealtimeStore) async throws -> Void) async throws {
    do {
        try await body(store)
    } catch {
        try? await store.close()
        throw error
    }
    try await store.close()
}

/// Runs `body` with a path for an SQLite file in a temporary directory that is removed afterwards.
func withDatabasePath(_ body: (String) async throws -> Void) async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    try await body(directory.path("store.sqlite"))
}

func jsonBytes(_ id: String) -> [UInt8] {
    Array(#"{"id":"\#(id)","type":"test"}"#.utf8)
}

func newEvent(_ id: String, keys: [String] = ["k"], createdAt: Int64 = 1_000, type: String = "test") -> NewEvent {
    NewEvent(id: id, type: type, createdAt: createdAt, keys: keys, json: jsonBytes(id))
}

/// Collects what the commit observer sees.
final class ObserverRecorder: Sendable {
    private let batches = Mutex<[[StoredEvent]]>([])

    func install(on store: any RealtimeStore) {
        store.setCommitObserver { [self] events in
            record(events)
        }
    }

    func record(_ events: [StoredEvent]) {
        batches.withLock { $0.append(events) }
    }

    var recorded: [[StoredEvent]] { batches.withLock { $0 } }
    var offsets: [Int64] { recorded.flatMap { $0.map(\.offset) } }
}

extension Sequence {
    /// Maps sequentially with an async transform.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self {
            try await result.append(transform(element))
        }
        return result
    }
}

/// A one-shot gate a thread can block on (used to hold the store's writer from inside the commit observer).
final class Gate: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)

    func waitUntilOpened() {
        semaphore.wait()
    }

    func open() {
        semaphore.signal()
    }
}

/// Polls `condition` until it holds; fails the test after `timeout`.
func waitUntil(timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now > deadline {
            Issue.record("condition not met within \(timeout)")
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}
