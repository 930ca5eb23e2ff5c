import Foundation
import NIOCore
import NIOPosix
import Testing

/// `serve --demo` as a newcomer runs it: read the printed credentials, subscribe, watch a workflow run.
@Suite(.serialized) struct DemoTests {
    @Test func demoPrintsCredentialsAndStreamsWorkflowEvents() async throws {
        let child = try await ServerProcess(arguments: ["--demo"])
        defer { child.terminate() }
        let output = try await child.waitForOutput(containing: "Session:")
        let token = try #require(value(after: "Bearer token:", in: output))
        let apiKey = try #require(value(after: "API key:", in: output))
        let session = try #require(value(after: "Session:", in: output))
        let revision = try #require(value(after: "Revision:", in: output))
        #expect(output.contains("/console#token=\(token)&scope=revision&scope_id=\(revision)&target=session&target_id=\(session)"))

        let bearer = try await TestWebSocket.connect(port: child.port, headers: [("Authorization", "Bearer \(token)")])
        _ = try await bearer.initialize()
        #expect(try await bearer.subscribe(sessionParams(revision: revision, session: session, extra: #","since":0"#))["result"] != nil)
        let expected: Set<String> = ["flow.entered", "execution_started", "processor.output", "execution_ended", "session_thread_item_posted", "session_object_modified"]
        var types: Set<String> = []
        var started: [String: Int] = [:], runTimes: [Int] = []  // execution id -> created_at of its start; start-to-end spans
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, !types.isSuperset(of: expected) {
            let event = try await bearer.nextEvent(timeout: .seconds(10))
            guard let body = event["event"] as? [String: Any], let type = body["type"] as? String else { continue }
            types.insert(type)
            if let execution = body["execution_id"] as? String, let at = body["created_at"] as? Int {
                if type == "execution_started" { started[execution] = at }
                if type == "execution_ended", let start = started[execution] { runTimes.append(at - start) }
            }
        }
        #expect(types.isSuperset(of: expected))
        // Published step by step (one publish per step, each after its work), not a whole execution at once.
        #expect(runTimes.first.map { $0 >= 1000 } == true, "execution start-to-end spans: \(runTimes) ms")

        // The printed API key works too.
        let keyed = try await TestWebSocket.connect(port: child.port, headers: [("X-API-Key", apiKey)])
        _ = try await keyed.initialize()
        #expect(try await keyed.subscribe(sessionParams(revision: revision, session: session))["result"] != nil)

        // The console page is served.
        let console = try await RemoteServer(port: child.port).http("GET", "/console")
        #expect(console.status == 200)
        #expect(console.bodyText.contains(#"import { RealtimeClient } from "/client/blobhub-realtime.js""#))
        child.signal(SIGTERM)
        #expect(try await child.waitForExit(timeout: .seconds(12)) == 0)
    }

    /// A port already taken: the demo (which waits for the listener to print its banner) must not keep the
    /// process alive; it exits non-zero saying why. Before, it hung until killed (seen in CI as a test timeout).
    @Test func demoOnATakenPortExitsWithTheReason() async throws {
        let taken = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(taken.localAddress?.port)
        let child = try await ServerProcess(arguments: ["--demo"], port: port)
        defer { child.terminate() }
        let status = try await child.waitForExit(timeout: .seconds(20))
        try? await taken.close()
        #expect(status != nil && status != 0, "\(child.log)")
        #expect(child.log.contains("Address already in use"), "\(child.log)")
        #expect(!child.log.contains("Session:"))
    }

    private func value(after label: String, in output: String) -> String? {
        guard let line = output.split(separator: "\n").first(where: { $0.contains(label) }) else { return nil }
        return line.components(separatedBy: label).last?.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init)
    }
}
