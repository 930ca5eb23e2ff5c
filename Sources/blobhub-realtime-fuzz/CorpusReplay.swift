#if !FUZZING
import Foundation

/// Without libFuzzer (the ordinary `swift build`), the executable replays files through a harness:
/// `blobhub-realtime-fuzz Fuzz/corpus/protocol/*` or
/// `blobhub-realtime-fuzz --target=session Fuzz/corpus/session/*` re-runs a corpus or a crash reproducer.
@main
struct CorpusReplay {
    static func main() throws {
        let target = FuzzTarget.selected
        let paths = CommandLine.arguments.dropFirst().filter { !$0.hasPrefix("--") }
        for path in paths {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            bytes.withUnsafeBytes { target.run($0) }
        }
        FileHandle.standardError.write(Data("replayed \(paths.count) inputs (\(target.rawValue))\n".utf8))
    }
}
#endif
