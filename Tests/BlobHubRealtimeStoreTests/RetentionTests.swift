import Testing
@testable import BlobHubRealtimeStore

@Suite("Retention")
struct RetentionTests {
    static let forever: Int64 = .max

    @Test("prune by count keeps the newest events; offsets continue after it", arguments: StoreKind.allCases)
    func pruneByCount(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.append((1...10).map { newEvent("e\($0)", keys: $0.isMultiple(of: 2) ? ["even", "all"] : ["all"]) })
            let removed = try await store.prune(RetentionPolicy(maxAgeMs: Self.forever, maxEvents: 4), nowMs: 0)
            #expect(removed == 6)
            #expect(try await store.prunedThrough() == 6)
            #expect(try await store.headOffset() == 10)
            #expect(try await store.events(after: 0, limit: 100).map(\.offset) == [7, 8, 9, 10])
            #expect(try await store.events(withKey: "even", after: 0, limit: 100).map(\.offset) == [8, 10])
            #expect(try await store.events(withKey: "all", after: 3, limit: 2).map(\.offset) == [7, 8])

            // Nothing more to prune.
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: Self.forever, maxEvents: 4), nowMs: 0) == 0)
            #expect(try await store.prunedThrough() == 6)

            // Offsets continue after the head; the next prune moves prunedThrough further.
            #expect(try await store.append([newEvent("e11")]).map(\.offset) == [11])
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: Self.forever, maxEvents: 4), nowMs: 0) == 1)
            #expect(try await store.prunedThrough() == 7)
            #expect(try await store.events(after: 0, limit: 100).map(\.offset) == [8, 9, 10, 11])

            // A pruned id is forgotten: appending it again stores it anew; retained ids are still duplicates.
            let again = try await store.append([newEvent("e1"), newEvent("e9")])
            #expect(again == [AppendResult(id: "e1", offset: 12, duplicate: false),
                              AppendResult(id: "e9", offset: 9, duplicate: true)])
        }
    }

    @Test("prune by age removes expired events; cutoff is exclusive", arguments: StoreKind.allCases)
    func pruneByAge(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.append([1000, 2000, 3000, 4000].map { newEvent("t\($0)", createdAt: $0) })
            // now 5000, max age 2000 → cutoff 3000: 1000 and 2000 are older, 3000 is not.
            let removed = try await store.prune(RetentionPolicy(maxAgeMs: 2000, maxEvents: 1_000_000), nowMs: 5000)
            #expect(removed == 2)
            #expect(try await store.prunedThrough() == 2)
            #expect(try await store.events(after: 0, limit: 10).map(\.id) == ["t3000", "t4000"])
            #expect(try await store.events(withKey: "k", after: 0, limit: 10).map(\.offset) == [3, 4])

            // Everything expired: the log is empty but the head is kept and offsets continue.
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: 2000, maxEvents: 1_000_000), nowMs: 100_000) == 2)
            #expect(try await store.prunedThrough() == 4)
            #expect(try await store.headOffset() == 4)
            #expect(try await store.events(after: 0, limit: 10).isEmpty)
            #expect(try await store.events(withKey: "k", after: 0, limit: 10).isEmpty)
            #expect(try await store.append([newEvent("next", createdAt: 100_000)]).map(\.offset) == [5])
        }
    }

    @Test("age and count apply together in one prune", arguments: StoreKind.allCases)
    func ageAndCount(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.append((1...10).map { newEvent("e\($0)", createdAt: Int64($0) * 100) })
            // Count alone would keep 6...10; age (cutoff 300) alone would keep 3...10.
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: 700, maxEvents: 5), nowMs: 1000) == 5)
            #expect(try await store.prunedThrough() == 5)
            // Age beyond count: cutoff 800 keeps 8...10.
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: 200, maxEvents: 5), nowMs: 1000) == 2)
            #expect(try await store.prunedThrough() == 7)
            #expect(try await store.events(after: 0, limit: 100).map(\.offset) == [8, 9, 10])
        }
    }

    @Test("retained events stay the contiguous tail: an expired event behind a younger one waits for it",
          arguments: StoreKind.allCases)
    func outOfOrderCreationTimes(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.append([newEvent("old", createdAt: 100), newEvent("young", createdAt: 5000),
                                        newEvent("late", createdAt: 100)])
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: 1000, maxEvents: 100), nowMs: 6000) == 1)
            #expect(try await store.prunedThrough() == 1)
            #expect(try await store.events(after: 0, limit: 10).map(\.id) == ["young", "late"])
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: 1000, maxEvents: 100), nowMs: 7000) == 2)
            #expect(try await store.prunedThrough() == 3)
        }
    }

    @Test("maxEvents 0 removes everything; nothing to prune returns 0", arguments: StoreKind.allCases)
    func edgeCases(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: 0, maxEvents: 0), nowMs: 0) == 0)
            #expect(try await store.prunedThrough() == 0)
            _ = try await store.append([newEvent("a"), newEvent("b")])
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: Self.forever, maxEvents: 10), nowMs: .max) == 0)
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: Self.forever, maxEvents: -3), nowMs: 0) == 2)
            #expect(try await store.prunedThrough() == 2)
            #expect(try await store.headOffset() == 2)
        }
    }

    @Test("a large log prunes and replays consistently", arguments: StoreKind.allCases)
    func largeLog(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for batch in 0..<10 {
                _ = try await store.append((0..<500).map {
                    newEvent("b\(batch)-\($0)", keys: ["all", "mod|\($0 % 7)"], createdAt: Int64(batch))
                })
            }
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: Self.forever, maxEvents: 1234), nowMs: 0) == 3766)
            #expect(try await store.prunedThrough() == 3766)
            let all = try await store.events(withKey: "all", after: 0, limit: 5000)
            #expect(all.map(\.offset) == Array(3767...5000))
            let mod3 = try await store.events(withKey: "mod|3", after: 0, limit: 5000)
            #expect(mod3.allSatisfy { $0.keys.contains("mod|3") })
            #expect(mod3.count == all.filter { $0.keys.contains("mod|3") }.count)
            // Age prune of the first batches still retained (created 7 and earlier; cutoff 8).
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: 2, maxEvents: 10_000), nowMs: 10) == 234)
            #expect(try await store.events(after: 0, limit: 1).first?.offset == 4001)
        }
    }
}
