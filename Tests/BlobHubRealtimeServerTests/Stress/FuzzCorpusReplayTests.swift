import Foundation
import Testing

/// The fuzz seed corpora (and any crash reproducer added to them) replayed through the fuzz
/// harnesses' invariants in the ordinary build, where `blobhub-realtime-fuzz` is a corpus replayer:
/// `protocol` (one message per file) and `session` (a message sequence to one ConnectionSession).
@Suite struct FuzzCorpusReplayTests {
    @Test(arguments: [("protocol", 20), ("session", 10)])
    func seedCorpusPassesTheHarness(target: String, minimumFiles: Int) throws {
        let directory = GarbageTests.corpusDirectory.deletingLastPathComponent().appendingPathComponent(target)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(files.count >= minimumFiles)
        let process = Process()
        process.executableURL = ServerProcess.executableURL.deletingLastPathComponent().appendingPathComponent("blobhub-realtime-fuzz")
        process.arguments = ["--target=\(target)"] + files.map { directory.appendingPathComponent($0).path }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("replayed \(files.count) inputs (\(target))"), "\(output)")
    }
}
