import BlobHubRealtimeRegistry
import Foundation
import GRDB
import Synchronization
import Testing
@testable import BlobHubRealtimeStore

@Suite("SQLite store")
struct SQLiteStoreTests {
    @Test("the writer runs in WAL mode with synchronous = FULL")
    func durabilitySettings() async throws {
        try await withDatabasePath { path in
            let store = try SQLiteStore(path: path)
            let settings = try await store.writerSettings()
            #expect(settings.journalMode == "wal")
            #expect(settings.synchronous == 2)
            try await store.close()
        }
    }

    @Test("close and reopen: same epoch, head, pruned point, events and registry; appends continue")
    func restart(  ) async throws {
        try await withDatabasePath { path in
            let epoch: String
            do {
                let store = try SQLiteStore(path: path)
                epoch = store.epoch
                _ = try await store.append((1...6).map { newEvent("e\($0)", keys: ["all", "n|\($0)"]) })
                _ = try await store.prune(RetentionPolicy(maxAgeMs: .max, maxEvents: 4), nowMs: 0)
                try await store.persist(RegistryRows(upserts: [
                    RegistryRow(kind: "organization", id: "o1", data: Array(#"{"name":"A"}"#.utf8)),
                ]))
                try await store.close()
            }

            let reopened = try SQLiteStore(path: path)
            let recorder = ObserverRecorder()
            recorder.install(on: reopened)
            #expect(reopened.epoch == epoch)
            #expect(try await reopened.headOffset() == 6)
            #expect(try await reopened.prunedThrough() == 2)
            let events = try await reopened.events(after: 0, limit: 100)
            #expect(events.map(\.offset) == [3, 4, 5, 6])
            #expect(events.first == StoredEvent(offset: 3, id: "e3", type: "test", createdAt: 1_000,
                                                keys: ["all", "n|3"], json: jsonBytes("e3")))
            #expect(try await reopened.events(withKey: "n|5", after: 0, limit: 10).map(\.id) == ["e5"])
            #expect(try await reopened.registryRows() == [
                RegistryRow(kind: "organization", id: "o1", data: Array(#"{"name":"A"}"#.utf8)),
            ])

            // New appends continue after the old head; ids stored before the restart are still duplicates.
            let results = try await reopened.append([newEvent("e7"), newEvent("e4")])
            #expect(results == [AppendResult(id: "e7", offset: 7, duplicate: false),
                                AppendResult(id: "e4", offset: 4, duplicate: true)])
            #expect(recorder.offsets == [7])
            try await reopened.close()
        }
    }

    @Test("offsets are never reused, even when the newest events were pruned before a restart")
    func offsetsNotReusedAfterPruningEverything() async throws {
        try await withDatabasePath { path in
            do {
                let store = try SQLiteStore(path: path)
                _ = try await store.append([newEvent("a"), newEvent("b"), newEvent("c")])
                #expect(try await store.prune(RetentionPolicy(maxAgeMs: 0, maxEvents: 0), nowMs: .max) == 3)
                try await store.close()
            }
            let store = try SQLiteStore(path: path)
            #expect(try await store.headOffset() == 3)
            #expect(try await store.prunedThrough() == 3)
            #expect(try await store.append([newEvent("d")]).map(\.offset) == [4])
            try await store.close()
        }
    }

    @Test("a fresh database gets a new epoch")
    func freshEpoch() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try SQLiteStore(path: directory.path("a.sqlite"))
        let second = try SQLiteStore(path: directory.path("b.sqlite"))
        #expect(first.epoch != second.epoch)
        try await first.close()
        try await second.close()

        // Recreating a database (delete and open again) also gives a new epoch.
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: directory.path("a.sqlite") + suffix)
        }
        let recreated = try SQLiteStore(path: directory.path("a.sqlite"))
        #expect(recreated.epoch != first.epoch)
        try await recreated.close()
    }

    @Test("pruning more than a chunk deletes in several transactions and ends where one would")
    func pruneInChunks() async throws {
        try await withDatabasePath { path in
            let store = try SQLiteStore(path: path)
            let total = SQLiteStore.pruneChunk * 2 + 500
            for start in stride(from: 0, to: total, by: 1000) {
                _ = try await store.append((start..<min(total, start + 1000)).map { newEvent("e\($0)", keys: ["all", "n|\($0 % 7)"]) })
            }
            let removed = try await store.prune(RetentionPolicy(maxAgeMs: .max, maxEvents: 300), nowMs: 0)
            #expect(removed == total - 300)
            #expect(try await store.prunedThrough() == Int64(total - 300))
            #expect(try await store.events(after: 0, limit: 1000).map(\.offset) == Array(Int64(total - 299)...Int64(total)))
            #expect(try await store.events(withKey: "n|3", after: 0, limit: 1000).allSatisfy { $0.offset > Int64(total - 300) })
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: .max, maxEvents: 300), nowMs: 0) == 0)
            // Chunks commit without an fsync of their own; appends after a prune are durable again (FULL).
            #expect(try await store.writerSettings().synchronous == 2)
            try await store.close()
        }
    }

    @Test("a small batch holding an id already in the log: the insert without lookup fails alone, the lookup answers")
    func optimisticInsertFallsBackToTheLookup() async throws {
        try await withDatabasePath { path in
            let store = try SQLiteStore(path: path)
            let recorder = ObserverRecorder()
            recorder.install(on: store)
            _ = try await store.append([newEvent("a"), newEvent("b")])
            // No id repeated within the batch (the insert is tried first), one of them known.
            #expect(try await store.append([newEvent("c"), newEvent("a"), newEvent("d")]) == [
                AppendResult(id: "c", offset: 3, duplicate: false),
                AppendResult(id: "a", offset: 1, duplicate: true),
                AppendResult(id: "d", offset: 4, duplicate: false),
            ])
            // The largest batch tried without lookup, its last id known.
            let batch = (0..<31).map { newEvent("f\($0)") } + [newEvent("b")]
            let results = try await store.append(batch)
            #expect(results.map(\.offset) == Array(5...35) + [2])
            #expect(results.last?.duplicate == true)
            #expect(try await store.events(after: 0, limit: 100).map(\.id) == ["a", "b", "c", "d"] + (0..<31).map { "f\($0)" })
            #expect(recorder.offsets == Array(1...35))
            #expect(store.groupRetries.load(ordering: .relaxed) == 0)
            try await store.close()
        }
    }

    @Test("pruning sweeps the pruned events' keys out of the key index, over several sweep steps")
    func pruneSweepsTheKeyIndex() async throws {
        try await withDatabasePath { path in
            // Every key indexed at once; a key of its own per event (more distinct keys than a sweep step visits)
            // and one key on every event (more pruned entries than a step deletes: continued over steps).
            let store = try SQLiteStore(path: path, keyIndexLag: 1)
            let total = 2_600
            #expect(total - 100 > SQLiteStore.keysPerSweepStep * 5)
            #expect(total - 100 > SQLiteStore.entriesPerSweepStep * 2)
            _ = try await store.append((1...total).map { newEvent("e\($0)", keys: ["all", "n|\($0 % 7)", "e|\($0)"]) })
            #expect(try await store.keyIndexState().rows == total * 3)
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: .max, maxEvents: 100), nowMs: 0) == total - 100)
            // Only the retained events' keys are left, and reads by key still find exactly those.
            #expect(try await store.keyIndexState().rows == 100 * 3)
            #expect(try await store.events(withKey: "all", after: 0, limit: 1000).map(\.offset) == Array(2_501...2_600))
            #expect(try await store.events(withKey: "n|3", after: 0, limit: 1000).map(\.offset) == (2_501...2_600).filter { $0 % 7 == 3 })
            #expect(try await store.events(withKey: "e|42", after: 0, limit: 10).isEmpty)
            try await store.close()
        }
    }

    @Test("entries of pruned events the sweep has not reached are never read, and the next prune sweeps them")
    func unsweptEntriesAreInvisibleAndSweptLater() async throws {
        try await withDatabasePath { path in
            let store = try SQLiteStore(path: path, keyIndexLag: 1)
            _ = try await store.append((1...80).map { newEvent("e\($0)", keys: ["all", "n|\($0 % 3)"]) })
            // Events deleted behind the sweep's back (as a crash between a prune's chunks and its sweep leaves them).
            try await store.executeOnWriter("DELETE FROM events WHERE log_offset <= 50")
            try await store.executeOnWriter("UPDATE meta SET value = '50' WHERE key = 'pruned_through'")
            #expect(try await store.keyIndexState().rows == 160)
            #expect(try await store.events(withKey: "all", after: 0, limit: 100).map(\.offset) == Array(51...80))
            #expect(try await store.events(withKey: "n|1", after: 10, limit: 5).map(\.offset) == [52, 55, 58, 61, 64])
            // A prune that removes nothing still finishes the sweep.
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: .max, maxEvents: 1000), nowMs: 0) == 0)
            #expect(try await store.keyIndexState().rows == 60)
            try await store.close()
        }
    }

    @Test("a v2 file loses the index by offset it no longer needs (v3) and prunes as before")
    func migrationFromV2() async throws {
        try await withDatabasePath { path in
            let store = try SQLiteStore(path: path, keyIndexLag: 1)
            _ = try await store.append((1...20).map { newEvent("e\($0)", keys: ["k"]) })
            try await store.close()
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in
                try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v3'")
                try db.execute(sql: "CREATE INDEX event_keys_by_offset ON event_keys (log_offset)")
            }
            try queue.close()

            let migrated = try SQLiteStore(path: path, keyIndexLag: 1)
            let indexes = try await migrated.schemaIndexNames()
            #expect(!indexes.contains("event_keys_by_offset"))
            #expect(try await migrated.prune(RetentionPolicy(maxAgeMs: .max, maxEvents: 5), nowMs: 0) == 15)
            #expect(try await migrated.keyIndexState().rows == 5)
            #expect(try await migrated.events(withKey: "k", after: 0, limit: 100).map(\.id) == (16...20).map { "e\($0)" })
            try await migrated.close()
        }
    }

    @Test("reads by key agree with a filter of the whole log wherever the key index stands",
          arguments: [(1, 64), (3, 64), (7, 64), (1024, 64), (3, 2), (7, 1)] as [(Int64, Int)])
    func keyIndexBehindTheLog(lag: Int64, keysPerStep: Int) async throws {
        try await withDatabasePath { path in
            let store = try SQLiteStore(path: path, keyIndexLag: lag, keysPerIndexStep: keysPerStep)
            // A fixed pseudo-random sequence: batches of 1–9 events over 6 keys, some of whose encodings
            // occur inside others' ("3:s|1" in "6:a3:s|1"), repeated ids, and a prune midway.
            var seed: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(lag)
            func next(_ bound: Int) -> Int {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Int((seed >> 33) % UInt64(bound))
            }
            let keyPool = ["all", "s|1", "s|10", "a3:s|1", "x", "s|2"]
            var id = 0
            for round in 0..<60 {
                let batch = (0..<(1 + next(9))).map { _ -> NewEvent in
                    id += 1
                    let keys = Array(Set((0..<(1 + next(3))).map { _ in keyPool[next(keyPool.count)] })).sorted()
                    return newEvent(next(10) == 0 ? "e\(max(1, id - 3))" : "e\(id)", keys: keys)
                }
                _ = try await store.append(batch)
                if round == 30 {
                    _ = try await store.prune(RetentionPolicy(maxAgeMs: .max, maxEvents: 40), nowMs: 0)
                }
            }
            let all = try await store.events(after: 0, limit: 100_000)
            let head = try await store.headOffset()
            for key in keyPool {
                let expected = all.filter { $0.keys.contains(key) }
                for after in stride(from: Int64(0), through: head, by: 5) {
                    for limit in [1, 4, 1000] {
                        let got = try await store.events(withKey: key, after: after, limit: limit)
                        #expect(got == Array(expected.filter { $0.offset > after }.prefix(limit)),
                                "key \(key) after \(after) limit \(limit)")
                    }
                }
            }
            try await store.close()

            // Reopened (the index and its mark are on disk), the reads are the same.
            let reopened = try SQLiteStore(path: path, keyIndexLag: lag, keysPerIndexStep: keysPerStep)
            #expect(try await reopened.events(withKey: "s|1", after: 0, limit: 1000)
                    == all.filter { $0.keys.contains("s|1") })
            try await reopened.close()
        }
    }

    @Test("the key index trails the log by less than its lag after every commit")
    func keyIndexStaysWithinItsLag() async throws {
        try await withDatabasePath { path in
            let store = try SQLiteStore(path: path, keyIndexLag: 10)
            for index in 1...25 {
                _ = try await store.append([newEvent("e\(index)", keys: ["k", "n|\(index)"])])
                let (indexed, rows) = try await store.keyIndexState()
                #expect(Int64(index) - indexed < 10)
                #expect(rows == Int(indexed) * 2)  // every indexed event's two keys, nothing beyond the mark
            }
            // 25 events with a lag of 10: indexed at the commits of events 10 and 20.
            #expect(try await store.keyIndexState().indexedThrough == 20)
            try await store.close()
        }
    }

    @Test("an indexing step stays within its keys, and the index never trails by 4 x its lag")
    func keyIndexStepsAreBounded() async throws {
        try await withDatabasePath { path in
            // Every event has a key of its own: a step of at most 4 keys indexes at most 4 events.
            let store = try SQLiteStore(path: path, keyIndexLag: 5, keysPerIndexStep: 4)
            var previous: Int64 = 0
            for index in 1...60 {
                _ = try await store.append([newEvent("e\(index)", keys: ["n|\(index)"])])
                let indexed = try await store.keyIndexState().indexedThrough
                #expect(indexed - previous <= 4 || Int64(index) - previous >= 20, "step \(previous) -> \(indexed)")
                #expect(Int64(index) - indexed < 20)
                previous = indexed
            }
            #expect(try await store.events(withKey: "n|17", after: 0, limit: 5).map(\.id) == ["e17"])
            #expect(try await store.events(withKey: "n|60", after: 0, limit: 5).map(\.id) == ["e60"])
            try await store.close()
        }
    }

    @Test("a v1 file (every key indexed at its commit) is migrated: its events count as indexed")
    func migrationFromV1() async throws {
        try await withDatabasePath { path in
            // A lag of 1 indexes every commit, as v1 did; then the file is turned back into a v1 one.
            let store = try SQLiteStore(path: path, keyIndexLag: 1)
            _ = try await store.append((1...5).map { newEvent("e\($0)", keys: ["k", "n|\($0)"]) })
            try await store.close()
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in
                try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v2'")
                try db.execute(sql: "DELETE FROM meta WHERE key = 'keys_indexed_through'")
            }
            try queue.close()

            let migrated = try SQLiteStore(path: path)
            #expect(try await migrated.keyIndexState() == (5, 10))
            #expect(try await migrated.events(withKey: "n|3", after: 0, limit: 10).map(\.id) == ["e3"])
            _ = try await migrated.append([newEvent("e6", keys: ["k"])])
            #expect(try await migrated.events(withKey: "k", after: 4, limit: 10).map(\.id) == ["e5", "e6"])
            try await migrated.close()
        }
    }

    @Test("a file migrated by a newer server is refused at open, untouched")
    func newerSchema() async throws {
        try await withDatabasePath { path in
            try await SQLiteStore(path: path).close()
            let queue = try DatabaseQueue(path: path)
            try await queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
            try queue.close()
            #expect(throws: StoreError.corrupt("its schema is newer than this server's (unknown migrations); upgrade the server")) {
                _ = try SQLiteStore(path: path)
            }
            let after = try DatabaseQueue(path: path)
            #expect(try await after.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier") }
                    == ["v1", "v2", "v3", "v99-from-the-future"])
            try after.close()
        }
    }

    @Test("a file that is not a SQLite database is refused at open and left as it was")
    func notADatabase() async throws {
        try await withDatabasePath { path in
            let garbage = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
            try garbage.write(to: URL(fileURLWithPath: path))
            #expect(throws: (any Error).self) { _ = try SQLiteStore(path: path) }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == garbage)
        }
    }

    @Test("an unopenable path throws")
    func badPath() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: (any Error).self) {
            _ = try SQLiteStore(path: directory.path("missing-directory/x.sqlite"))
        }
    }

    @Test("two stores on one file see each other's commits (readers see committed data only)")
    func sharedFile() async throws {
        try await withDatabasePath { path in
            let writer = try SQLiteStore(path: path)
            let reader = try SQLiteStore(path: path)
            #expect(writer.epoch == reader.epoch)
            _ = try await writer.append([newEvent("a")])
            #expect(try await reader.headOffset() == 1)
            #expect(try await reader.events(after: 0, limit: 10).map(\.id) == ["a"])

            // Appending through both at once still yields unique, dense offsets.
            async let fromWriter = (0..<20).asyncMap { try await writer.append([newEvent("w\($0)"), newEvent("w\($0)b")]) }
            async let fromReader = (0..<20).asyncMap { try await reader.append([newEvent("r\($0)")]) }
            let offsets = try await (fromWriter + fromReader).flatMap { $0.map(\.offset) }
            #expect(offsets.sorted() == Array(2...61))
            try await writer.close()
            try await reader.close()
        }
    }

    @Test("key lists encode unambiguously", arguments: [
        [] as [String], ["k"], ["3:abc", "a|b", ":", "::1", "10:", "é\u{301}", "\u{301}", "日本", "a\nb", "12345678901"],
    ])
    func keyListCoding(keys: [String]) throws {
        #expect(try KeyListCoding.decode(KeyListCoding.encode(keys)) == keys)
    }

    @Test("malformed key lists are reported", arguments: ["x", "3:ab", "1", ":a", "1:a2"])
    func malformedKeyList(text: String) {
        #expect(throws: StoreError.self) { try KeyListCoding.decode(text) }
    }
}

@Suite("SQLite group commit")
struct SQLiteGroupCommitTests {
    static let failingTrigger = """
        CREATE TRIGGER fail_boom BEFORE INSERT ON events WHEN NEW.id = 'boom'
        BEGIN SELECT RAISE(ABORT, 'boom rejected'); END
        """

    @Test("a database error inside an append rolls back the whole append")
    func databaseErrorIsAtomic() async throws {
        try await withDatabasePath { path in
            let store = try SQLiteStore(path: path)
            let recorder = ObserverRecorder()
            recorder.install(on: store)
            try await store.executeOnWriter(Self.failingTrigger)
            _ = try await store.append([newEvent("first")])
            await #expect(throws: (any Error).self) {
                try await store.append([newEvent("a"), newEvent("boom"), newEvent("b")])
            }
            #expect(try await store.headOffset() == 1)
            #expect(try await store.events(after: 0, limit: 10).map(\.id) == ["first"])
            #expect(recorder.offsets == [1])
            #expect(try await store.append([newEvent("a")]).map(\.offset) == [2])
            try await store.close()
        }
    }

    @Test("appends queued behind a running transaction commit together; a failing one is isolated")
    func groupedAppendsKeepTheirOwnOutcome() async throws {
        try await withDatabasePath { path in
            let store = try SQLiteStore(path: path)
            try await store.executeOnWriter(Self.failingTrigger)
            let gate = Gate()
            let observed = ObserverRecorder()
            store.setCommitObserver { events in
                observed.record(events)
                if events.first?.id == "holder" { gate.waitUntilOpened() }  // holds the writer
            }
            let holder = Task { try await store.append([newEvent("holder")]) }
            try await waitUntil { observed.offsets == [1] }

            let ok1 = Task { try await store.append([newEvent("ok1"), newEvent("ok1b")]) }
            try await waitUntil { store.waitingAppendCount == 1 }
            let boom = Task { try await store.append([newEvent("x"), newEvent("boom")]) }
            try await waitUntil { store.waitingAppendCount == 2 }
            let ok2 = Task { try await store.append([newEvent("ok2"), newEvent("ok1")]) }
            try await waitUntil { store.waitingAppendCount == 3 }
            gate.open()

            #expect(try await holder.value.map(\.offset) == [1])
            #expect(try await ok1.value == [AppendResult(id: "ok1", offset: 2, duplicate: false),
                                            AppendResult(id: "ok1b", offset: 3, duplicate: false)])
            await #expect(throws: (any Error).self) { try await boom.value }
            #expect(try await ok2.value == [AppendResult(id: "ok2", offset: 4, duplicate: false),
                                            AppendResult(id: "ok1", offset: 2, duplicate: true)])
            #expect(store.groupRetries.load(ordering: .relaxed) == 1)
            #expect(observed.recorded.map { $0.map(\.id) } == [["holder"], ["ok1", "ok1b"], ["ok2"]])
            #expect(try await store.events(after: 0, limit: 10).map(\.id) == ["holder", "ok1", "ok1b", "ok2"])
            #expect(try await store.headOffset() == 4)
            try await store.close()
        }
    }

    @Test("appends queued behind a running transaction share it and keep queue order")
    func groupedAppendsInOrder() async throws {
        try await withDatabasePath { path in
            let store = try SQLiteStore(path: path)
            let gate = Gate()
            let observed = ObserverRecorder()
            store.setCommitObserver { events in
                observed.record(events)
                if events.first?.id == "holder" { gate.waitUntilOpened() }
            }
            let holder = Task { try await store.append([newEvent("holder")]) }
            try await waitUntil { observed.offsets == [1] }
            var tasks: [Task<[AppendResult], any Error>] = []
            for index in 0..<5 {
                tasks.append(Task { try await store.append([newEvent("g\(index)"), newEvent("holder")]) })
                try await waitUntil { store.waitingAppendCount == index + 1 }
            }
            gate.open()
            _ = try await holder.value
            for (index, task) in tasks.enumerated() {
                #expect(try await task.value == [AppendResult(id: "g\(index)", offset: Int64(index) + 2, duplicate: false),
                                                 AppendResult(id: "holder", offset: 1, duplicate: true)])
            }
            #expect(observed.offsets == Array(1...6))
            // The holder's transaction, then the five queued appends in one transaction, reported as one batch.
            #expect(observed.recorded.map { $0.map(\.offset) } == [[1], [2, 3, 4, 5, 6]])
            #expect(store.groupRetries.load(ordering: .relaxed) == 0)
            try await store.close()
        }
    }

    @Test("a callback append is answered just before the observer runs; an async append returns after it")
    func answerAndObserverOrder() async throws {
        try await withDatabasePath { path in
            let store = try SQLiteStore(path: path)
            let observed = ObserverRecorder()
            observed.install(on: store)
            // Both run on the store's writer, one after the other: what the completion sees is deterministic.
            let seenAtAnswer = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Int64], any Error>) in
                store.append([newEvent("callback")]) { result in
                    continuation.resume(with: result.map { _ in observed.offsets })
                }
            }
            #expect(seenAtAnswer == [])
            try await waitUntil { observed.offsets == [1] }
            _ = try await store.append([newEvent("async")])
            #expect(observed.offsets == [1, 2])
            try await store.close()
        }
    }
}
