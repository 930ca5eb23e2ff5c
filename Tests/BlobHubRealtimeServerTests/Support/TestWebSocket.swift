import Foundation
import NIOCore
import NIOSSL

/// One frame as the server sent it.
struct ReceivedFrame: Sendable, Equatable {
    var fin: Bool
    var rsv: UInt8
    var opcode: UInt8
    var masked: Bool
    var payload: [UInt8]

    var text: String { String(decoding: payload, as: UTF8.self) }
    var closeCode: UInt16? {
        guard opcode == 0x8, payload.count >= 2 else { return nil }
        return UInt16(payload[0]) << 8 | UInt16(payload[1])
    }

    static func parse(_ slice: inout ArraySlice<UInt8>) -> ReceivedFrame? {
        let base = slice.startIndex
        let available = slice.count
        func byte(_ index: Int) -> UInt8 { slice[base + index] }
        guard available >= 2 else { return nil }
        let masked = byte(1) & 0x80 != 0
        var length = Int(byte(1) & 0x7F)
        var offset = 2
        if length == 126 {
            guard available >= 4 else { return nil }
            length = Int(byte(2)) << 8 | Int(byte(3))
            offset = 4
        } else if length == 127 {
            guard available >= 10 else { return nil }
            length = (2..<10).reduce(0) { $0 << 8 | Int(byte($1)) }
            offset = 10
        }
        if masked { offset += 4 }
        guard available >= offset + length else { return nil }
        let first = byte(0)
        let frame = ReceivedFrame(
            fin: first & 0x80 != 0, rsv: (first >> 4) & 0x7, opcode: first & 0x0F, masked: masked,
            payload: Array(slice[(base + offset)..<(base + offset + length)])
        )
        slice.removeFirst(offset + length)
        return frame
    }
}

/// Client frame bytes, masked unless a test asks otherwise.
enum ClientFrame {
    static func encode(opcode: UInt8, payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, masked: Bool = true, declaredLength: Int? = nil) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode]
        let length = declaredLength ?? payload.count
        let maskBit: UInt8 = masked ? 0x80 : 0
        if length < 126 {
            bytes.append(maskBit | UInt8(length))
        } else if length <= 0xFFFF {
            bytes.append(maskBit | 126)
            bytes += [UInt8(length >> 8), UInt8(length & 0xFF)]
        } else {
            bytes.append(maskBit | 127)
            bytes += (0..<8).reversed().map { UInt8((length >> ($0 * 8)) & 0xFF) }
        }
        guard masked else { return bytes + payload }
        let key: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) }
        bytes += key
        bytes += payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
        return bytes
    }

    static func text(_ text: String) -> [UInt8] { encode(opcode: 0x1, payload: Array(text.utf8)) }
}

/// A WebSocket client for tests, built on `RawSocket` so any byte can be sent.
struct TestWebSocket: Sendable {
    let socket: RawSocket
    let handshake: HTTPResponseHead

    enum HandshakeFailed: Error { case status(HTTPResponseHead) }

    /// Performs the opening handshake; returns the response whatever its status.
    static func handshake(port: Int, path: String = "/v1", headers: [(String, String)], tls: NIOSSLContext? = nil) async throws -> (RawSocket, HTTPResponseHead) {
        let socket = try await RawSocket.connect(port: port, tls: tls)
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        var all: [(String, String)] = [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13"),
        ]
        all += headers
        var text = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in all { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        try await socket.write(text)
        let head = try await socket.inbox.read("upgrade response", timeout: .seconds(10)) { HTTPResponseHead.parse(&$0) }
        return (socket, head)
    }

    /// Opens a WebSocket that must be accepted (101).
    static func connect(port: Int, path: String = "/v1", headers: [(String, String)], tls: NIOSSLContext? = nil) async throws -> TestWebSocket {
        let (socket, head) = try await handshake(port: port, path: path, headers: headers, tls: tls)
        guard head.status == 101 else {
            await socket.close()
            throw HandshakeFailed.status(head)
        }
        return TestWebSocket(socket: socket, handshake: head)
    }

    func send(_ text: String) async throws {
        try await socket.write(ClientFrame.text(text))
    }

    func sendRaw(_ bytes: [UInt8]) async throws {
        try await socket.write(bytes)
    }

    /// The next frame of any kind.
    func nextFrame(timeout: Duration = .seconds(5)) async throws -> ReceivedFrame {
        try await socket.inbox.read("frame", timeout: timeout) { ReceivedFrame.parse(&$0) }
    }

    /// The next text message, answering nothing and skipping server pings.
    func nextText(timeout: Duration = .seconds(5)) async throws -> String {
        while true {
            let frame = try await nextFrame(timeout: timeout)
            if frame.opcode == 0x9 { continue }
            guard frame.opcode == 0x1 else { throw UnexpectedFrame(frame: frame) }
            return frame.text
        }
    }

    /// The next text message parsed as JSON.
    func nextJSON(timeout: Duration = .seconds(5)) async throws -> Any {
        try JSONSerialization.jsonObject(with: Data(try await nextText(timeout: timeout).utf8), options: [.fragmentsAllowed])
    }

    /// Sends a request and returns the response object.
    func call(_ text: String) async throws -> [String: Any] {
        try await send(text)
        guard let object = try await nextJSON() as? [String: Any] else { throw UnexpectedFrame(frame: nil) }
        return object
    }

    func initialize() async throws -> [String: Any] {
        try await call(#"{"jsonrpc":"2.0","id":1,"method":"status/initialize","params":{"client_info":{"name":"tests","version":"1"}}}"#)
    }

    /// Reads frames until a close frame arrives; returns its code.
    func expectClose(timeout: Duration = .seconds(5)) async throws -> UInt16? {
        while true {
            let frame = try await nextFrame(timeout: timeout)
            if frame.opcode == 0x8 { return frame.closeCode }
        }
    }

    /// True when nothing arrives within `window`.
    func isSilent(for window: Duration) async throws -> Bool {
        do {
            let frame = try await nextFrame(timeout: window)
            if frame.opcode == 0x9 { return try await isSilent(for: window) }
            return false
        } catch is ByteInbox.Timeout {
            return true
        }
    }

    func close() async { await socket.close() }

    struct UnexpectedFrame: Error { let frame: ReceivedFrame? }
}
