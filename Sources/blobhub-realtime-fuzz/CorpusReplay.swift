#if !FUZZING
import Foundation

/// Without libFuzzer (the ordinary `swift build`), the executable replays files through the harness:
/// `blobhub-realtime-fuzz Fuzz/corpus/protocol/*` re-runs a corpus or a crash reproducer.
@main
struct CorpusReplay {
    static func main() throws {
        let paths = CommandLine.arguments.dropFirst()
        for path in paths {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            bytes.withUnsafeBytes { ProtocolHarness.run($0) }
        }
        FileHandle.standardError.write(Data("replayed \(paths.count) inputs\n".utf8))
    }
}
#endif
