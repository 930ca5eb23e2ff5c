import Foundation
import Logging

/// `--log-format text`: swift-log's `StreamLogHandler` line format on stderr.
///
/// Not `StreamLogHandler` itself: it re-renders its metadata string every time metadata is set, and
/// Hummingbird sets a request id on every request, so each publish paid for a formatted string that
/// is almost never logged (~3 % of a publish-heavy profile). This one renders only when it logs.
struct TextLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let timestamp = Date().formatted(.iso8601)
        let line = "\(timestamp) \(event.level) \(label) :\(rendered.isEmpty ? "" : " " + rendered) [\(event.source)] \(event.message)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
