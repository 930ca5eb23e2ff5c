import Foundation
import Synchronization
import Testing

/// `listen` and `publish` as child processes against a server child process.
@Suite(.serialized) struct ListenPublishCommandTests {
    @Test func publishedEventsAppearAsJSONLinesAndSIGINTExitsCleanly() async throws {
        let server = try await ServerProcess(arguments: ["--store", "memory", "--jwt-secret", TestSecrets.jwtSecret, "--admin-key", TestKeys.admin, "--publisher-key", TestKeys.publisher])
        defer { server.terminate() }
        try await server.waitUntilHealthy()
        try await seed(port: server.port)
        let token = JWTCrafter.hs256(claims: #"{"sub":"u1","exp":\#(JWTCrafter.now + 3600)}"#)
        let (listener, captured) = try startListener(port: server.port, token: token, subprotocol: true)
        defer { if listener.isRunning { listener.terminate() } }
        try await Task.sleep(for: .milliseconds(700))  // let it subscribe

        #expect(try publish(#"[{"type":"flow.entered","revision_id":"r1","session_id":"s1","execution_id":"e1"}]"#, port: server.port) == 0)

        let lines = try await waitForLines(captured, 2)
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

    /// `listen` resumes across a server restart (same SQLite file, same port) with no gap and no duplicate.
    @Test func listenResumesAcrossServerRestart() async throws {
        try await withTemporaryDirectory { directory in
            let arguments = ["--store", "sqlite:" + directory.appendingPathComponent("log.sqlite").path, "--jwt-secret", TestSecrets.jwtSecret,
                             "--admin-key", TestKeys.admin, "--publisher-key", TestKeys.publisher, "--drain-timeout", "2s"]
            var server = try await ServerProcess(arguments: arguments)
            try await server.waitUntilHealthy()
            let port = server.port
            try await seed(port: port)
            let token = JWTCrafter.hs256(claims: #"{"sub":"u1","exp":\#(JWTCrafter.now + 3600)}"#)
            let (listener, captured) = try startListener(port: port, token: token)
            defer { if listener.isRunning { listener.terminate() } }
            try await Task.sleep(for: .milliseconds(700))
            #expect(try publish(#"[{"type":"a","revision_id":"r1","session_id":"s1"},{"type":"b","revision_id":"r1","session_id":"s1"}]"#, port: port) == 0)
            _ = try await waitForLines(captured, 2)

            server.signal(SIGTERM)
            #expect(try await server.waitForExit(timeout: .seconds(10)) == 0)
            server = try await ServerProcess(arguments: arguments, port: port)
            defer { server.terminate() }
            try await server.waitUntilHealthy()
            // Published right away: the listener may still be reconnecting; it must replay them.
            #expect(try publish(#"[{"type":"c","revision_id":"r1","session_id":"s1"},{"type":"d","revision_id":"r1","session_id":"s1"}]"#, port: port) == 0)
            let lines = try await waitForLines(captured, 4)
            let parsed = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(parsed.compactMap { ($0["event"] as? [String: Any])?["type"] as? String } == ["a", "b", "c", "d"])
            let offsets = parsed.compactMap { $0["offset"] as? Int }
            #expect(offsets == offsets.sorted() && Set(offsets).count == 4)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await waitForLines(captured, 4).count == 4)
        }
    }

    private func seed(port: Int) async throws {
        for (path, body) in [
            ("/v1/admin/organizations/o1", "{}"),
            ("/v1/admin/organizations/o1/members/u1", #"{"role":"read"}"#),
            ("/v1/admin/blobs/b1", #"{"organization_id":"o1","type":"workflow","visibility":"private"}"#),
            ("/v1/admin/revisions/r1", #"{"blob_id":"b1","phase":"draft"}"#),
        ] {
            let socket = try await RawSocket.connect(port: port)
            let response = try await socket.request("PUT", path, headers: [("Authorization", "Bearer \(TestKeys.admin)")], body: Array(body.utf8))
            #expect(response.status == 200)
            await socket.close()
        }
    }

    private func startListener(port: Int, token: String, subprotocol: Bool = false) throws -> (Process, CapturedOutput) {
        let listener = Process()
        listener.executableURL = ServerProcess.executableURL
        listener.arguments = ["listen", "--url", "ws://127.0.0.1:\(port)/v1", "--token", token, "--scope", "revision", "--scope-id", "r1", "--target", "session", "--target-id", "s1"] + (subprotocol ? ["--subprotocol"] : [])
        let output = Pipe()
        listener.standardOutput = output
        listener.standardError = FileHandle.nullDevice
        let captured = CapturedOutput()
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            captured.data.withLock { $0.append(data) }
        }
        try listener.run()
        return (listener, captured)
    }

    private func waitForLines(_ captured: CapturedOutput, _ count: Int) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            let lines = captured.data.withLock { String(decoding: $0, as: UTF8.self) }.split(separator: "\n").map(String.init)
            if lines.count >= count || ContinuousClock.now >= deadline { return lines }
            try await Task.sleep(for: .milliseconds(50))
        }
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
