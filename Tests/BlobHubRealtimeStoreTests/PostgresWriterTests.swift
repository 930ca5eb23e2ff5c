import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import BlobHubRealtimeStore

@Suite struct WriterRuleTests {
    @Test("the writer pauses to let appends gather only after a group of several, while fewer are waiting")
    func gatherRule() {
        #expect(PostgresStore.gatherDelay(afterGroupOf: 0, waiting: 0) == nil, "a writer that just started")
        #expect(PostgresStore.gatherDelay(afterGroupOf: 1, waiting: 0) == nil, "a lone publisher never waits")
        #expect(PostgresStore.gatherDelay(afterGroupOf: 3, waiting: 1) == nil, "a few publishers do not wait either")
        #expect(PostgresStore.gatherDelay(afterGroupOf: 4, waiting: 1) == PostgresStore.gatherInterval)
        #expect(PostgresStore.gatherDelay(afterGroupOf: 5, waiting: 2) == PostgresStore.gatherInterval)
        #expect(PostgresStore.gatherDelay(afterGroupOf: 5, waiting: 5) == nil, "as many waiting as the last group")
        #expect(PostgresStore.gatherDelay(afterGroupOf: 5, waiting: 9) == nil)
    }

    @Test("a call's deadline fails it once, at its time; finished calls leave no entry; an earlier deadline re-arms")
    func callDeadlines() async throws {
        let deadlines = CallDeadlines(loop: MultiThreadedEventLoopGroup.singleton.any())
        // A long call registered first arms the timer late; a short one after it must still expire on time.
        let long = try await timed { try await withDeadline(.seconds(30), deadlines) { try await Task.sleep(for: .milliseconds(50)); return 1 } }
        #expect(long.value == 1 && deadlines.count == 0)
        let slowCalls = Task { try await withDeadline(.seconds(20), deadlines) { try await Task.sleep(for: .seconds(5)); return 2 } }
        try await waitUntil { deadlines.count == 1 }
        let short = await timed {
            do {
                _ = try await withDeadline(.milliseconds(200), deadlines) { try await Task.sleep(for: .seconds(10)); return 3 }
                return "answered"
            } catch let error as PostgresStoreError {
                return error.description
            } catch {
                return "\(error)"
            }
        }
        #expect(short.value == PostgresStoreError.timedOut(.milliseconds(200)).description)
        #expect(short.elapsed >= .milliseconds(200) && short.elapsed < .seconds(2), "expired after \(short.elapsed)")
        slowCalls.cancel()
        _ = try? await slowCalls.value
        try await waitUntil { deadlines.count == 0 }
    }

    private func timed<T>(_ body: () async throws -> T) async rethrows -> (value: T, elapsed: Duration) {
        let start = ContinuousClock.now
        let value = try await body()
        return (value, ContinuousClock.now - start)
    }
}

@Suite("PostgreSQL writer", .serialized,
       .enabled(if: PostgresTestDatabase.isConfigured, Comment(rawValue: PostgresTestDatabase.skipMessage)))
struct PostgresWriterTests {
    @Test("a lone publisher's appends never wait to gather; concurrent ones do, and every event is stored once in order")
    func gathering() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let store = try await PostgresTestDatabase.open(url)
            for n in 0..<20 { _ = try await store.append([newEvent("lone\(n)")]) }
            #expect(store.gatherWaits.load(ordering: .relaxed) == 0, "sequential appends form groups of one")

            let publishers = 8, perPublisher = 40
            let offsets = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for p in 0..<publishers {
                    group.addTask {
                        var offsets: [Int64] = []
                        for n in 0..<perPublisher {
                            let result = try await store.append([newEvent("p\(p)-\(n)")])
                            offsets.append(try #require(result.first).offset)
                        }
                        return offsets
                    }
                }
                var all: [[Int64]] = []
                for try await offsets in group { all.append(offsets) }
                return all
            }
            #expect(store.gatherWaits.load(ordering: .relaxed) > 0, "concurrent publishers: the writer let appends gather")
            for publisher in offsets { #expect(publisher == publisher.sorted() && Set(publisher).count == perPublisher) }
            let stored = try await store.events(after: 0, limit: 10_000)
            #expect(stored.count == 20 + publishers * perPublisher, "every event stored once")
            #expect(stored.map(\.offset) == stored.map(\.offset).sorted())
            try await store.close()
        }
    }
}

@Suite("PostgreSQL append statement", .serialized,
       .enabled(if: PostgresTestDatabase.isConfigured, Comment(rawValue: PostgresTestDatabase.skipMessage)))
struct PostgresLeanAppendTests {
    @Test("schema version 4 gets the lean append (5); new ids, stored ids and a mix answer as before, in input order")
    func migratesAndAnswersAlike() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            try await PostgresTestDatabase.createRecorded(version: 4, url: url)
            let store = try await PostgresTestDatabase.open(url)
            #expect(try await PostgresTestDatabase.recordedVersion(url)
                    == [String(PostgresSchema.currentVersion)])
            let body = try await PostgresTestDatabase.execute([
                "SELECT pg_get_functiondef('blobhub_append_v3(text[], text[], bigint[], text[], bytea[], text[], bigint[])'::regprocedure)",
            ], url: url)
            #expect(body.first?.contains("IF v_fresh IS NULL THEN") == true, "the version 5 body is installed")
            // All new: offsets in input order.
            let fresh = try await store.append([newEvent("a", keys: ["k1", "k2"]), newEvent("b"), newEvent("c")])
            #expect(fresh.map(\.offset) == [1, 2, 3] && fresh.allSatisfy { !$0.duplicate })
            // A mix: stored ids answer with their offsets, new ones get the next offsets in input order.
            let mixed = try await store.append([newEvent("d"), newEvent("a"), newEvent("e"), newEvent("d")])
            #expect(mixed.map(\.offset) == [4, 1, 5, 4])
            #expect(mixed.map(\.duplicate) == [false, true, false, true])
            // All stored.
            let again = try await store.append([newEvent("c"), newEvent("b")])
            #expect(again.map(\.offset) == [3, 2] && again.allSatisfy(\.duplicate))
            #expect(try await store.events(after: 0, limit: 10).map(\.id) == ["a", "b", "c", "d", "e"])
            #expect(try await store.events(withKey: "k2", after: 0, limit: 10).map(\.id) == ["a"])
            try await store.close()
        }
    }
}
