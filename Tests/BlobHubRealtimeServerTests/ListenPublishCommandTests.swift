import Foundation
import Synchronization
import Testing

/// `listen` and `publish` as child processes against a server child process.
@Suite(.serialized) struct ListenPublishCommandTests {
    @Test func publishedEventsAppearAsJSONLinesAndSIGINTExitsCleanly() async throws {
        let server = try await ServerProcess(arguments: ["--store", "memory", "--jwt-secret", TestSecrets.jwtSecret, "--admin-key", TestKeys.admin, "--publisher-key", TestKeys.publisher])
        defer { server.terminate() }
        try await server.waitUntilHealthy()
        for (path, body) in [
            ("/v1/admin/organizations/o1", "{}"),
            ("/v1/admin/organizations/o1/members/u1", #"{"role":"read"}"#),
            ("/v1/admin/blobs/b1", #"{"organization_id":"o1","type":"workflow","visibility":"private"}"#),
            ("/v1/admin/revisions/r1", #"{"blob_id":"b1","phase":"draft"}"#),
        ] {
            let socket = try await RawSocket.connect(port: server.port)
            let response = try await socket.request("PUT", path, headers: [("Authorization", "Bearer \(TestKeys.admin)")], body: Array(body.utf8))
            #expect(response.status == 200)
            await socket.close()
        }
        let token = JWTCrafter.hs256(claims: #"{"sub":"u1","exp":\#(JWTCrafter.now + 3600)}"#)
        let listener = Process()
        listener.executableURL = ServerProcess.executableURL
        listener.arguments = ["listen", "--url", "ws://127.0.0.1:\(server.port)/v1", "--token", token, "--scope", "revision", "--scope-id", "r1", "--target", "session", "--target-id", "s1", "--subprotocol"]
        let output = Pipe()
        listener.standardOutput = output
        listener.standardError = FileHandle.nullDevice
        let captured = CapturedOutput()
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            captured.data.withLock { $0.append(data) }
        }
        try listener.run()
        defer { if listener.isRunning { listener.terminate() } }
        try await Task.sleep(for: .milliseconds(700))  // let it subscribe

        #expect(try publish(#"[{"type":"flow.entered","revision_id":"r1","session_id":"s1","execution_id":"e1"}]"#, port: server.port) == 0)

        let deadline = ContinuousClock.now + .seconds(10)
        var lines: [String] = []
        while ContinuousClock.now < deadline {
            lines = captured.data.withLock { String(decoding: $0, as: UTF8.self) }.split(separator: "\n").map(String.init)
            if lines.count >= 2 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(lines.count == 2)
        let types = lines.compactMap { line -> String? in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (object?["event"] as? [String: Any])?["type"] as? String
        }
        #expect(types == ["flow.entered", "execution_started"])

        kill(listener.processIdentifier, SIGINT)
        let stopBy = ContinuousClock.now + .seconds(5)
        while listener.isRunning, ContinuousClock.now < stopBy { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!listener.isRunning)
        #expect(listener.terminationStatus == 0)
    }

    @Test func publishFailsOnARejectedBody() async throws {
        let server = try await ServerProcess(arguments: ["--store", "memory", "--publisher-key", TestKeys.publisher])
        defer { server.terminate() }
        try await server.waitUntilHealthy()
        #expect(try publish(#"{"no_type":true}"#, port: server.port) == 1)
    }

    /// Runs `publish` with `body` on standard input; returns its exit status.
    private func publish(_ body: String, port: Int) throws -> Int32 {
        let publisher = Process()
        publisher.executableURL = ServerProcess.executableURL
        publisher.arguments = ["publish", "--url", "http://127.0.0.1:\(port)", "--key", TestKeys.publisher, "-"]
        let input = Pipe()
        publisher.standardInput = input
        publisher.standardOutput = FileHandle.nullDevice
        try publisher.run()
        input.fileHandleForWriting.write(Data(body.utf8))
        try input.fileHandleForWriting.close()
        publisher.waitUntilExit()
        return publisher.terminationStatus
    }
}
