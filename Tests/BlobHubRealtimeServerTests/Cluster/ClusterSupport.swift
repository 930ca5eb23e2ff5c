import BlobHubRealtimeStore
import Foundation
import Logging
import PostgresNIO
import BlobHubRealtimePostgresTesting
import Testing

/// The PostgreSQL server the cluster tests use: `BLOBHUB_REALTIME_TEST_POSTGRES_URL` (and, for the restart test,
/// `…_PG_CTL`, `…_DATA`, `…_RUN_AS`), as printed by `scripts/ci/postgres.sh start`.
enum ClusterDatabase {
    static let skipMessage = TestPostgres.skipMessage("cluster tests")
    static func environment(_ suffix: String) -> String? { TestPostgres.environment(suffix) }
    static var isConfigured: Bool { TestPostgres.isConfigured }
    static var logger: Logger { TestPostgres.logger }

    @discardableResult
    static func execute(_ statements: [String], url: String? = nil) async throws -> [String] {
        try await TestPostgres.execute(statements, url: url)
    }

    /// A fresh database (its name and URL) for `body`, dropped afterwards.
    static func withDatabase<T>(_ body: (_ name: String, _ url: String) async throws -> T) async throws -> T {
        try await TestPostgres.withDatabase(prefix: "blobhub_cluster_", body)
    }

    /// Makes the database unreachable for the nodes (new connections refused, current ones ended) or reachable again.
    static func setReachable(_ reachable: Bool, database name: String) async throws {
        if reachable {
            try await execute(["ALTER DATABASE \(name) ALLOW_CONNECTIONS true"])
        } else {
            try await execute([
                "ALTER DATABASE \(name) ALLOW_CONNECTIONS false",
                "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = '\(name)' AND pid <> pg_backend_pid()",
            ])
        }
    }

    /// Runs `pg_ctl -D <data> -w <arguments>` (as the database's user when we are root), e.g. to restart the server.
    /// Spawned with its standard streams on /dev/null and awaited with `waitpid` on another thread: Foundation's
    /// `Process` would wait for the PostgreSQL daemon too, because the daemon inherits its exit-watching descriptor.
    static func pgCtl(_ arguments: [String]) async throws {
        guard let pgCtl = environment("PG_CTL"), let data = environment("DATA") else {
            throw TestServerHandle.PublishFailed(response: "BLOBHUB_REALTIME_TEST_POSTGRES_PG_CTL/_DATA not set", status: 0)
        }
        var command = [pgCtl, "-D", data, "-w", "-t", "60", "-l", data + "/../log"] + arguments
        if let user = environment("RUN_AS") { command = ["/usr/sbin/runuser", "-u", user, "--"] + command }
        let argv = command
        let status = await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: spawnAndWait(argv)) }
        }
        guard status == 0 else {
            throw TestServerHandle.PublishFailed(response: "pg_ctl \(arguments) failed", status: Int(status))
        }
    }

    /// Runs a program to completion; its exit status (-1 when it could not be started).
    private static func spawnAndWait(_ argv: [String]) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in cArguments + cEnvironment { free(pointer) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { return -1 }
        }
        return (status >> 8) & 0xFF
    }

    /// Ends the LISTEN connection of the node with process id `pid`; returns how many backends were ended.
    @discardableResult
    static func terminateListener(ofProcess pid: Int32) async throws -> Int {
        try await execute([
            "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE application_name = 'blobhub-realtime-listener-\(pid)'",
        ]).count
    }
}

/// One node of a test cluster: `blobhub-realtime serve` as a child process on a shared PostgreSQL database.
final class ClusterNode: Sendable {
    let child: ServerProcess
    var port: Int { child.port }
    var pid: Int32 { child.process.processIdentifier }

    init(store url: String) async throws {
        child = try await Self.startHealthy(arguments: [
            "--store", url, "--jwt-secret", TestSecrets.jwtSecret,
            "--admin-key", TestKeys.admin, "--publisher-key", TestKeys.publisher, "--drain-timeout", "1s",
        ])
    }

    /// Starts a node (a port taken before the child's bind moves it to another, see `ServerProcess`).
    private static func startHealthy(arguments: [String]) async throws -> ServerProcess {
        let child = try await ServerProcess(arguments: arguments)
        try await child.waitUntilHealthy()
        return child
    }

    static func start(_ count: Int, store url: String) async throws -> [ClusterNode] {
        var nodes: [ClusterNode] = []
        for _ in 0..<count { nodes.append(try await ClusterNode(store: url)) }
        return nodes
    }

    func stop() { child.terminate() }

    /// Waits up to 30 s: while the database is down a publish waits for it up to the node's 10 s append deadline.
    func http(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) async throws -> HTTPResponseHead {
        let socket = try await RawSocket.connect(port: port)
        defer { Task { await socket.close() } }
        return try await socket.request(method, path, headers: headers, body: body, timeout: .seconds(30))
    }

    func admin(_ method: String, _ path: String, _ body: String? = nil) async throws -> HTTPResponseHead {
        try await http(method, "/v1/admin" + path, headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(TestKeys.admin)")],
                       body: Array((body ?? "").utf8))
    }

    func publish(_ body: String) async throws -> HTTPResponseHead {
        try await http("POST", "/v1/events", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(TestKeys.publisher)")],
                       body: Array(body.utf8))
    }

    /// Publishes; returns the acknowledged offsets, or throws unless the answer is 202.
    @discardableResult
    func publishAccepted(_ body: String) async throws -> [Int] {
        let response = try await publish(body)
        guard response.status == 202, let events = response.bodyJSON?["events"] as? [[String: Any]] else {
            throw TestServerHandle.PublishFailed(response: response.bodyText, status: response.status)
        }
        return events.compactMap { $0["offset"] as? Int }
    }

    func connectInitialized(user: String = Fixture.user) async throws -> TestWebSocket {
        let token = JWTCrafter.hs256(claims: #"{"sub":"\#(user)","exp":\#(JWTCrafter.now + 3600)}"#)
        let socket = try await TestWebSocket.connect(port: port, headers: [("Authorization", "Bearer \(token)")])
        _ = try await socket.initialize()
        return socket
    }

    /// The organization, member, blob and revision the session events need.
    func seed() async throws {
        let steps: [(String, String)] = [
            ("/organizations/\(Fixture.org)", #"{"name":"Org One"}"#),
            ("/organizations/\(Fixture.org)/members/\(Fixture.user)", #"{"role":"read"}"#),
            ("/blobs/\(Fixture.blob)", #"{"organization_id":"\#(Fixture.org)","type":"workflow","visibility":"private"}"#),
            ("/revisions/\(Fixture.revision)", #"{"blob_id":"\#(Fixture.blob)","phase":"draft"}"#),
        ]
        for (path, body) in steps {
            let response = try await admin("PUT", path, body)
            guard response.status == 200 else { throw TestServerHandle.PublishFailed(response: "\(path): \(response.bodyText)", status: response.status) }
        }
    }
}

/// Runs `body` with `count` nodes on a fresh database; stops them and drops the database afterwards.
func withCluster<T>(_ count: Int, seed: Bool = true, _ body: (_ nodes: [ClusterNode], _ database: String) async throws -> T) async throws -> T {
    try await ClusterDatabase.withDatabase { name, url in
        let first = try await ClusterNode(store: url)
        defer { first.stop() }
        if seed { try await first.seed() }
        // The others load the seeded registry at start.
        let others = try await ClusterNode.start(count - 1, store: url)
        defer { for node in others { node.stop() } }
        return try await body([first] + others, name)
    }
}

extension TestWebSocket {
    /// Reads event notifications until `count` arrived; returns (offset, event id) pairs.
    func receiveEvents(_ count: Int, timeout: Duration = .seconds(10)) async throws -> [(offset: Int, id: String)] {
        var received: [(offset: Int, id: String)] = []
        while received.count < count {
            let params = try await nextEvent(timeout: timeout)
            let event = params["event"] as? [String: Any]
            received.append((params["offset"] as? Int ?? -1, event?["id"] as? String ?? ""))
        }
        return received
    }
}
