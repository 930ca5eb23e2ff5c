import Foundation
import NIOPosix

/// The `blobhub-realtime` executable built next to the test bundle, run as a real child process.
final class ServerProcess: @unchecked Sendable {
    // @unchecked: `process` and the pipes are only touched from the test that owns this object.
    let process = Process()
    let port: Int
    private let output = Pipe()

    static var executableURL: URL {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // On Linux the test runner is `<products>/blobhub-realtimePackageTests.xctest`.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("blobhub-realtime").path), directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("blobhub-realtime")
    }

    /// A port that was free a moment ago.
    static func freePort() throws -> Int {
        let socket = try ServerSocket(bindTo: .init(ipAddress: "127.0.0.1", port: 0))
        defer { try? socket.close() }
        return try socket.localAddress().port ?? 0
    }

    init(arguments: [String]) throws {
        port = try Self.freePort()
        process.executableURL = Self.executableURL
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", String(port)] + arguments
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    /// Waits until `/healthz` answers.
    func waitUntilHealthy(timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let socket = try? await RawSocket.connect(port: port) {
                let response = try? await socket.request("GET", "/healthz")
                await socket.close()
                if response?.status == 200 { return }
            }
            guard process.isRunning else { throw Exited(log: log) }
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

    var log: String {
        String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
    }

    func terminate() {
        if process.isRunning { process.interrupt(); kill(process.processIdentifier, SIGKILL) }
    }

    struct Exited: Error { let log: String }
}

private struct ServerSocket {
    let fd: Int32
    init(bindTo address: SocketAddress) throws {
        fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard result == 0 else { throw POSIXError(.EADDRINUSE) }
    }
    func localAddress() throws -> SocketAddress {
        var addr = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return try SocketAddress(ipAddress: "127.0.0.1", port: Int(UInt16(bigEndian: addr.sin_port)))
    }
    func close() throws { _ = Glibc.close(fd) }
}
