import Foundation
import Synchronization

/// A subscriber that survives server restarts the way SPEC §7.4 tells clients to: it records the
/// highest offset it processed per subscription and, after any disconnect, reconnects and
/// resubscribes with `since` and the epoch. Meanwhile it churns one extra subscription (add, remove)
/// whose events are not checked. Everything it saw is kept for the test's exact checks.
final class ResumingClient: Sendable {
    struct Delivery: Sendable, Equatable {
        var offset: Int
        var id: String
    }

    private struct State {
        var received: [String: [Delivery]] = [:]
        var violations: [String] = []
        var connections = 0
        var subscribedOnce = false
        var epoch: String?
    }

    let name: String
    let sessions: [String]
    let churnSession: String
    private let revision: String
    private let port: Int
    private let token: String
    private let state = Mutex(State())
    private let stopped = Atomic<Bool>(false)

    init(name: String, port: Int, token: String, revision: String, sessions: [String], churnSession: String) {
        self.name = name
        self.port = port
        self.token = token
        self.revision = revision
        self.sessions = sessions
        self.churnSession = churnSession
    }

    /// What the client received per session, in arrival order.
    var received: [String: [Delivery]] { state.withLock { $0.received } }
    var violations: [String] { state.withLock { $0.violations } }
    /// Successful connections (initialized and subscribed); more than one means it resumed.
    var connections: Int { state.withLock { $0.connections } }
    var subscribedOnce: Bool { state.withLock { $0.subscribedOnce } }

    func stop() { stopped.store(true, ordering: .relaxed) }

    /// Connects, and reconnects after every disconnect, until `stop()`.
    func run() async {
        while !stopped.load(ordering: .relaxed) {
            var socket: TestWebSocket?
            do {
                let opened = try await TestWebSocket.connect(port: port, headers: [("Authorization", "Bearer \(token)")])
                socket = opened
                try await serve(opened)
            } catch {
                // Refused while the server restarts, closed by a drain, reset by kill -9: try again.
            }
            await socket?.close()
            if !stopped.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(Int.random(in: 50...250))) }
        }
    }

    private func serve(_ socket: TestWebSocket) async throws {
        var nextID = 1
        func call(_ method: String, _ params: String) async throws -> [String: Any] {
            nextID += 1
            try await socket.send(#"{"jsonrpc":"2.0","id":\#(nextID),"method":"\#(method)","params":\#(params)}"#)
            return try await readUntilResponse(socket, id: nextID)
        }
        let initialized = try await call("status/initialize", "{}")
        guard let result = initialized["result"] as? [String: Any], let epoch = result["epoch"] as? String else {
            throw Unexpected(what: "initialize answer \(initialized)")
        }
        let known = state.withLock { state in
            if state.epoch == nil { state.epoch = epoch }
            return state.epoch
        }
        if known != epoch { record("epoch changed from \(known ?? "nil") to \(epoch)") }

        for session in sessions {
            // since = the last offset seen; 0 the first time, so the client gets every event ever
            // published to its keys, whatever the timing of its first subscription.
            let since = state.withLock { $0.received[session]?.last?.offset } ?? 0
            let answer = try await call("subscription/add", params(session, extra: #","since":\#(since),"epoch":"\#(epoch)""#))
            guard let added = answer["result"] as? [String: Any] else { throw Unexpected(what: "add answer \(answer)") }
            if added["recovered"] as? Bool != true { record("resubscribe since \(since) was not recovered: \(added)") }
        }
        state.withLock {
            $0.connections += 1
            $0.subscribedOnce = true
        }

        var churning = false
        var nextChurn = ContinuousClock.now + .milliseconds(Int.random(in: 100...400))
        while !stopped.load(ordering: .relaxed) {
            if ContinuousClock.now >= nextChurn {
                let answer = try await call(churning ? "subscription/remove" : "subscription/add", params(churnSession))
                if answer["result"] == nil { record("churn answer \(answer)") }
                churning.toggle()
                nextChurn = ContinuousClock.now + .milliseconds(Int.random(in: 100...400))
            }
            do {
                let message = try await nextMessage(socket, timeout: .milliseconds(200))
                handle(message)
            } catch is ByteInbox.Timeout {
                continue
            }
        }
    }

    private func params(_ session: String, extra: String = "") -> String {
        #"{"scope":"revision","scope_id":"\#(revision)","target":"session","target_id":"\#(session)"\#(extra)}"#
    }

    /// Reads messages, handling events, until the response with `id`.
    private func readUntilResponse(_ socket: TestWebSocket, id: Int) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            let message: [String: Any]
            do {
                message = try await nextMessage(socket, timeout: .seconds(1))
            } catch is ByteInbox.Timeout {
                continue
            }
            if message["id"] as? Int == id { return message }
            handle(message)
        }
        throw ByteInbox.Timeout(what: "response \(id)")
    }

    /// The next JSON message; a close frame or the end of the stream ends the connection.
    private func nextMessage(_ socket: TestWebSocket, timeout: Duration) async throws -> [String: Any] {
        while true {
            let frame = try await socket.nextFrame(timeout: timeout)
            switch frame.opcode {
            case 0x1:
                guard let message = try JSONSerialization.jsonObject(with: Data(frame.payload)) as? [String: Any] else {
                    throw Unexpected(what: "non-object message \(frame.text)")
                }
                return message
            case 0x8:
                try? await socket.sendRaw(ClientFrame.encode(opcode: 0x8, payload: Array(frame.payload.prefix(2))))
                throw Disconnected(code: frame.closeCode)
            case 0x9:
                try? await socket.sendRaw(ClientFrame.encode(opcode: 0xA, payload: frame.payload))
            default:
                throw Unexpected(what: "frame opcode \(frame.opcode)")
            }
        }
    }

    private func handle(_ message: [String: Any]) {
        guard message["method"] as? String == "subscription/event",
              let params = message["params"] as? [String: Any],
              let session = params["target_id"] as? String,
              let offset = params["offset"] as? Int,
              let id = (params["event"] as? [String: Any])?["id"] as? String
        else {
            if message["method"] as? String == "subscription/revoked" { record("revoked: \(message)") }
            else if message["id"] != nil { record("unexpected response \(message)") }
            return
        }
        guard sessions.contains(session) else { return }
        state.withLock { state in
            if let last = state.received[session]?.last, offset <= last.offset {
                state.violations.append("\(name): offset \(offset) (\(id)) after \(last.offset) on \(session)")
            }
            state.received[session, default: []].append(Delivery(offset: offset, id: id))
        }
    }

    private func record(_ violation: String) {
        state.withLock { $0.violations.append("\(name): \(violation)") }
    }

    struct Disconnected: Error { let code: UInt16? }
    struct Unexpected: Error { let what: String }
}
