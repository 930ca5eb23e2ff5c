import Foundation
import Testing

/// The fuzz seed corpus (and any crash reproducer added to it) replayed through the fuzz harness's
/// invariants in the ordinary build, where `blobhub-realtime-fuzz` is a corpus replayer.
@Suite struct FuzzCorpusReplayTests {
    @Test func seedCorpusPassesTheHarness() throws {
        let directory = GarbageTests.corpusDirectory
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(files.count >= 20)
        let process = Process()
        process.executableURL = ServerProcess.executableURL.deletingLastPathComponent().appendingPathComponent("blobhub-realtime-fuzz")
        process.arguments = files.map { directory.appendingPathComponent($0).path }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("replayed \(files.count) inputs"), "\(output)")
    }
}
