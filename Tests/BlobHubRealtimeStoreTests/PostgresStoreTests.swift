import BlobHubRealtimeRegistry
import Foundation
import Synchronization
import Testing
@testable import BlobHubRealtimeStore

/// PostgreSQL-specific behaviour (the shared behaviour tests also run against PostgreSQL when it is configured).
@Suite("PostgreSQL store", .enabled(if: PostgresTestDatabase.isConfigured, Comment(rawValue: PostgresTestDatabase.skipMessage)))
struct PostgresStoreTests {
    @Test("the schema is created once: reopening keeps epoch, head, pruned point, events and registry")
    func reopen() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let first = try await PostgresTestDatabase.open(url)
            _ = try await first.append((1...5).map { newEvent("e\($0)", keys: ["k|\($0 % 2)"]) })
            try await first.persist(RegistryRows(upserts: [RegistryRow(kind: "organization", id: "o", data: Array("{}".utf8))]))
            #expect(try await first.prune(RetentionPolicy(maxAgeMs: .max, maxEvents: 3), nowMs: 0) == 2)
            try await first.close()

            let second = try await PostgresTestDatabase.open(url)
            #expect(second.epoch == first.epoch)
            #expect(try await second.headOffset() == 5)
            #expect(try await second.prunedThrough() == 2)
            #expect(try await second.events(after: 0, limit: 10).map(\.id) == ["e3", "e4", "e5"])
            #expect(try await second.registryRows().map(\.id) == ["o"])
            #expect(try await second.append([newEvent("e6")]).map(\.offset) == [6])
            let version = try await PostgresTestDatabase.recordedVersion(url)
            #expect(version == [String(PostgresSchema.currentVersion)])
            try await second.close()
        }
    }

    @Test("a database migrated by a newer server is refused at open, untouched")
    func newerSchema() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            try await PostgresTestDatabase.createRecorded(version: 999, url: url)
            await #expect(throws: StoreError.corrupt("schema version 999 is newer than this server's (\(PostgresSchema.currentVersion)); upgrade the server")) {
                try await PostgresTestDatabase.open(url).close()
            }
            #expect(try await PostgresTestDatabase.recordedVersion(url) == ["999"])
        }
    }

    @Test("a missing counters row is reported as corruption")
    func missingCounters() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            try await PostgresTestDatabase.open(url).close()
            try await PostgresTestDatabase.execute(["DELETE FROM blobhub_counters WHERE name = 'registry_version'"], url: url)
            await #expect(throws: StoreError.corrupt("blobhub_counters is missing rows")) {
                try await PostgresTestDatabase.open(url).close()
            }
        }
    }

    @Test("offsets are never reused, even when the newest events were pruned")
    func noReuseAfterPrune() async throws {
        try await PostgresTestDatabase.withStore { store in
            _ = try await store.append([newEvent("a"), newEvent("b")])
            #expect(try await store.prune(RetentionPolicy(maxAgeMs: .max, maxEvents: 0), nowMs: 0) == 2)
            #expect(try await store.append([newEvent("c")]).map(\.offset) == [3])
            // A pruned id is no longer known and is stored again.
            #expect(try await store.append([newEvent("a")]) == [AppendResult(id: "a", offset: 4, duplicate: false)])
        }
    }

    @Test("nodes starting at once on an empty database migrate once and share one epoch")
    func concurrentStart() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
                for _ in 0..<4 { group.addTask { try await PostgresTestDatabase.open(url) } }
                var stores: [PostgresStore] = []
                for try await store in group { stores.append(store) }
                return stores
            }
            #expect(Set(stores.map(\.epoch)).count == 1)
            for store in stores { try await store.close() }
        }
    }

    @Test("a fresh database gets a new epoch")
    func freshEpoch() async throws {
        let first = try await PostgresTestDatabase.withDatabase { url in
            let store = try await PostgresTestDatabase.open(url)
            try await store.close()
            return store.epoch
        }
        let second = try await PostgresTestDatabase.withDatabase { url in
            let store = try await PostgresTestDatabase.open(url)
            try await store.close()
            return store.epoch
        }
        #expect(first != second)
    }

    @Test("two nodes appending concurrently: dense unique offsets; each node's observer sees all of them once, in order")
    func twoNodes() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let a = try await PostgresTestDatabase.open(url)
            let b = try await PostgresTestDatabase.open(url)
            #expect(a.epoch == b.epoch)
            let seenByA = ObserverRecorder()
            let seenByB = ObserverRecorder()
            seenByA.install(on: a)
            seenByB.install(on: b)
            async let fromA = (0..<40).asyncMap { try await a.append([newEvent("a\($0)"), newEvent("a\($0)b")]) }
            async let fromB = (0..<40).asyncMap { try await b.append([newEvent("b\($0)")]) }
            let offsets = try await (fromA + fromB).flatMap { $0.map(\.offset) }
            #expect(offsets.sorted() == Array(1...120))
            try await waitUntil { seenByA.offsets.count >= 120 && seenByB.offsets.count >= 120 }
            #expect(seenByA.offsets == Array(1...120))
            #expect(seenByB.offsets == Array(1...120))
            // The same id published on both nodes is stored once.
            let onA = try await a.append([newEvent("same")])
            let onB = try await b.append([newEvent("same")])
            #expect(onA == [AppendResult(id: "same", offset: 121, duplicate: false)])
            #expect(onB == [AppendResult(id: "same", offset: 121, duplicate: true)])
            try await a.close()
            try await b.close()
        }
    }

    /// Another node's append, by hand: a writer session (so the watermark waits for it) takes the next offset,
    /// stores `id` and keeps its transaction open for `seconds` before it commits.
    static func foreignAppend(id: String, holdingFor seconds: Int, url: String) async throws {
        _ = try await PostgresTestDatabase.execute([
            "SELECT pg_try_advisory_lock_shared(\(PostgresLogFunctions.writerLockClass), 1)::text",
            "BEGIN",
            "SELECT pg_current_xact_id()::text",
            "INSERT INTO blobhub_events VALUES (nextval('blobhub_offsets'), '\(id)', 'test', 1000, '\(KeyListCoding.encode(["k"]))', '\\x7b7d')",
            "INSERT INTO blobhub_event_keys VALUES ('k', currval('blobhub_offsets'))",
            "SELECT pg_sleep(\(seconds))",
            "COMMIT",
        ], url: url)
    }

    /// Until a ``foreignAppend(id:holdingFor:url:)`` sleeps inside its transaction (row inserted, not committed).
    static func waitUntilSleeping(_ seconds: Int, url: String) async throws {
        for _ in 0..<200 {
            let sleeping = try await PostgresTestDatabase.execute([
                "SELECT count(*)::text FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(\(seconds))' AND state = 'active'",
            ], url: url)
            if sleeping == ["1"] { return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The append statement's duplicate lookup uses its snapshot; an id inserted meanwhile by another node's
    /// transaction makes its insert wait for that transaction and, once it committed, fail; the group is written again.
    @Test("an id another node is inserting while an append runs is answered as a duplicate of that node's event")
    func duplicateRacingAnotherNode() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let store = try await PostgresTestDatabase.open(url)
            _ = try await store.append([newEvent("first")])
            // Another node (a writer session, so the watermark waits for it) has taken offset 2, stored "raced" and
            // commits a little later.
            async let other: Void = Self.foreignAppend(id: "raced", holdingFor: 2, url: url)
            try await Self.waitUntilSleeping(2, url: url)
            let results = try await store.append([newEvent("raced"), newEvent("after")])
            try await other
            #expect(results.first == AppendResult(id: "raced", offset: 2, duplicate: true))
            #expect(results.count == 2 && results[1].id == "after" && !results[1].duplicate && results[1].offset > 2)
            #expect(try await store.events(after: 0, limit: 10).map(\.id) == ["first", "raced", "after"])
            try await store.close()
        }
    }

    /// Offsets are taken in one order and may commit in another; readers wait for the watermark.
    @Test("an event committed after a later offset is still read and delivered before it")
    func outOfOrderCommitIsReadInOffsetOrder() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let writer = try await PostgresTestDatabase.open(url)
            let reader = try await PostgresTestDatabase.open(url)
            let seen = ObserverRecorder()
            seen.install(on: reader)
            _ = try await writer.append([newEvent("first")])
            try await waitUntil { seen.offsets == [1] }
            // Another node takes offset 2 and holds its transaction open while this node appends offset 3.
            async let slow: Void = Self.foreignAppend(id: "slow", holdingFor: 1, url: url)
            try await Self.waitUntilSleeping(1, url: url)
            let fast = try await writer.append([newEvent("fast")])
            #expect(fast == [AppendResult(id: "fast", offset: 3, duplicate: false)])
            // Acknowledged only once offset 2 committed (acknowledgements follow offset order too): at this moment a
            // fresh session already sees it. (Not a timing check: under a loaded CI the other node's sleep may be
            // nearly over by the time this append starts.)
            #expect(try await PostgresTestDatabase.execute(["SELECT count(*)::text FROM blobhub_events WHERE id = 'slow'"], url: url) == ["1"])
            try await slow
            try await waitUntil { seen.offsets.count >= 3 }
            #expect(seen.offsets == [1, 2, 3])
            #expect(try await reader.events(after: 0, limit: 10).map(\.id) == ["first", "slow", "fast"])
            #expect(try await reader.headOffset() == 3)
            try await writer.close()
            try await reader.close()
        }
    }

    /// The publish endpoint's completion answers once the events are durable, without waiting for another node's
    /// earlier offset to commit; the fan-out still gets them in offset order.
    @Test("a publish is answered at its commit while an earlier offset is outstanding; delivery stays in order")
    func publishAnsweredAtCommitWhileEarlierOffsetOutstanding() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            // A delivery bound far past the other node's hold, so only an answer at commit can come before it ends.
            var timeouts = PostgresTestDatabase.testTimeouts
            timeouts.delivery = .seconds(60)
            let store = try await PostgresTestDatabase.open(url, timeouts: timeouts)
            let seen = ObserverRecorder()
            seen.install(on: store)
            _ = try await store.append([newEvent("first")])
            try await waitUntil { seen.offsets == [1] }
            // Another node takes offset 2 and holds its transaction open for 3 s.
            async let slow: Void = Self.foreignAppend(id: "slow", holdingFor: 3, url: url)
            try await Self.waitUntilSleeping(3, url: url)
            let rowsBefore = store.tailer.rowsRead
            let answered = try await withCheckedThrowingContinuation { continuation in
                store.append([newEvent("fast")]) { continuation.resume(with: $0) }
            }
            #expect(answered == [AppendResult(id: "fast", offset: 3, duplicate: false)])
            // Answered while offset 2 is still uncommitted, and nothing was handed out past the gap.
            #expect(try await PostgresTestDatabase.execute(["SELECT count(*)::text FROM blobhub_events WHERE id = 'slow'"], url: url) == ["0"])
            #expect(seen.offsets == [1])
            try await slow
            try await waitUntil { seen.offsets.count >= 3 }
            #expect(seen.offsets == [1, 2, 3])
            // The tailer read offset 2 from the table; offset 3, held in memory meanwhile, was not read again.
            #expect(store.tailer.rowsRead - rowsBefore == 1)
            try await store.close()
        }
    }

    /// The append writer has a connection of its own (``PostgresAppendWriter``): ended by the server (a restart, an
    /// operator's `pg_terminate_backend`), it is replaced by the next group; what was acknowledged stays stored.
    @Test("the append writer's connection ended by the server: a new one stores the next appends; nothing acknowledged lost")
    func writerConnectionReplaced() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let store = try await PostgresTestDatabase.open(url)
            var acknowledged: [String] = []
            for index in 0..<3 {
                _ = try await store.append([newEvent("before\(index)")])
                acknowledged.append("before\(index)")
            }
            #expect(store.writer.connectionsOpened == 1)
            // Every session of the store's pool name in this database, the writer's among them.
            _ = try await PostgresTestDatabase.execute([
                "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity WHERE datname = current_database() AND application_name = '\(PostgresStore.poolApplicationName)' AND pid <> pg_backend_pid()",
            ], url: url)
            // The group in flight when the connection ends may fail (never acknowledged); later ones are stored.
            var stored = 0
            for index in 0..<20 where stored < 3 {
                if (try? await store.append([newEvent("after\(index)")])) != nil {
                    acknowledged.append("after\(index)")
                    stored += 1
                } else {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(stored == 3)
            #expect(store.writer.connectionsOpened == 2)
            let ids = Set(try await store.events(after: 0, limit: 100).map(\.id))
            #expect(Set(acknowledged).isSubset(of: ids))
            try await store.close()
        }
    }

    /// What a test says the node's fan-out wants (``FanoutInterest``).
    final class InterestSwitch: Sendable {
        private let state = Mutex(FanoutInterest(hasSubscriptions: false, keysAdded: 0))
        var value: FanoutInterest { state.withLock { $0 } }
        /// A subscription key is added (and counted).
        func subscribe() { state.withLock { $0 = FanoutInterest(hasSubscriptions: true, keysAdded: $0.keysAdded + 1) } }
        /// The last subscription is gone.
        func unsubscribeAll() { state.withLock { $0.hasSubscriptions = false } }
    }

    /// Two stores on a fresh database: a writer, and a reader whose fan-out interest the test switches and whose
    /// commit observer it records.
    private func withWriterAndSwitchedReader(
        _ body: (_ writer: PostgresStore, _ reader: PostgresStore, _ interest: InterestSwitch, _ seen: ObserverRecorder) async throws -> Void
    ) async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let writer = try await PostgresTestDatabase.open(url)
            let reader = try await PostgresTestDatabase.open(url)
            let interest = InterestSwitch()
            reader.setFanoutInterest { interest.value }
            let seen = ObserverRecorder()
            seen.install(on: reader)
            try await body(writer, reader, interest, seen)
            try await writer.close()
            try await reader.close()
        }
    }

    /// A node that only takes publishes reads nothing back; its own events and every replay are unaffected.
    @Test("a node without subscriptions leaves the other nodes' events unread, and reads them once a key is added")
    func nodeWithoutSubscriptionsReadsNoEvents() async throws {
        try await withWriterAndSwitchedReader { writer, reader, interest, seen in
            let first = try await writer.append((1...5).map { newEvent("a\($0)") })
            try await waitUntil { reader.sequencer.delivered >= first.last!.offset }
            #expect(seen.offsets.isEmpty)
            #expect(reader.tailer.rowsRead == 0)
            #expect(reader.tailer.unreadRounds > 0)
            // Its own events still reach its fan-out, and a replay still reads everything from the table.
            let own = try await reader.append([newEvent("own")])
            #expect(seen.offsets == own.map(\.offset))
            #expect(try await reader.events(withKey: "k", after: 0, limit: 10).map(\.id) == ["a1", "a2", "a3", "a4", "a5", "own"])
            interest.subscribe()
            let second = try await writer.append([newEvent("b1"), newEvent("b2")])
            try await waitUntil { seen.offsets.count >= 3 }
            #expect(seen.offsets == own.map(\.offset) + second.map(\.offset))
        }
    }

    /// The race the range check closes: a round that left events unread and a subscription whose replay reads the
    /// table up to the sequencer's readable offset. Whatever the timing, every event past the bound such a replay
    /// would read (taken right after the key was added) reaches the observer.
    @Test("a key added while unread rounds run: every event past the replay's bound reaches the observer")
    func keyAddedDuringUnreadRounds() async throws {
        try await withWriterAndSwitchedReader { writer, reader, interest, seen in
            var expected: [Int64] = []
            for iteration in 0..<12 {
                interest.unsubscribeAll()
                // Appends one at a time from a task while the key comes at a different moment each time.
                let publishing = Task {
                    var offsets: [Int64] = []
                    for index in 0..<30 { offsets += try await writer.append([newEvent("i\(iteration)-\(index)")]).map(\.offset) }
                    return offsets
                }
                try await Task.sleep(for: .milliseconds(3 + 4 * iteration))
                interest.subscribe()
                let bound = reader.sequencer.readable
                let offsets = try await publishing.value
                expected += offsets.filter { $0 > bound }
                try await waitUntil { reader.sequencer.delivered >= offsets.last! }
                let observed = Set(seen.offsets)
                let missing = expected.filter { !observed.contains($0) }
                #expect(missing.isEmpty, "iteration \(iteration): past the replay's bound \(bound), never observed: \(missing)")
            }
            // Each offset once, ascending.
            #expect(seen.offsets == seen.offsets.sorted() && Set(seen.offsets).count == seen.offsets.count)
        }
    }

    /// Schema version 6 adds the tailer round that skips the events a node holds (`blobhub_tail_v6`).
    @Test("a database of schema version 5 gets the round that skips held events; its nodes deliver each other's events")
    func migratesFromVersion5() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            try await PostgresTestDatabase.createRecorded(version: 5, undoing: [
                "DROP FUNCTION blobhub_tail_v6(bigint, bigint, text[], integer, text, bigint[])",
            ], url: url)
            let a = try await PostgresTestDatabase.open(url)
            #expect(try await PostgresTestDatabase.recordedVersion(url) == ["6"])
            let b = try await PostgresTestDatabase.open(url)
            let seen = ObserverRecorder()
            seen.install(on: b)
            _ = try await a.append([newEvent("one"), newEvent("two")])
            try await waitUntil { seen.offsets.count >= 2 }
            #expect(seen.offsets == [1, 2])
            try await b.close()
            try await a.close()
        }
    }

    /// A generic plan is made from the statistics of the moment it is made; on an empty log that would be a
    /// sequential scan for the id lookup, kept as the log grows. The pool's session settings rule it out.
    /// The lookup runs inside `blobhub_append_v3`, whose statements PL/pgSQL plans like prepared ones (generic under
    /// the pool's `plan_cache_mode`): checked here as a prepared statement with the same text.
    @Test("on an empty log the append's generic plan looks ids up in their index")
    func appendPlanUsesTheIdIndex() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            try await PostgresTestDatabase.open(url).close()
            let settings = PostgresStore.poolSessionSettings.map { "SET \($0.0) = \($0.1)" }
            let lookup = PostgresLogFunctions.idLookup.replacingOccurrences(of: "p_ids", with: "$1::text[]")
            let plan = try await PostgresTestDatabase.execute(settings + [
                "ANALYZE",
                "PREPARE lookup AS " + lookup,
                "EXPLAIN EXECUTE lookup(ARRAY['x'])",
            ], url: url).joined(separator: "\n")
            #expect(plan.contains("Index Scan using blobhub_events_id_key"), "\(plan)")
            #expect(!plan.contains("Seq Scan on blobhub_events"), "\(plan)")
        }
    }

    @Test("a reader never sees offset N+1 before N: concurrent appenders on 3 nodes, a poller checks every snapshot")
    func commitOrder() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let nodes = try await (0..<3).asyncMap { _ in try await PostgresTestDatabase.open(url) }
            let reader = nodes[0]
            let done = Atomic<Bool>(false)
            let gaps = Mutex<[String]>([])
            let poller = Task {
                while !done.load(ordering: .relaxed) {
                    let events = try await reader.events(after: 0, limit: 100_000).map(\.offset)
                    // Nothing is pruned here, so every snapshot must be exactly 1...n.
                    if !events.isEmpty, events != Array(1...Int64(events.count)) {
                        gaps.withLock { $0.append("\(events.prefix(20))…") }
                    }
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, node) in nodes.enumerated() {
                    for writer in 0..<3 {
                        group.addTask {
                            for n in 0..<30 { _ = try await node.append([newEvent("n\(index)-w\(writer)-\(n)")]) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            done.store(true, ordering: .relaxed)
            try await poller.value
            #expect(gaps.withLock { $0 }.isEmpty)
            #expect(try await reader.headOffset() == 270)
            for node in nodes { try await node.close() }
        }
    }

    @Test("replay by key after an offset is an index scan of (key, log_offset)")
    func replayUsesIndex() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let store = try await PostgresTestDatabase.open(url)
            for chunk in 0..<10 {
                _ = try await store.append((0..<500).map { newEvent("c\(chunk)-\($0)", keys: ["session|\($0 % 100)", "all"]) })
            }
            try await store.close()
            let plan = try await PostgresTestDatabase.execute([
                "ANALYZE",
                """
                EXPLAIN SELECT e.log_offset FROM blobhub_event_keys k JOIN blobhub_events e ON e.log_offset = k.log_offset
                WHERE k.key = 'session|7' AND k.log_offset > 4000 ORDER BY k.log_offset LIMIT 100
                """,
            ], url: url).joined(separator: "\n")
            #expect(plan.contains("blobhub_event_keys_pkey"), "\(plan)")
        }
    }

    @Test("a registry change on one node reaches the other node's registry observer")
    func registryObserver() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let a = try await PostgresTestDatabase.open(url)
            let b = try await PostgresTestDatabase.open(url)
            let calls = Atomic<Int>(0)
            b.setRegistryObserver { calls.add(1, ordering: .relaxed) }
            try await a.persist(RegistryRows(upserts: [RegistryRow(kind: "organization", id: "o", data: Array("{}".utf8))]))
            // Committed: the other node hears of it (within ~250 ms when idle; the bound allows for a loaded machine
            // running the whole suite).
            try await waitUntil(timeout: .seconds(5)) { calls.load(ordering: .relaxed) >= 1 }
            #expect(try await b.registryRows().map(\.id) == ["o"])
            try await a.close()
            try await b.close()
        }
    }

    @Test("a closed store is unhealthy and refuses work; closing twice is harmless")
    func closing() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let store = try await PostgresTestDatabase.open(url)
            _ = try await store.append([newEvent("a")])
            #expect(await store.isHealthy())
            try await store.close()
            #expect(!(await store.isHealthy()))
            await #expect(throws: StoreError.closed) { try await store.append([newEvent("b")]) }
            await #expect(throws: StoreError.closed) { try await store.events(after: 0, limit: 10) }
            await #expect(throws: StoreError.closed) { try await store.registryRows() }
            try await store.close()
        }
    }

    @Test("an unreachable server fails the open with an error")
    func unreachable() async throws {
        var timeouts = PostgresTestDatabase.testTimeouts
        timeouts.open = .seconds(2)
        let error = await #expect(throws: PostgresStoreError.self) {
            _ = try await PostgresTestDatabase.open("postgres://postgres@127.0.0.1:1/none", timeouts: timeouts)
        }
        #expect(error?.description.isEmpty == false)
    }

    @Test("database unreachable: unhealthy, appends fail (never acknowledged); back: healthy, nothing acknowledged lost")
    func outage() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let store = try await PostgresTestDatabase.open(url)
            let recorder = ObserverRecorder()
            recorder.install(on: store)
            _ = try await store.append([newEvent("before")])
            let name = String(url.split(separator: "/").last!)
            // Cut this database off: refuse new connections and end the current ones.
            try await PostgresTestDatabase.execute([
                "ALTER DATABASE \(name) ALLOW_CONNECTIONS false",
                "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = '\(name)'",
            ])
            try await waitUntil(timeout: .seconds(20)) { !Self.healthySync(store) }  // poll every 250 ms, 3 s deadline
            await #expect(throws: (any Error).self) { try await store.append([newEvent("during")]) }

            try await PostgresTestDatabase.execute(["ALTER DATABASE \(name) ALLOW_CONNECTIONS true"])
            try await waitUntil(timeout: .seconds(30)) { Self.healthySync(store) }  // the pool's reconnect backoff grows with the outage
            // The pool reconnects (it may need a moment after its backoff).
            var after: [AppendResult] = []
            let deadline = ContinuousClock.now + .seconds(15)
            while after.isEmpty, ContinuousClock.now < deadline {
                do { after = try await store.append([newEvent("after")]) } catch { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(after.count == 1)
            let stored = try await store.events(after: 0, limit: 10).map(\.id)
            #expect(stored.first == "before")
            #expect(stored.last == "after")
            #expect(recorder.offsets == recorder.offsets.sorted())
            #expect(Set(recorder.offsets).count == recorder.offsets.count)
            try await store.close()
        }
    }

    /// `isHealthy` from a synchronous condition (the store's answer comes from the tailer's last poll).
    static func healthySync(_ store: PostgresStore) -> Bool {
        store.tailer.isHealthy
    }
}
