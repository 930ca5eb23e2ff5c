import Foundation
import Testing
@testable import BlobHubRealtimeStore

@Suite("Event log")
struct EventLogTests {
    @Test("a new log is empty", arguments: StoreKind.allCases)
    func emptyLog(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            #expect(try await store.headOffset() == 0)
            #expect(try await store.prunedThrough() == 0)
            #expect(try await store.events(after: 0, limit: 100).isEmpty)
            #expect(try await store.events(withKey: "k", after: 0, limit: 100).isEmpty)
            #expect(!store.epoch.isEmpty)
            #expect(await store.isHealthy())
        }
    }

    @Test("offsets are strictly increasing, in input order, and events come back byte-for-byte",
          arguments: StoreKind.allCases)
    func offsetsInInputOrder(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let first = [newEvent("c", createdAt: 30), newEvent("a", createdAt: 10), newEvent("b", createdAt: 20)]
            let results = try await store.append(first)
            #expect(results == [
                AppendResult(id: "c", offset: 1, duplicate: false),
                AppendResult(id: "a", offset: 2, duplicate: false),
                AppendResult(id: "b", offset: 3, duplicate: false),
            ])
            let second = try await store.append([newEvent("d"), newEvent("e")])
            #expect(second.map(\.offset) == [4, 5])
            #expect(try await store.headOffset() == 5)

            // Arbitrary bytes, keys with separators and non-ASCII text survive unchanged.
            let odd = NewEvent(id: "ödd:1", type: "type with spaces", createdAt: -7,
                               keys: ["3:x", "a|b|c", "é\u{301}", ":", "0"], json: Array(0...255))
            #expect(try await store.append([odd]).map(\.offset) == [6])

            let all = try await store.events(after: 0, limit: 100)
            #expect(all.map(\.offset) == [1, 2, 3, 4, 5, 6])
            #expect(all.map(\.id) == ["c", "a", "b", "d", "e", "ödd:1"])
            #expect(all[0] == StoredEvent(offset: 1, id: "c", type: "test", createdAt: 30, keys: ["k"],
                                          json: jsonBytes("c")))
            #expect(all[5] == StoredEvent(offset: 6, id: odd.id, type: odd.type, createdAt: odd.createdAt,
                                          keys: odd.keys, json: odd.json))
            #expect(try await store.events(after: 4, limit: 100).map(\.offset) == [5, 6])
            #expect(try await store.events(after: 1, limit: 2).map(\.offset) == [2, 3])
            #expect(try await store.events(after: -5, limit: 1).map(\.offset) == [1])
            #expect(try await store.events(after: 6, limit: 10).isEmpty)
            #expect(try await store.events(after: 0, limit: 0).isEmpty)
        }
    }

    @Test("an empty append stores nothing and does not call the observer", arguments: StoreKind.allCases)
    func emptyAppend(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            let recorder = ObserverRecorder()
            recorder.install(on: store)
            #expect(try await store.append([]).isEmpty)
            #expect(try await store.headOffset() == 0)
            #expect(recorder.recorded.isEmpty)
        }
    }

    static let invalidEvents: [(NewEvent, String)] = [
        (NewEvent(id: "x", type: "t", createdAt: 0, keys: [], json: jsonBytes("x")), "no routing keys"),
        (NewEvent(id: "x", type: "t", createdAt: 0, keys: (0...16).map { "k\($0)" }, json: jsonBytes("x")),
         "more than 16 routing keys"),
        (NewEvent(id: "x", type: "t", createdAt: 0, keys: ["k", ""], json: jsonBytes("x")), "empty routing key"),
        (NewEvent(id: "", type: "t", createdAt: 0, keys: ["k"], json: jsonBytes("x")), "empty id"),
        (NewEvent(id: "x", type: "t", createdAt: 0, keys: ["k"], json: []), "empty json"),
    ]

    @Test("a batch with an invalid event is rejected whole: nothing stored, head unchanged, no observer call",
          arguments: StoreKind.allCases, invalidEvents.indices)
    func atomicity(kind: StoreKind, invalid: Int) async throws {
        let (bad, reason) = Self.invalidEvents[invalid]
        try await withStore(kind) { store in
            let recorder = ObserverRecorder()
            recorder.install(on: store)
            _ = try await store.append([newEvent("before")])

            await #expect(throws: StoreError.invalidEvent(index: 2, reason: reason)) {
                try await store.append([newEvent("a"), newEvent("b"), bad, newEvent("c")])
            }
            #expect(try await store.headOffset() == 1)
            #expect(try await store.events(after: 0, limit: 100).map(\.id) == ["before"])
            #expect(try await store.events(withKey: "k", after: 0, limit: 100).map(\.id) == ["before"])
            #expect(recorder.offsets == [1])

            // No offset was consumed by the failed batch, and its ids are not known.
            let retry = try await store.append([newEvent("a"), newEvent("b")])
            #expect(retry == [AppendResult(id: "a", offset: 2, duplicate: false),
                              AppendResult(id: "b", offset: 3, duplicate: false)])
        }
    }

    @Test("exactly 16 keys are accepted", arguments: StoreKind.allCases)
    func sixteenKeys(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let keys = (1...16).map { "key-\($0)" }
            _ = try await store.append([newEvent("x", keys: keys)])
            #expect(try await store.events(after: 0, limit: 1).first?.keys == keys)
            #expect(try await store.events(withKey: "key-16", after: 0, limit: 1).map(\.id) == ["x"])
        }
    }

    @Test("duplicates across appends and within a batch return the original offset and are not observed",
          arguments: StoreKind.allCases)
    func duplicates(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let recorder = ObserverRecorder()
            recorder.install(on: store)
            _ = try await store.append([newEvent("a"), newEvent("b")])

            var changedA = newEvent("a", keys: ["other"])
            changedA.json = Array(#"{"changed":true}"#.utf8)
            let results = try await store.append([newEvent("c"), changedA, newEvent("c"), newEvent("d")])
            #expect(results == [
                AppendResult(id: "c", offset: 3, duplicate: false),
                AppendResult(id: "a", offset: 1, duplicate: true),
                AppendResult(id: "c", offset: 3, duplicate: true),
                AppendResult(id: "d", offset: 4, duplicate: false),
            ])
            #expect(recorder.recorded.map { $0.map(\.id) } == [["a", "b"], ["c", "d"]])

            // The original is kept unchanged.
            let stored = try await store.events(after: 0, limit: 100)
            #expect(stored.map(\.id) == ["a", "b", "c", "d"])
            #expect(stored[0].json == jsonBytes("a"))
            #expect(try await store.events(withKey: "other", after: 0, limit: 10).isEmpty)

            // An append of duplicates only stores nothing and is not observed.
            let again = try await store.append([newEvent("b"), newEvent("d")])
            #expect(again == [AppendResult(id: "b", offset: 2, duplicate: true),
                              AppendResult(id: "d", offset: 4, duplicate: true)])
            #expect(try await store.headOffset() == 4)
            #expect(recorder.recorded.count == 2)
        }
    }

    @Test("large batches with scattered duplicates keep offsets dense and in input order",
          arguments: StoreKind.allCases)
    func largeBatchesWithDuplicates(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let recorder = ObserverRecorder()
            recorder.install(on: store)
            let first = (0..<333).map { newEvent("id-\($0 * 2)", keys: ["k|\($0 % 5)", "all"]) }
            #expect(try await store.append(first).map(\.offset) == Array(1...333))

            // Odd ids are new, even ids below 666 are known; some ids repeat within the batch.
            var second: [NewEvent] = []
            var expected: [AppendResult] = []
            var next: Int64 = 333
            var seenInBatch: [String: Int64] = [:]
            for index in 0..<1_021 {
                let number = (index * 7) % 900
                let id = "id-\(number)"
                second.append(newEvent(id, keys: ["k|\(number % 5)", "all", "batch2"]))
                if number % 2 == 0, number < 666 {
                    expected.append(AppendResult(id: id, offset: Int64(number / 2 + 1), duplicate: true))
                } else if let offset = seenInBatch[id] {
                    expected.append(AppendResult(id: id, offset: offset, duplicate: true))
                } else {
                    next += 1
                    seenInBatch[id] = next
                    expected.append(AppendResult(id: id, offset: next, duplicate: false))
                }
            }
            let results = try await store.append(second)
            #expect(results == expected)
            #expect(try await store.headOffset() == next)
            #expect(recorder.offsets == Array(1...next))

            let all = try await store.events(after: 0, limit: 10_000)
            #expect(all.map(\.offset) == Array(1...next))
            let byID = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
            for result in results {
                #expect(byID[result.id]?.offset == result.offset)
            }
            let batch2 = try await store.events(withKey: "batch2", after: 0, limit: 10_000)
            #expect(batch2.map(\.offset) == Array(334...next))
            #expect(try await store.events(withKey: "all", after: 0, limit: 10_000).count == Int(next))
        }
    }

    @Test("the observer is called with the stored events before append returns", arguments: StoreKind.allCases)
    func observerBeforeReturn(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let recorder = ObserverRecorder()
            recorder.install(on: store)
            let event = newEvent("x", keys: ["k1", "k2"], createdAt: 42, type: "flow.started")
            _ = try await store.append([event])
            #expect(recorder.recorded == [[StoredEvent(offset: 1, id: "x", type: "flow.started", createdAt: 42,
                                                        keys: ["k1", "k2"], json: event.json)]])
        }
    }

    @Test("many concurrent appenders: the observer sees batches in offset order, exactly 1...N",
          arguments: StoreKind.allCases)
    func concurrentObserverOrder(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let recorder = ObserverRecorder()
            recorder.install(on: store)
            let tasks = 8
            let appendsPerTask = 50
            let results = try await withThrowingTaskGroup(of: [[AppendResult]].self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        var mine: [[AppendResult]] = []
                        for append in 0..<appendsPerTask {
                            let size = 1 + (task + append) % 3
                            let batch = (0..<size).map { newEvent("t\(task)-a\(append)-e\($0)", keys: ["task|\(task)"]) }
                            mine.append(try await store.append(batch))
                        }
                        return mine
                    }
                }
                var all: [[AppendResult]] = []
                for try await mine in group { all += mine }
                return all
            }
            let total = results.reduce(0) { $0 + $1.count }
            #expect(recorder.offsets == Array(1...Int64(total)))
            // Memory: each observed batch is exactly one append's result. SQLite commits a group of appends in one
            // transaction and reports it as one batch, and a cluster store's observer gets what its tailer read:
            // there batches may merge appends, but never split one (its offsets land in a single observed batch).
            if kind == .memory {
                #expect(recorder.recorded.count == tasks * appendsPerTask)
                let returned = Set(results.map { $0.map(\.offset) })
                let observed = Set(recorder.recorded.map { $0.map(\.offset) })
                #expect(returned == observed)
            } else if kind == .sqlite {
                var batchOf: [Int64: Int] = [:]
                for (index, batch) in recorder.recorded.enumerated() {
                    for event in batch { batchOf[event.offset] = index }
                }
                for append in results {
                    #expect(Set(append.map { batchOf[$0.offset] ?? -1 }).count == 1, "\(append.map(\.offset)) split")
                }
            }
            #expect(try await store.headOffset() == Int64(total))
            // Within one task, offsets increase with the order of its appends.
            for task in 0..<tasks {
                let offsets = try await store.events(withKey: "task|\(task)", after: 0, limit: 10_000).map(\.offset)
                #expect(offsets == offsets.sorted())
                #expect(offsets.count == (0..<appendsPerTask).reduce(0) { $0 + 1 + (task + $1) % 3 })
            }
        }
    }

    @Test("events(withKey:) filters by key, honours after and limit, ascending", arguments: StoreKind.allCases)
    func eventsWithKey(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.append([
                newEvent("1", keys: ["session|s1", "execution|e1"]),
                newEvent("2", keys: ["session|s2"]),
                newEvent("3", keys: ["session|s1"]),
                newEvent("4", keys: ["execution|e1", "session|s1", "session|s1"]),
                newEvent("5", keys: ["session|s1x"]),
            ])
            let s1 = try await store.events(withKey: "session|s1", after: 0, limit: 100)
            #expect(s1.map(\.offset) == [1, 3, 4])
            #expect(s1[2].keys == ["execution|e1", "session|s1"])  // the repeated key is stored once
            #expect(try await store.events(withKey: "session|s1", after: 1, limit: 100).map(\.offset) == [3, 4])
            #expect(try await store.events(withKey: "session|s1", after: 3, limit: 100).map(\.offset) == [4])
            #expect(try await store.events(withKey: "session|s1", after: 4, limit: 100).isEmpty)
            #expect(try await store.events(withKey: "session|s1", after: 0, limit: 2).map(\.offset) == [1, 3])
            #expect(try await store.events(withKey: "session|s1", after: 0, limit: 0).isEmpty)
            #expect(try await store.events(withKey: "execution|e1", after: 0, limit: 100).map(\.offset) == [1, 4])
            #expect(try await store.events(withKey: "session|s2", after: 0, limit: 100).map(\.id) == ["2"])
            #expect(try await store.events(withKey: "session|", after: 0, limit: 100).isEmpty)
            #expect(try await store.events(withKey: "unknown", after: 0, limit: 100).isEmpty)
        }
    }

    @Test("a closed store is unhealthy and refuses work", arguments: [StoreKind.memory, .sqlite])
    func closing(kind: StoreKind) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store: any RealtimeStore = kind == .memory
            ? MemoryStore() : try SQLiteStore(path: directory.path("closing.sqlite"))
        _ = try await store.append([newEvent("a")])
        #expect(await store.isHealthy())
        try await store.close()
        #expect(!(await store.isHealthy()))
        await #expect(throws: (any Error).self) { try await store.append([newEvent("b")]) }
        await #expect(throws: (any Error).self) { try await store.events(after: 0, limit: 10) }
        await #expect(throws: (any Error).self) { try await store.registryRows() }
        try await store.close()  // closing twice is harmless
    }

    @Test("every MemoryStore is a new log with its own epoch")
    func memoryEpochs() {
        let epochs = Set((0..<10).map { _ in MemoryStore().epoch })
        #expect(epochs.count == 10)
    }
}
