import Foundation
import Testing

/// `--log-format text` (the default): one line per event in swift-log's stream format, metadata as
/// `key=value` — a WebSocket's lines carry its `connection_id`.
@Suite struct TextLogTests {
    @Test func textLinesCarryLevelLabelMetadataAndMessage() async throws {
        let child = try await ServerProcess(arguments: [
            "--store", "memory", "--log-format", "text", "--log-level", "debug", "--jwt-secret", TestSecrets.jwtSecret,
            "--init-timeout", "60s",
        ])
        defer { child.terminate() }
        try await child.waitUntilHealthy()
        let token = JWTCrafter.hs256(claims: #"{"sub":"\#(Fixture.user)","exp":\#(JWTCrafter.now + 3600)}"#)
        let socket = try await TestWebSocket.connect(port: child.port, headers: [("Authorization", "Bearer \(token)")])
        _ = try await socket.initialize()
        let log = try await child.waitForOutput(containing: "connection opened")
        let line = try #require(log.split(separator: "\n").first { $0.contains("connection opened") })
        // e.g. 2026-11-29T14:00:00Z debug blobhub-realtime : connection_id=… [BlobHubRealtimeServer] connection opened
        #expect(line.contains(" debug blobhub-realtime : "))
        #expect(line.contains("connection_id="))
        #expect(line.hasSuffix("] connection opened"))
        #expect(!log.contains(TestSecrets.jwtSecret) && !log.contains(token))
        await socket.close()
    }
}
