import Synchronization
import Testing
@testable import BlobHubRealtimeStore

/// The PostgreSQL store's merge of its own commits and the tailer's reads (no database needed).
@Suite struct DeliverySequencerTests {
    private func stored(_ offsets: ClosedRange<Int64>) -> [StoredEvent] {
        offsets.map { StoredEvent(offset: $0, id: "e\($0)", type: "t", createdAt: 0, keys: ["k"], json: Array("{}".utf8)) }
    }

    private func range(_ after: Int64, _ through: Int64) -> DeliverySequencer.Range {
        .init(after: after, through: through, events: stored((after + 1)...through))
    }

    /// What the observer saw, in order.
    private final class Seen: Sendable {
        private let offsets = Mutex<[Int64]>([])
        func add(_ events: [StoredEvent]) { offsets.withLock { $0 += events.map(\.offset) } }
        func withLock<T>(_ body: ([Int64]) -> T) -> T { offsets.withLock { body($0) } }
    }

    private func recording(_ sequencer: DeliverySequencer) -> Seen {
        let seen = Seen()
        sequencer.setObserver { events in seen.add(events) }
        return seen
    }

    @Test func aRangeRightAfterTheDeliveredOffsetIsDeliveredAtOnce() {
        let sequencer = DeliverySequencer(delivered: 10)
        let seen = recording(sequencer)
        #expect(sequencer.submit(range(10, 12)))
        #expect(seen.withLock { $0 } == [11, 12])
        #expect(sequencer.delivered == 12)
        #expect(!sequencer.hasGap)
    }

    @Test func aRangeAfterAGapWaitsUntilTheTableReadFillsIt() {
        let sequencer = DeliverySequencer(delivered: 0)
        let seen = recording(sequencer)
        // This node committed 4…5 while another node's 1…3 have not been read yet.
        #expect(!sequencer.submit(range(3, 5)))
        #expect(seen.withLock { $0 }.isEmpty)
        #expect(sequencer.hasGap)
        // The tailer reads the table: it sees 1…5 (its own events included); each offset is delivered once.
        #expect(sequencer.submit(range(0, 5)))
        #expect(seen.withLock { $0 } == [1, 2, 3, 4, 5])
        #expect(!sequencer.hasGap)
    }

    /// The tailer skips these in its read and adds them to what it read.
    @Test func theEventsHeldBehindAGapAreListedInOffsetOrderUntilDelivered() {
        let sequencer = DeliverySequencer(delivered: 0)
        let seen = recording(sequencer)
        #expect(!sequencer.submit(range(7, 8)))
        #expect(!sequencer.submit(range(3, 5)))
        #expect(sequencer.held(after: 0).map(\.offset) == [4, 5, 8])
        #expect(sequencer.held(after: 4).map(\.offset) == [5, 8])
        // The table read of 1…6 with the held 4…5 merged in: 4…5 delivered once, 8 still held.
        let read = stored(1...3) + stored(6...6)
        #expect(sequencer.submit(.init(after: 0, through: 6, events: PostgresTailer.merge(read, sequencer.held(after: 0).prefix { $0.offset <= 6 }))))
        #expect(seen.withLock { $0 } == [1, 2, 3, 4, 5, 6])
        #expect(sequencer.held(after: 6).map(\.offset) == [8])
        sequencer.submit(range(6, 7))
        #expect(seen.withLock { $0 } == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(sequencer.held(after: 0).isEmpty)
    }

    @Test func aMergeOfReadAndHeldEventsKeepsOffsetOrderAndEachOffsetOnce() {
        let merged = PostgresTailer.merge(stored(1...2) + stored(5...6), stored(2...4) + stored(7...7))
        #expect(merged.map(\.offset) == [1, 2, 3, 4, 5, 6, 7])
        #expect(PostgresTailer.merge(stored(1...2), [StoredEvent]()).map(\.offset) == [1, 2])
        #expect(PostgresTailer.merge([], stored(3...4)).map(\.offset) == [3, 4])
    }

    @Test func aLocalRangeAlreadyReadFromTheTableIsDropped() {
        let sequencer = DeliverySequencer(delivered: 0)
        let seen = recording(sequencer)
        sequencer.submit(range(0, 4))
        // Overlapping and covered ranges add nothing.
        sequencer.submit(range(2, 6))
        sequencer.submit(range(1, 3))
        #expect(seen.withLock { $0 } == [1, 2, 3, 4, 5, 6])
    }

    @Test func aTableReadPastTheLastEventSkipsPrunedOffsets() {
        let sequencer = DeliverySequencer(delivered: 0)
        let seen = recording(sequencer)
        sequencer.submit(.init(after: 0, through: 7, events: []))
        #expect(sequencer.delivered == 7)
        sequencer.submit(range(7, 8))
        #expect(seen.withLock { $0 } == [8])
    }

    @Test func aWaiterIsReleasedOnlyAfterTheObserverSawItsOffset() async throws {
        let sequencer = DeliverySequencer(delivered: 0)
        let seen = recording(sequencer)
        let released = Seen()
        sequencer.whenDelivered(through: 2, timeout: .seconds(30)) {
            released.add(seen.withLock { $0 }.map { StoredEvent(offset: $0, id: "", type: "", createdAt: 0, keys: [], json: []) })
        }
        sequencer.submit(range(1, 2))
        #expect(released.withLock { $0 }.isEmpty)
        sequencer.submit(range(0, 1))
        // When the waiter ran, the observer had already seen both offsets.
        #expect(released.withLock { $0 } == [1, 2])
    }

    @Test func aWaiterForAGapThatIsNeverFilledIsReleasedAtItsTimeout() async throws {
        let sequencer = DeliverySequencer(delivered: 0)
        _ = recording(sequencer)
        sequencer.submit(range(5, 6))
        let released = Seen()
        let marker = [StoredEvent(offset: 6, id: "", type: "", createdAt: 0, keys: [], json: [])]
        sequencer.whenDelivered(through: 6, timeout: .milliseconds(50)) { released.add(marker) }
        #expect(released.withLock { $0 }.isEmpty)
        try await waitUntil(timeout: .seconds(5)) { released.withLock { $0 } == [6] }
        // Once stopped, later waiters are answered at once.
        sequencer.stop()
        let late = Seen()
        sequencer.whenDelivered(through: 100, timeout: .seconds(30)) { late.add(marker) }
        #expect(late.withLock { $0 } == [6])
    }

    /// Submitters on many threads at once, in random order: the observer is never entered twice at the same
    /// time and sees every offset once, ascending.
    @Test func concurrentSubmittersNeverOverlapAndKeepOffsetOrder() async {
        let sequencer = DeliverySequencer(delivered: 0)
        final class Probe: Sendable {
            let inside = Atomic<Int>(0)
            let overlaps = Atomic<Int>(0)
        }
        let probe = Probe()
        let seen = Seen()
        sequencer.setObserver { events in
            if probe.inside.add(1, ordering: .sequentiallyConsistent).newValue > 1 { probe.overlaps.add(1, ordering: .relaxed) }
            seen.add(events)
            probe.inside.subtract(1, ordering: .sequentiallyConsistent)
        }
        let ranges = stride(from: Int64(0), to: 2_000, by: 4).map { range($0, $0 + 4) }.shuffled()
        await withTaskGroup(of: Void.self) { group in
            for chunk in 0..<8 {
                group.addTask {
                    for range in ranges[(chunk * ranges.count / 8)..<((chunk + 1) * ranges.count / 8)] {
                        sequencer.submit(range)
                    }
                }
            }
        }
        #expect(probe.overlaps.load(ordering: .relaxed) == 0)
        #expect(seen.withLock { $0 } == Array(1...2_000))
        #expect(!sequencer.hasGap)
    }
    /// A replay reads the table up to `readable`: it must cover a range as soon as the observer may be handed it, or a
    /// subscription the fan-out learns of during that call would read below events it never gets live.
    @Test func theReadableOffsetCoversARangeBeforeTheObserverGetsIt() {
        let sequencer = DeliverySequencer(delivered: 10)
        let during = Mutex<[(readable: Int64, delivered: Int64)]>([])
        sequencer.setObserver { [sequencer] _ in during.withLock { $0.append((sequencer.readable, sequencer.delivered)) } }
        sequencer.submit(range(10, 12))
        sequencer.submit(range(12, 15))
        #expect(during.withLock { $0.map(\.readable) } == [12, 15])
        #expect(during.withLock { $0.map(\.delivered) } == [10, 12])
        #expect(sequencer.readable == 15 && sequencer.delivered == 15)
    }

    /// The tailer's rounds that left other nodes' events unread are dropped unused when a subscription key came
    /// since (``PostgresTailer``); the range read again in full is delivered.
    @Test func aRangeNoLongerValidWhenTakenIsDroppedUnused() {
        let sequencer = DeliverySequencer(delivered: 10)
        let seen = recording(sequencer)
        let asked = Mutex(0)
        var unread = DeliverySequencer.Range(after: 10, through: 14, events: [])
        unread.stillValid = { asked.withLock { $0 += 1 }; return false }
        #expect(!sequencer.submit(unread))
        #expect(asked.withLock { $0 } == 1)
        #expect(sequencer.delivered == 10 && sequencer.readable == 10)
        #expect(!sequencer.hasGap)
        #expect(sequencer.submit(range(10, 14)))
        #expect(seen.withLock { $0 } == [11, 12, 13, 14])
        // A valid one moves both offsets, with the events it carries (this node's own, held).
        var valid = DeliverySequencer.Range(after: 14, through: 20, events: stored(16...16))
        valid.stillValid = { true }
        #expect(sequencer.submit(valid))
        #expect(seen.withLock { $0 } == [11, 12, 13, 14, 16])
        #expect(sequencer.readable == 20 && sequencer.delivered == 20)
    }
}

@Suite struct PostgresNotificationTests {
    @Test func ownCommitsAndDeliveredOffsetsDoNotWakeTheTailer() {
        #expect(!PostgresListener.wakes(for: "e:10:self", node: "self", delivered: 3))
        #expect(!PostgresListener.wakes(for: "e:10:other", node: "self", delivered: 10))
        #expect(PostgresListener.wakes(for: "e:11:other", node: "self", delivered: 10))
        // Registry changes and payloads of other shapes (an older server's `e:<head>`) always wake it.
        #expect(PostgresListener.wakes(for: "r:4", node: "self", delivered: 10))
        #expect(PostgresListener.wakes(for: "e:5", node: "self", delivered: 10))
        #expect(PostgresListener.wakes(for: "", node: "self", delivered: 10))
    }
}

@Suite struct GroupCommitQueueTests {
    private func pending(_ id: String) -> GroupCommitQueue.Pending {
        .init(batch: [ValidatedEvent(event: newEvent(id))], complete: { _ in })
    }

    @Test func atMostTheConfiguredNumberOfWritersRun() throws {
        let queue = GroupCommitQueue(maxWriters: 2)
        #expect(queue.enqueue(pending("a")))  // starts writer 1
        #expect(queue.enqueue(pending("b")))  // starts writer 2
        #expect(!queue.enqueue(pending("c")))  // both run: waits for one of them
        let first = try #require(queue.nextGroup())
        #expect(first.map { $0.batch[0].event.id } == ["a", "b", "c"])
        #expect(queue.nextGroup() == nil)  // writer 1 found nothing and left
        #expect(queue.enqueue(pending("d")))  // one slot free again: start a writer
        #expect(queue.nextGroup()?.count == 1)
        #expect(queue.nextGroup() == nil)  // that writer leaves
        #expect(queue.nextGroup() == nil)  // writer 2 leaves
        #expect(queue.enqueue(pending("e")))
    }
}
