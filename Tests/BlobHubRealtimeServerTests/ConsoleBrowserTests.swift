import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Testing

/// The `/console` page in a real headless Chromium, driven through the DevTools protocol:
/// open the deep link, publish events, see them in the session view and the raw table.
@Suite(.serialized) struct ConsoleBrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: chromium != nil, "needs Chromium (the Debian package chromium; .ci/run installs it)"))
    func deepLinkConnectsAndShowsLiveEvents() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let token = try await server.token()
            let hash = "token=\(token)&scope=revision&scope_id=\(Fixture.revision)&target=session&target_id=\(Fixture.session)&types=flow.entered,processor.output"
            let page = try await HeadlessChromium.open(Self.chromium!, url: "http://127.0.0.1:\(server.port)/console#\(hash)")
            defer { page.stop() }

            // The deep link filled the form and connected (the hash never reached the server).
            try await page.waitFor("document.getElementById('state').textContent === 'live'")
            #expect(try await page.evaluate("document.getElementById('target_id').value") == Fixture.session)
            #expect(try await page.evaluate("document.getElementById('types').value") == "flow.entered,processor.output")

            let offsets = try await server.publishAccepted("[" + [sessionEvent("processor.output", extra: #""message":"hello from the test""#), sessionEvent("session_graph_changed")].joined(separator: ",") + "]")
            try await page.waitFor("document.querySelectorAll('#events tr').length === 1")
            let row = try await page.evaluate("document.querySelector('#events tr').innerText")
            #expect(row.contains(String(offsets[0])))
            #expect(row.contains("processor.output"))
            #expect(row.contains("hello from the test"))
        }
    }
}

extension ConsoleBrowserTests {
    /// The session view: executions as rows with their status from the derived events, each with its
    /// processor steps as a timeline, a step's outputs and errors on click; published one step at a time.
    @Test(.enabled(if: chromium != nil, "needs Chromium"))
    func sessionViewShowsExecutionsWithStepsAndStatus() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let token = try await server.token()
            let hash = "token=\(token)&scope=revision&scope_id=\(Fixture.revision)&target=session&target_id=\(Fixture.session)"
            let page = try await HeadlessChromium.open(Self.chromium!, url: "http://127.0.0.1:\(server.port)/console#\(hash)")
            defer { page.stop() }
            try await page.waitFor("document.getElementById('state').dataset.state === 'open'")
            #expect(try await page.evaluate("document.getElementById('session-view').hidden") == "false")
            #expect(try await page.evaluate("document.getElementById('session-empty').hidden") == "false")

            func step(_ type: String, _ execution: String, processor: String? = nil, _ extra: String = "") async throws {
                var fields = extra
                if let processor { fields += (fields.isEmpty ? "" : ",") + #""attributes":{"processor":"\#(processor)"}"# }
                try await server.publishAccepted(sessionEvent(type, execution: execution, extra: fields))
            }
            let row = { (execution: String) in "document.querySelector('tr.execution[data-execution=\"\(execution)\"]')" }

            // In progress: one step entered, nothing ended yet.
            try await step("flow.entered", "exec-ok", #""message":"run one""#)
            try await step("processor.entered", "exec-ok", processor: "load")
            try await page.waitFor("\(row("exec-ok"))?.dataset.status === 'running'")
            try await page.waitFor("document.querySelectorAll('tr.timeline[data-execution=\"exec-ok\"] .step[data-status=running]').length === 1")

            try await step("processor.output", "exec-ok", processor: "load", #""data":{"items":7}"#)
            try await step("processor.exited", "exec-ok", processor: "load")
            try await step("processor.entered", "exec-ok", processor: "store")
            try await step("processor.exited", "exec-ok", processor: "store")
            try await step("flow.exited", "exec-ok", #""message":"run one completed""#)
            try await page.waitFor("\(row("exec-ok"))?.dataset.status === 'completed'")
            let completed = try await page.evaluate("\(row("exec-ok")).innerText")
            #expect(completed.contains("completed"))
            #expect(completed.contains("run one completed"))
            #expect(try await page.evaluate("\(row("exec-ok")).cells[6].textContent") == "2")
            #expect(try await page.evaluate("Array.from(document.querySelectorAll('tr.timeline[data-execution=\"exec-ok\"] .step')).map(s => s.dataset.status + ':' + s.querySelector('.name').textContent).join(',')")
                == "done:load,done:store")

            // Its outputs on click.
            _ = try await page.evaluate("document.querySelector('tr.timeline[data-execution=\"exec-ok\"] .step[data-step=\"0\"]').click()")
            try await page.waitFor("document.querySelector('tr.timeline[data-execution=\"exec-ok\"] pre.detail')?.textContent.includes('\"items\": 7') === true")

            // A failing execution: newest first, failed, the failing step's error on click.
            try await step("flow.entered", "exec-bad")
            try await step("processor.entered", "exec-bad", processor: "classify")
            try await step("processor.error", "exec-bad", processor: "classify", #""message":"classify: upstream timeout""#)
            try await step("flow.error", "exec-bad", #""message":"run two failed""#)
            try await page.waitFor("\(row("exec-bad"))?.dataset.status === 'failed'")
            #expect(try await page.evaluate("document.querySelector('tr.execution').dataset.execution") == "exec-bad")
            _ = try await page.evaluate("document.querySelector('tr.timeline[data-execution=\"exec-bad\"] .step').click()")
            try await page.waitFor("document.querySelector('tr.timeline[data-execution=\"exec-bad\"] pre.detail')?.textContent.includes('upstream timeout') === true")
            #expect(try await page.evaluate("document.querySelector('tr.timeline[data-execution=\"exec-bad\"] .step').dataset.status") == "error")

            // Session-level events go to the activity list; the raw table holds every event.
            try await server.publishAccepted(sessionEvent("session_object_modified", extra: #""session_object":{"alias":"summary"}"#))
            try await page.waitFor("document.getElementById('activity').innerText.includes('object summary')")
            // 11 published execution events + 2 execution_started + 2 execution_ended + 1 session event.
            try await page.waitFor("document.querySelectorAll('#events tr').length === 16")
            _ = try await page.evaluate("document.getElementById('tab-events').click()")
            #expect(try await page.evaluate("document.getElementById('events-view').hidden") == "false")
            #expect(try await page.evaluate("document.getElementById('session-view').hidden") == "true")
            #expect(try await page.evaluate("/^[0-9.]+ events\\/s$/.test(document.getElementById('rate').textContent)") == "true")
        }
    }

    /// After the server restarts, the page reconnects and resumes with `since`: nothing lost, nothing twice.
    @Test(.enabled(if: chromium != nil, "needs Chromium"))
    func consoleResumesAfterServerRestart() async throws {
        try await withTemporaryDirectory { directory in
            let port = try await ServerProcess.freePort()
            let configure: (inout ServerConfiguration) -> Void = { $0.store = "sqlite:" + directory.appendingPathComponent("log.sqlite").path; $0.port = port }
            let token = JWTCrafter.hs256(claims: #"{"sub":"\#(Fixture.user)","exp":\#(JWTCrafter.now + 3600)}"#)
            let hash = "token=\(token)&scope=revision&scope_id=\(Fixture.revision)&target=session&target_id=\(Fixture.session)"
            var page: HeadlessChromium?
            defer { page?.stop() }
            try await withPlatform(configure) { (server: TestServerHandle) async throws in
                page = try await HeadlessChromium.open(Self.chromium!, url: "http://127.0.0.1:\(port)/console#\(hash)")
                try await page!.waitFor("document.getElementById('state').textContent === 'live'")
                try await server.publishAccepted(sessionEvent("first.event"))
                try await page!.waitFor("document.querySelectorAll('#events tr').length === 1")
            }
            try await withPlatform(configure, seed: false) { (server: TestServerHandle) async throws in
                // Published while the page may still be reconnecting: it must come through `since`.
                try await server.publishAccepted(sessionEvent("second.event"))
                try await page!.waitFor("document.querySelectorAll('#events tr').length === 2", timeout: .seconds(30))
                let types = try await page!.evaluate("Array.from(document.querySelectorAll('#events tr td:nth-child(3)')).map(c => c.textContent).join(',')")
                #expect(types == "second.event,first.event")
                let first = try await page!.evaluate("document.querySelector('#events tr:last-child td').textContent")
                #expect(try await page!.evaluate("document.getElementById('note').textContent") == "resumed from offset \(first)")
            }
        }
    }
}

/// Chromium in headless mode with a DevTools WebSocket to evaluate expressions in the page.
struct HeadlessChromium {
    let process: Process
    let devtools: TestWebSocket
    let profile: URL

    static func open(_ executable: String, url: String) async throws -> HeadlessChromium {
        let port = try await ServerProcess.freePort()
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=\(profile.path)", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=\(port)", url,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Find the page's DevTools endpoint.
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let socket = try? await RawSocket.connect(port: port), let list = try? await socket.request("GET", "/json/list") {
                await socket.close()
                let targets = (try? JSONSerialization.jsonObject(with: Data(list.body))) as? [[String: Any]] ?? []
                if let target = targets.first(where: { $0["type"] as? String == "page" }), let debugger = target["webSocketDebuggerUrl"] as? String,
                   let path = URLComponents(string: debugger)?.path {
                    let devtools = try await TestWebSocket.connect(port: port, path: path, headers: [])
                    return HeadlessChromium(process: process, devtools: devtools, profile: profile)
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        process.terminate()
        throw ByteInbox.Timeout(what: "Chromium DevTools")
    }

    /// Evaluates `expression` in the page and returns its value as text.
    func evaluate(_ expression: String) async throws -> String {
        let id = Int.random(in: 1...1_000_000)
        let command: [String: Any] = ["id": id, "method": "Runtime.evaluate", "params": ["expression": "String(\(expression))", "returnByValue": true]]
        try await devtools.send(String(decoding: try JSONSerialization.data(withJSONObject: command), as: UTF8.self))
        while true {
            guard let message = try await devtools.nextJSON(timeout: .seconds(10)) as? [String: Any] else { continue }
            guard message["id"] as? Int == id else { continue }
            let result = (message["result"] as? [String: Any])?["result"] as? [String: Any]
            return result?["value"] as? String ?? ""
        }
    }

    /// Polls until `condition` is true in the page.
    func waitFor(_ condition: String, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await evaluate(condition) == "true" { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ByteInbox.Timeout(what: condition)
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: profile)
    }
}
