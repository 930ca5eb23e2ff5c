import Foundation
import Testing
@testable import BlobHubRealtimeStore

@Suite("Throughput (printed, not asserted)")
struct ThroughputTests {
    /// A realistic event: ~350 bytes of JSON and three routing keys.
    static func event(_ index: Int) -> NewEvent {
        let id = "evt-\(index)-\(UUID().uuidString)"
        let json = #"{"id":"\#(id)","type":"flow.processor.completed","created_at":1700000000000,"session_id":"sess-\#(index % 10)","revision_id":"rev-1","execution_id":"exec-\#(index % 50)","data":{"processor":"p-\#(index % 17)","status":"ok","duration_ms":\#(index % 1000),"output":"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"}}"#
        return NewEvent(id: id, type: "flow.processor.completed", createdAt: 1_700_000_000_000,
                        keys: ["revision|rev-1|session|sess-\(index % 10)", "revision|rev-1|execution|exec-\(index % 50)",
                               "user|u-\(index % 5)"],
                        json: Array(json.utf8))
    }

    @Test("append 20,000 events in batches of 500 (SQLite, synchronous=FULL)")
    func sqliteBatchedAppends() async throws {
        try await withDatabasePath { path in
            let store = try SQLiteStore(path: path)
            let delivered = ObserverRecorder()
            delivered.install(on: store)
            let batches = (0..<40).map { batch in (0..<500).map { Self.event(batch * 500 + $0) } }
            let clock = ContinuousClock()
            let elapsed = try await clock.measure {
                for batch in batches {
                    _ = try await store.append(batch)
                }
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            #if DEBUG
            let configuration = "debug build; a release build is several times faster"
            #else
            let configuration = "release build"
            #endif
            print("SQLiteStore: 20,000 events in batches of 500: \(elapsed) → \(Int(20_000 / seconds)) events/s (\(configuration))")

            let replayed = try await clock.measure {
                _ = try await store.events(withKey: "revision|rev-1|session|sess-3", after: 0, limit: 10_000)
            }
            print("SQLiteStore: replay of 2,000 events by key: \(replayed)")
            let pruned = try await clock.measure {
                _ = try await store.prune(RetentionPolicy(maxAgeMs: .max, maxEvents: 10_000), nowMs: 0)
            }
            print("SQLiteStore: prune of 10,000 events: \(pruned)")
            #expect(delivered.offsets.count == 20_000)
            #expect(try await store.headOffset() == 20_000)
            try await store.close()
        }
    }
}
