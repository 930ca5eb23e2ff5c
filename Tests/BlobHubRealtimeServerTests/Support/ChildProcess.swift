import Foundation
import NIOCore
import Synchronization
import NIOPosix
import NIOSSL

/// The `blobhub-realtime` executable built next to the test bundle, run as a real child process.
final class ServerProcess: @unchecked Sendable {
    // @unchecked: `process`, `port` and the pipes are only touched from the test that owns this object.
    private(set) var process = Process()
    /// The port the child listens on: read it once the child is up (a port clash moves it, see below).
    private(set) var port: Int
    private var output = Pipe()
    private let captured = CapturedOutput()
    private let arguments: [String]
    /// False when the test chose the port (a restart on the same port): a clash is then the test's to handle.
    private let movesOnPortClash: Bool
    private var launches = 0

    static var executableURL: URL {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // On Linux the test runner is `<products>/blobhub-realtimePackageTests.xctest`.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("blobhub-realtime").path), directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("blobhub-realtime")
    }

    /// A port that was free a moment ago, for a child process to listen on.
    ///
    /// Chosen below the kernel's ephemeral range: a port the kernel handed out for a listener on port 0
    /// can be given to any outgoing connection (a node's PostgreSQL client, a test's socket) before the
    /// child binds it — seen once in CI as "Address already in use". The probe is closed (awaited) before
    /// the port is returned.
    static func freePort() async throws -> Int {
        let ephemeralStart = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
            .flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first }
            .flatMap { Int($0) } ?? 32768
        let range = 10_000..<max(10_001, ephemeralStart)
        for _ in 0..<100 {
            let candidate = Int.random(in: range)
            guard let channel = try? await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: "127.0.0.1", port: candidate).get() else { continue }
            try? await channel.close()
            return candidate
        }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try? await channel.close()
        return port
    }

    /// Starts `serve` on `port` (a free one when nil).
    init(arguments: [String], port: Int? = nil) async throws {
        if let port { self.port = port } else { self.port = try await Self.freePort() }
        self.arguments = arguments
        movesOnPortClash = port == nil
        try launch()
    }

    private func launch() throws {
        launches += 1
        process = Process()
        output = Pipe()
        process.executableURL = Self.executableURL
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", String(port)] + arguments
        process.standardOutput = output
        process.standardError = output
        let captured = self.captured
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            captured.data.withLock { $0.append(data) }
        }
        try process.run()
    }

    /// The child exited: true when it was a port taken between the probe and its bind (another test's socket
    /// got it first, seen in CI) and it was started again on a new port; false when the exit is the test's business.
    private func relaunchedAfterPortClash() async throws -> Bool {
        guard !process.isRunning, movesOnPortClash, launches < 4 else { return false }
        // The pipe's reader may still be catching up with the child's last words.
        var clash = log.contains("Address already in use")
        for _ in 0..<10 where !clash {
            try await Task.sleep(for: .milliseconds(50))
            clash = log.contains("Address already in use")
        }
        guard clash else { return false }
        output.fileHandleForReading.readabilityHandler = nil
        captured.data.withLock { $0 = Data() }
        port = try await Self.freePort()
        try launch()
        return true
    }

    /// Waits until `/healthz` answers (over TLS with a client context).
    func waitUntilHealthy(timeout: Duration = .seconds(20), tls: NIOSSLContext? = nil) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let socket = try? await RawSocket.connect(port: port, tls: tls) {
                let response = try? await socket.request("GET", "/healthz")
                await socket.close()
                if response?.status == 200 { return }
            }
            if !process.isRunning, try await !relaunchedAfterPortClash() { throw Exited(log: log) }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ByteInbox.Timeout(what: "server start")
    }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for exit; returns the status, or nil when it did not exit in time.
    func waitForExit(timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return nil }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// Everything the process printed so far (stdout and stderr).
    var log: String {
        captured.data.withLock { String(decoding: $0, as: UTF8.self) }
    }

    /// Waits until the output contains `text`.
    func waitForOutput(containing text: String, timeout: Duration = .seconds(20)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let current = log
            if current.contains(text) { return current }
            if !process.isRunning, try await !relaunchedAfterPortClash() { throw Exited(log: current) }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ByteInbox.Timeout(what: "output containing \(text)")
    }

    func terminate() {
        if process.isRunning { process.interrupt(); kill(process.processIdentifier, SIGKILL) }
    }

    struct Exited: Error { let log: String }
}


/// What a child process printed, appended from the pipe's reader thread.
final class CapturedOutput: Sendable {
    let data = Mutex(Data())
}
