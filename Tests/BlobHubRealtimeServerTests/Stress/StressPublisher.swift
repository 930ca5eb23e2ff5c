import Foundation
import Synchronization

/// Publishes a fixed list of session events over HTTP in small batches, retrying each batch with
/// the same event ids until it is acknowledged (202): ids make retries idempotent (SPEC §8), so a
/// batch that was committed just before a kill -9 is acknowledged with its original offsets.
final class StressPublisher: Sendable {
    struct Acknowledged: Sendable {
        var id: String
        var session: String
        var offset: Int
    }

    private let port: Int
    private let name: String
    private let revision: String
    private let sessions: [String]
    private let events: Int
    private let acknowledged = Mutex<[Acknowledged]>([])
    private let retries = Atomic<Int>(0)

    init(name: String, port: Int, revision: String, sessions: [String], events: Int) {
        self.name = name
        self.port = port
        self.revision = revision
        self.sessions = sessions
        self.events = events
    }

    var acks: [Acknowledged] { acknowledged.withLock { $0 } }
    /// Batches that had to be sent again (the node was restarting).
    var retried: Int { retries.load(ordering: .relaxed) }

    /// Publishes everything, pausing `pause` between batches; gives up on a batch after `deadline`.
    func run(pause: Duration, deadline: ContinuousClock.Instant) async throws {
        var number = 0
        while number < events {
            let size = min(Int.random(in: 1...4), events - number)
            let batch = (number..<(number + size)).map { index in
                (id: "\(name)-\(index)", session: sessions[Int.random(in: 0..<sessions.count)])
            }
            number += size
            let body = "[" + batch.map {
                #"{"id":"\#($0.id)","type":"session_object_modified","revision_id":"\#(revision)","session_id":"\#($0.session)","session_object":{"alias":"a"}}"#
            }.joined(separator: ",") + "]"
            let offsets = try await publishUntilAcknowledged(body, deadline: deadline)
            guard offsets.count == batch.count else { throw StressFailure("\(name): \(offsets.count) offsets for \(batch.count) events") }
            acknowledged.withLock { list in
                for (event, offset) in zip(batch, offsets) { list.append(Acknowledged(id: event.id, session: event.session, offset: offset)) }
            }
            try await Task.sleep(for: pause)
        }
    }

    private func publishUntilAcknowledged(_ body: String, deadline: ContinuousClock.Instant) async throws -> [Int] {
        while true {
            do {
                let socket = try await RawSocket.connect(port: port)
                let response = try await socket.request(
                    "POST", "/v1/events",
                    headers: [("Authorization", "Bearer \(TestKeys.publisher)"), ("Content-Type", "application/json")],
                    body: Array(body.utf8)
                )
                await socket.close()
                if response.status == 202, let events = response.bodyJSON?["events"] as? [[String: Any]] {
                    return events.compactMap { $0["offset"] as? Int }
                }
                // A draining node answers 503; anything else is a bug.
                guard response.status == 503 else { throw StressFailure("\(name): publish answered \(response.status) \(response.bodyText)") }
            } catch let failure as StressFailure {
                throw failure
            } catch {
                // Refused or reset while the node restarts.
            }
            guard ContinuousClock.now < deadline else { throw StressFailure("\(name): a batch was never acknowledged") }
            retries.add(1, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
