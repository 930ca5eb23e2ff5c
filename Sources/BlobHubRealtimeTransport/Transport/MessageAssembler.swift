import BlobHubRealtimeProtocol
import BlobHubRealtimeServices
import NIOCore
import NIOWebSocket

/// Turns client frames into complete messages and enforces RFC 6455 and SPEC §4 frame rules:
/// masking, reserved bits, opcodes, fragmentation, the message size limit, UTF-8 and close payloads.
///
/// NIOWebSocket's decoder checks frame lengths and control-frame shape only; everything else is here.
struct MessageAssembler {
    enum Output: Equatable {
        /// A complete text message whose payload is valid UTF-8.
        case text(ByteBuffer)
        case ping(ByteBuffer)
        case pong
        /// The client started the closing handshake; `code` is its status code, if any.
        case close(code: UInt16?)
        /// A rule was broken: close the connection with this code.
        case violation(CloseCode)
        /// A fragment was buffered; nothing to do yet.
        case pending
    }

    let maxMessageBytes: Int
    private var fragments: ByteBuffer?

    init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    mutating func receive(_ frame: WebSocketFrame) -> Output {
        guard frame.maskKey != nil else { return .violation(.protocolError) }
        guard frame.reservedBits.isEmpty else { return .violation(.protocolError) }

        switch frame.opcode {
        case .text:
            guard fragments == nil else { return .violation(.protocolError) }
            guard frame.length <= maxMessageBytes else { return .violation(.messageTooBig) }
            if frame.fin { return Self.validated(frame.unmaskedData) }
            fragments = frame.unmaskedData
            return .pending
        case .continuation:
            guard var buffer = fragments else { return .violation(.protocolError) }
            guard buffer.readableBytes + frame.length <= maxMessageBytes else {
                fragments = nil
                return .violation(.messageTooBig)
            }
            var data = frame.unmaskedData
            buffer.writeBuffer(&data)
            if frame.fin {
                fragments = nil
                return Self.validated(buffer)
            }
            fragments = buffer
            return .pending
        case .binary:
            return .violation(.unsupportedData)
        case .connectionClose:
            return Self.closeOutput(frame.unmaskedData)
        case .ping:
            return .ping(frame.unmaskedData)
        case .pong:
            return .pong
        default:
            return .violation(.protocolError)
        }
    }

    private static func validated(_ buffer: ByteBuffer) -> Output {
        isValidUTF8(buffer) ? .text(buffer) : .violation(.invalidPayload)
    }

    private static func closeOutput(_ payload: ByteBuffer) -> Output {
        var payload = payload
        if payload.readableBytes == 0 { return .close(code: nil) }
        guard let code = payload.readInteger(as: UInt16.self) else { return .violation(.protocolError) }
        guard isValidReceivedCloseCode(code) else { return .violation(.protocolError) }
        guard isValidUTF8(payload) else { return .violation(.invalidPayload) }
        return .close(code: code)
    }

    /// Codes a peer may send (RFC 6455 §7.4): 1000–1003, 1007–1011 and the registered/private ranges.
    static func isValidReceivedCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014: return true
        case 3000...4999: return true
        default: return false
        }
    }

    static func isValidUTF8(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { raw in
            // ASCII fast path: most JSON-RPC traffic is plain ASCII.
            if !raw.contains(where: { $0 >= 0x80 }) { return true }
            return String(validating: raw, as: UTF8.self) != nil
        }
    }
}
