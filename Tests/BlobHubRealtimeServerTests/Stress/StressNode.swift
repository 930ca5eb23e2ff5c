import Foundation

/// A `blobhub-realtime serve` child process on a SQLite file, restartable on the same port, with the
/// HTTP calls the stress tests make to it.
final class StressNode: @unchecked Sendable {
    // @unchecked: `current` is replaced only by the test task that owns the node (start/restart),
    // never while other tasks read it; publishers and clients only use `port`, which never changes.
    let port: Int
    let databasePath: String
    private(set) var current: ServerProcess

    private static func arguments(_ database: String) -> [String] {
        [
            "--store", "sqlite:\(database)", "--jwt-secret", TestSecrets.jwtSecret,
            "--admin-key", TestKeys.admin, "--publisher-key", TestKeys.publisher,
            "--drain-timeout", "2s", "--log-level", "warning",
        ]
    }

    init(directory: URL) async throws {
        databasePath = directory.appendingPathComponent("stress.sqlite").path
        current = try await ServerProcess(arguments: Self.arguments(databasePath))
        try await current.waitUntilHealthy()
        port = current.port
    }

    var pid: Int32 { current.process.processIdentifier }

    /// Stops the node with `signal` and starts a new one on the same port and database.
    /// Returns the old process's exit status (nil when it had to be killed).
    @discardableResult
    func restart(with signal: Int32) async throws -> Int32? {
        current.signal(signal)
        let status = try await current.waitForExit(timeout: .seconds(10))
        current.terminate()
        current = try await ServerProcess(arguments: Self.arguments(databasePath), port: port)
        try await current.waitUntilHealthy()
        return status
    }

    func stop() { current.terminate() }

    var token: String { JWTCrafter.hs256(claims: #"{"sub":"\#(Fixture.user)","exp":\#(JWTCrafter.now + 3600)}"#) }

    func http(_ method: String, _ path: String, key: String, body: String = "") async throws -> HTTPResponseHead {
        let socket = try await RawSocket.connect(port: port)
        let response = try await socket.request(
            method, path, headers: [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")], body: Array(body.utf8)
        )
        // Closed before returning, so the node's socket count settles (the descriptor checks read it).
        await socket.close()
        return response
    }

    /// Organization, member user-1, a workflow blob and one revision.
    func seed() async throws {
        let steps: [(String, String)] = [
            ("/organizations/\(Fixture.org)", #"{"name":"Stress"}"#),
            ("/organizations/\(Fixture.org)/members/\(Fixture.user)", #"{"role":"read"}"#),
            ("/blobs/\(Fixture.blob)", #"{"organization_id":"\#(Fixture.org)","type":"workflow","visibility":"private"}"#),
            ("/revisions/\(Fixture.revision)", #"{"blob_id":"\#(Fixture.blob)","phase":"draft"}"#),
        ]
        for (path, body) in steps {
            let response = try await http("PUT", "/v1/admin" + path, key: TestKeys.admin, body: body)
            guard response.status == 200 else { throw StressFailure("seed \(path): \(response.status) \(response.bodyText)") }
        }
    }

    /// `GET /v1/admin/stats`: open connections and subscriptions of the node.
    func counters() async throws -> (connections: Int, subscriptions: Int) {
        let response = try await http("GET", "/v1/admin/stats", key: TestKeys.admin)
        guard let json = response.bodyJSON, let connections = json["connections"] as? Int, let subscriptions = json["subscriptions"] as? Int else {
            throw StressFailure("stats: \(response.status) \(response.bodyText)")
        }
        return (connections, subscriptions)
    }

    /// Waits until the node counts no connection and no subscription.
    func waitUntilIdle(timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = (connections: -1, subscriptions: -1)
        while ContinuousClock.now < deadline {
            last = try await counters()
            if last.connections == 0 && last.subscriptions == 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw StressFailure("node not idle: \(last.connections) connections, \(last.subscriptions) subscriptions")
    }
}

struct StressFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
