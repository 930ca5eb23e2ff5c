import BlobHubRealtimeProtocol
import Foundation
import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Testing

/// SPEC §4 frame rules and RFC 6455 violations, sent as raw frames.
@Suite struct FrameTests {
    private func expectClosed(_ configure: @escaping (inout ServerConfiguration) -> Void = { _ in }, sending bytes: [UInt8], code: UInt16) async throws {
        try await withTestServer(configure) { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            try await socket.sendRaw(bytes)
            #expect(try await socket.expectClose() == code)
            try await socket.socket.waitForEOF()
        }
    }

    @Test func binaryFrameCloses1003() async throws {
        try await expectClosed(sending: ClientFrame.encode(opcode: 0x2, payload: [1, 2, 3]), code: 1003)
    }

    @Test func oversizedMessageCloses1009() async throws {
        let big = #"{"jsonrpc":"2.0","id":1,"method":"status/ping","params":{"pad":""# + String(repeating: "x", count: 2000) + #""}}"#
        try await expectClosed({ $0.maxMessageBytes = 1024 }, sending: ClientFrame.text(big), code: 1009)
    }

    @Test func oversizedFragmentedMessageCloses1009() async throws {
        let part = [UInt8](repeating: 0x20, count: 600)
        let bytes = ClientFrame.encode(opcode: 0x1, payload: part, fin: false) + ClientFrame.encode(opcode: 0x0, payload: part, fin: true)
        try await expectClosed({ $0.maxMessageBytes = 1024 }, sending: bytes, code: 1009)
    }

    @Test func messageAtTheLimitIsAccepted() async throws {
        try await withTestServer({ $0.maxMessageBytes = 1024 }) { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            let prefix = #"{"jsonrpc":"2.0","id":1,"method":"status/ping","params":{"pad":""#
            let suffix = #""}}"#
            let text = prefix + String(repeating: "x", count: 1024 - prefix.utf8.count - suffix.utf8.count) + suffix
            #expect(text.utf8.count == 1024)
            #expect(try await socket.call(text)["result"] != nil)
            await socket.close()
        }
    }

    @Test func invalidUTF8Closes1007() async throws {
        try await expectClosed(sending: ClientFrame.encode(opcode: 0x1, payload: Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)), code: 1007)
    }

    @Test func invalidUTF8AcrossFragmentsCloses1007() async throws {
        let bytes = ClientFrame.encode(opcode: 0x1, payload: [0x22, 0xE2, 0x82], fin: false) + ClientFrame.encode(opcode: 0x0, payload: [0x28, 0x22])
        try await expectClosed(sending: bytes, code: 1007)
    }

    @Test func unmaskedFrameCloses1002() async throws {
        try await expectClosed(sending: ClientFrame.encode(opcode: 0x1, payload: Array("{}".utf8), masked: false), code: 1002)
    }

    @Test func reservedBitsClose1002() async throws {
        try await expectClosed(sending: ClientFrame.encode(opcode: 0x1, payload: Array("{}".utf8), rsv: 0x4), code: 1002)
    }

    @Test func reservedOpcodeCloses1002() async throws {
        try await expectClosed(sending: ClientFrame.encode(opcode: 0x3, payload: []), code: 1002)
    }

    @Test func oversizedControlFrameCloses1002() async throws {
        try await expectClosed(sending: ClientFrame.encode(opcode: 0x9, payload: [UInt8](repeating: 1, count: 126)), code: 1002)
    }

    @Test func fragmentedControlFrameCloses1002() async throws {
        try await expectClosed(sending: ClientFrame.encode(opcode: 0x9, payload: [1], fin: false), code: 1002)
    }

    @Test func continuationWithoutStartCloses1002() async throws {
        try await expectClosed(sending: ClientFrame.encode(opcode: 0x0, payload: Array("{}".utf8)), code: 1002)
    }

    @Test func newMessageInsideFragmentedOneCloses1002() async throws {
        let bytes = ClientFrame.encode(opcode: 0x1, payload: Array("[".utf8), fin: false) + ClientFrame.text("{}")
        try await expectClosed(sending: bytes, code: 1002)
    }

    @Test func fragmentedMessageIsReassembled() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connect()
            let text = Array(#"{"jsonrpc":"2.0","id":"frag","method":"status/ping"}"#.utf8)
            try await socket.sendRaw(
                ClientFrame.encode(opcode: 0x1, payload: Array(text[0..<10]), fin: false)
                    + ClientFrame.encode(opcode: 0x9, payload: Array("mid".utf8))  // control frames may interleave
                    + ClientFrame.encode(opcode: 0x0, payload: Array(text[10..<30]), fin: false)
                    + ClientFrame.encode(opcode: 0x0, payload: Array(text[30...]), fin: true)
            )
            let pong = try await socket.nextFrame()
            #expect(pong.opcode == 0xA && pong.text == "mid")
            #expect(try await socket.nextText() == #"{"jsonrpc":"2.0","id":"frag","result":{}}"#)
            await socket.close()
        }
    }

    @Test func clientPingGetsPong() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connect()
            try await socket.sendRaw(ClientFrame.encode(opcode: 0x9, payload: Array("hello".utf8)))
            let frame = try await socket.nextFrame()
            #expect(frame.opcode == 0xA)
            #expect(frame.text == "hello")
            #expect(!frame.masked)
            await socket.close()
        }
    }

    @Test func clientCloseIsAnsweredWith1000() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            try await socket.sendRaw(ClientFrame.encode(opcode: 0x8, payload: [0x03, 0xE8] + Array("bye".utf8)))
            #expect(try await socket.expectClose() == 1000)
            try await socket.socket.waitForEOF()
        }
    }

    @Test func invalidCloseCodeCloses1002() async throws {
        try await expectClosed(sending: ClientFrame.encode(opcode: 0x8, payload: [0x03, 0xED]), code: 1002)
    }

    /// One client's bad frame never disturbs another connection.
    @Test func violationsAreIsolated() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let healthy = try await server.connectInitialized()
            let bad = try await server.connectInitialized()
            try await bad.sendRaw(ClientFrame.encode(opcode: 0x2, payload: [0]))
            #expect(try await bad.expectClose() == 1003)
            #expect(try await healthy.call(#"{"jsonrpc":"2.0","id":1,"method":"status/ping"}"#)["result"] != nil)
            await healthy.close()
        }
    }
}
