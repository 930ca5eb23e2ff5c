import NIOCore
import Testing

/// The tests' socket inbox: a reader waiting for bytes sees them as soon as they arrive, whenever they
/// arrive relative to its last look.
///
/// Regression (GarbageTests' "fuzzed: no answer", seen in CI and reproduced with the seedable fuzzer):
/// bytes that arrived after a reader had looked at the buffer but before it registered as a waiter woke
/// nobody, so the reader slept until its timeout with the server's answer already in the buffer; the
/// fuzzed connection then reported its final ping unanswered although the server had answered at once.
///
/// Each wait has a deadline far past its bound (60 s against 30 s): a wait woken by the change ends well inside the
/// bound however loaded the machine (a 10 s deadline against a 5 s bound once failed at 6.6 s beside another suite);
/// a wait that missed the change runs to its deadline and fails the bound.
@Suite struct ByteInboxTests {
    /// The window itself, made deterministic: the change lands between the look and the wait.
    @Test func aChangeBetweenLookingAndWaitingEndsTheWaitAtOnce() async {
        let inbox = ByteInbox()
        let looked = inbox.generation
        inbox.append(ByteBuffer(bytes: [0x81, 0x02, 0x6F, 0x6B]))
        let start = ContinuousClock.now
        await inbox.waitForChange(after: looked, until: start + .seconds(60))
        #expect(start.duration(to: .now) < .seconds(30))

        // The same for the end of the stream.
        let closing = ByteInbox()
        let beforeClose = closing.generation
        closing.markClosed()
        let closeStart = ContinuousClock.now
        await closing.waitForChange(after: beforeClose, until: closeStart + .seconds(60))
        #expect(closeStart.duration(to: .now) < .seconds(30))
    }

    /// Without a change the wait lasts until its deadline (and no longer).
    @Test func withoutAChangeTheWaitEndsAtItsDeadline() async {
        let inbox = ByteInbox()
        let start = ContinuousClock.now
        await inbox.waitForChange(after: inbox.generation, until: start + .milliseconds(200))
        #expect(start.duration(to: .now) >= .milliseconds(200))
    }

    /// A reader already waiting is woken by the bytes, and by the end of the stream.
    @Test func aWaitingReaderIsWokenByBytesAndByTheEnd() async throws {
        let inbox = ByteInbox()
        let writer = Task {
            try await Task.sleep(for: .milliseconds(50))
            inbox.append(ByteBuffer(bytes: [0x81, 0x02]))
            try await Task.sleep(for: .milliseconds(50))
            inbox.append(ByteBuffer(bytes: [0x6F, 0x6B]))
        }
        let start = ContinuousClock.now
        let frame = try await inbox.read("frame", timeout: .seconds(60)) { ReceivedFrame.parse(&$0) }
        #expect(frame.text == "ok")
        #expect(start.duration(to: .now) < .seconds(30))
        try await writer.value

        let closer = Task {
            try await Task.sleep(for: .milliseconds(50))
            inbox.markClosed()
        }
        await #expect(throws: ByteInbox.EndOfStream.self) {
            _ = try await inbox.read("frame", timeout: .seconds(60)) { ReceivedFrame.parse(&$0) }
        }
        try await closer.value
    }
}
