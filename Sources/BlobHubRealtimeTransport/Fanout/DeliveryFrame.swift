import BlobHubRealtimeProtocol
import BlobHubRealtimeServices
import NIOCore

/// Builds `subscription/event` notifications as complete WebSocket frames (SPEC §7.1).
///
/// Everything before the offset depends only on the subscription (echoing its ids as the client
/// wrote them), so each subscription encodes that prefix once (`ActiveSubscription.eventPrefix`);
/// a frame is prefix + offset + event.
enum DeliveryFrame {
    private static let eventMember = Array(#","event":"#.utf8)
    private static let closing = Array("}}".utf8)

    static func make(prefix: [UInt8], offset: Int64, json: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        let offsetText = String(offset).utf8
        let length = prefix.count + offsetText.count + eventMember.count + json.count + closing.count
        var buffer = allocator.buffer(capacity: ServerFrame.headerLength(payload: length) + length)
        ServerFrame.writeHeader(.text, payloadLength: length, into: &buffer)
        buffer.writeBytes(prefix)
        buffer.writeBytes(offsetText)
        buffer.writeBytes(eventMember)
        buffer.writeBytes(json)
        buffer.writeBytes(closing)
        return buffer
    }
}
