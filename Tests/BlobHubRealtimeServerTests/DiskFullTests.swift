import Foundation
import Testing
@testable import BlobHubRealtimeServer
@testable import BlobHubRealtimeHTTPAPI
@testable import BlobHubRealtimeServices
@testable import BlobHubRealtimeTransport

/// A full disk under the SQLite store (issue 17): publishes answer 503 saying so, nothing acknowledged is lost,
/// `/readyz` is red until space returns, and then publishing works again. The disk is a small tmpfs.
@Suite(.serialized) struct DiskFullTests {
    static let mountTool = ["/usr/bin/mount", "/bin/mount"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let umountTool = ["/usr/bin/umount", "/bin/umount"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let canMount = geteuid() == 0 && mountTool != nil && umountTool != nil

    private static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Writes `filler` until the file system refuses more (bounded by the tmpfs size).
    private static func fill(_ filler: URL) throws {
        FileManager.default.createFile(atPath: filler.path, contents: nil)
        let handle = try FileHandle(forWritingTo: filler)
        defer { try? handle.close() }
        let chunk = Data(repeating: 0x2E, count: 16 * 1024)
        for _ in 0..<1024 {
            do { try handle.write(contentsOf: chunk) } catch { return }
        }
    }

    @Test(.enabled(if: canMount, "needs root and mount(8) for a small tmpfs"))
    func fullDiskRefusesPublishesAndRecovers() async throws {
        try await withTemporaryDirectory { directory in
            let disk = directory.appendingPathComponent("disk")
            try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
            guard Self.run(Self.mountTool!, ["-t", "tmpfs", "-o", "size=4m", "tmpfs", disk.path]) == 0 else {
                Issue.record("could not mount a tmpfs at \(disk.path)")
                return
            }
            defer { _ = Self.run(Self.umountTool!, ["-l", disk.path]) }
            let store = "sqlite:" + disk.appendingPathComponent("log.sqlite").path
            try await withPlatform({ $0.store = store }) { server in
                let padding = String(repeating: "x", count: 4000)
                // Some events while there is room, then the disk fills up (a file that can be removed later).
                var accepted: [Int] = []
                for n in 0..<20 {
                    accepted += try await server.publishAccepted(sessionEvent("processor.output", id: "big-\(n)", extra: #""pad":"\#(padding)""#))
                }
                let filler = disk.appendingPathComponent("filler")
                try Self.fill(filler)

                // Publish until the disk refuses: 503 with a message that says why, never a 202 for it.
                var refusal: HTTPResponseHead?
                for n in 20..<3000 {
                    let response = try await server.publish(sessionEvent("processor.output", id: "big-\(n)", extra: #""pad":"\#(padding)""#))
                    if response.status == 202 {
                        accepted += (response.bodyJSON?["events"] as? [[String: Any]] ?? []).compactMap { $0["offset"] as? Int }
                    } else {
                        refusal = response
                        break
                    }
                }
                let refused = try #require(refusal, "the disk never filled up")
                #expect(refused.status == 503)
                #expect(refused.bodyText.contains("disk is full"), "\(refused.bodyText)")
                let readiness = try await server.http("GET", "/readyz")
                #expect(readiness.status == 503)
                #expect(readiness.bodyText == #"{"status":"store unavailable"}"#)
                #expect(try await server.http("GET", "/healthz").status == 200, "alive, only not ready")

                // Space returns: ready again, and publishing works.
                try FileManager.default.removeItem(at: filler)
                let deadline = ContinuousClock.now + .seconds(10)
                while try await server.http("GET", "/readyz").status != 200, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(try await server.http("GET", "/readyz").status == 200)
                let after = try await server.publishAccepted(sessionEvent("processor.output", id: "after-the-disk-was-freed"))

                // Every acknowledged event is there, in order, and nothing of the refused request.
                let socket = try await server.connectInitialized()
                _ = try await socket.subscribe(sessionParams(extra: #","since":0"#))
                let replayed = try await socket.nextEvents(accepted.count + 1)
                #expect(replayed.compactMap { $0["offset"] as? Int } == accepted + after)
                #expect(replayed.compactMap { ($0["event"] as? [String: Any])?["id"] as? String }
                        == (0..<accepted.count).map { "big-\($0)" } + ["after-the-disk-was-freed"])
                await socket.close()
            }
        }
    }
}
