import BlobHubRealtimeServices
import NIOCore

/// The frames one connection receives in one delivery round, written to the socket as one buffer.
///
/// A lone frame is the shared, pre-encoded frame itself (no copy); from the second frame on they are
/// copied into one buffer, so the round costs the connection one channel write and one `write(2)`
/// whatever the number of events. Copying a few hundred bytes is far cheaper than a channel write
/// per frame and a kernel send per frame.
struct DeliveryBatch {
    private var single: ByteBuffer?
    private var combined: ByteBuffer?
    /// Frames in the batch (the slow-consumer limit counts frames, not buffers).
    private(set) var frames = 0

    var isEmpty: Bool { frames == 0 }

    mutating func append(_ frame: ByteBuffer, allocator: ByteBufferAllocator) {
        frames += 1
        if combined != nil {
            combined!.writeImmutableBuffer(frame)
        } else if let first = single {
            var buffer = allocator.buffer(capacity: 4 * (first.readableBytes + frame.readableBytes))
            buffer.writeImmutableBuffer(first)
            buffer.writeImmutableBuffer(frame)
            combined = buffer
            single = nil
        } else {
            single = frame
        }
    }

    /// The batch as one buffer, leaving it empty.
    mutating func take() -> ByteBuffer? {
        defer { single = nil; combined = nil; frames = 0 }
        return combined ?? single
    }
}
