import Foundation

// blobhub-realtime-bench: load tool for BlobHub Realtime and the Nchan peer (see bench/ and BENCHMARKS.md).

installHardLimit()
do {
    let code = try run()
    fflush(nil)
    exit(code)
} catch {
    say("error: \(error)")
    var json = JSONLine()
    json.add("tool", "blobhub-realtime-bench")
    json.add("scenario", config.scenario)
    json.add("target", config.target.rawValue)
    json.add("ok", false)
    json.add("error", "\(error)")
    print(json.text)
    fflush(nil)
    exit(1)
}
