import BlobHubRealtimeServices
import NIOCore

/// Encodes complete server-to-client WebSocket frames (never masked, RFC 6455 §5.1).
///
/// The connection handler writes these `ByteBuffer`s straight to the socket, so one encoded frame
/// can be shared by every recipient of an event: no per-recipient encoding or copying.
public enum ServerFrame {
    public enum Opcode: UInt8, Sendable {
        case text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA
    }

    /// Header length for a payload of `count` bytes.
    static func headerLength(payload count: Int) -> Int {
        count < 126 ? 2 : (count <= 0xFFFF ? 4 : 10)
    }

    /// A final frame carrying `payload`.
    public static func make(
        _ opcode: Opcode,
        payload: some Collection<UInt8>,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) -> ByteBuffer {
        let count = payload.count
        var buffer = allocator.buffer(capacity: headerLength(payload: count) + count)
        writeHeader(opcode, payloadLength: count, into: &buffer)
        buffer.writeBytes(payload)
        return buffer
    }

    public static func text(_ payload: some Collection<UInt8>, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        make(.text, payload: payload, allocator: allocator)
    }

    /// A close frame with `code` and a reason truncated so the payload stays within 125 bytes.
    public static func close(code: UInt16, reason: String = "", allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var payload: [UInt8] = [UInt8(code >> 8), UInt8(code & 0xFF)]
        payload.append(contentsOf: Array(reason.utf8.prefix(123)))
        return make(.close, payload: payload, allocator: allocator)
    }

    static func writeHeader(_ opcode: Opcode, payloadLength count: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(0x80 | opcode.rawValue)
        if count < 126 {
            buffer.writeInteger(UInt8(count))
        } else if count <= 0xFFFF {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(count))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(count))
        }
    }
}
