// The libFuzzer entry points. Built only by scripts/ci/fuzz.sh, which passes
// `-sanitize=fuzzer,address -DFUZZING`.

import Foundation

/// The two fuzz targets of the one binary, chosen by the argument `--target=protocol|session`
/// (default protocol). libFuzzer ignores arguments that start with `--`.
enum FuzzTarget: String, Sendable {
    /// `ProtocolHarness`: one input is one message through the parser, the decoder and the params.
    case `protocol`
    /// `SessionHarness`: one input is a principal and a sequence of messages to one `ConnectionSession`.
    case session

    static let selected: FuzzTarget = {
        for argument in CommandLine.arguments.dropFirst() where argument.hasPrefix("--target=") {
            guard let target = FuzzTarget(rawValue: String(argument.dropFirst("--target=".count))) else {
                fatalError("unknown fuzz target \(argument); use --target=protocol or --target=session")
            }
            return target
        }
        return .protocol
    }()

    func run(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .protocol: ProtocolHarness.run(bytes)
        case .session: SessionHarness.run(bytes)
        }
    }
}

/// Called by libFuzzer once per input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.selected.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

#if FUZZING
// libFuzzer's driver (compiler-rt). SwiftPM renames an executable's entry point and points `main`
// at it, so libFuzzer's own `main` never links; our `main` hands the arguments to the driver instead.
// @_silgen_name on a C function: its arguments are three pointers and the result an int, which
// the Swift and C calling conventions pass identically on x86_64 and arm64.
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@main
struct FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runDriver(&argc, &argv, fuzzTestOneInput))
    }
}
#endif
