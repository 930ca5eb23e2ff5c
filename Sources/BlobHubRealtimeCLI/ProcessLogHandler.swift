import Foundation
import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Logging

/// The server's log handler: one line per event on stderr, in the `--log-format` chosen.
///
/// - `text`: swift-log's `StreamLogHandler` line format, metadata as `key=value`.
/// - `json`: one JSON object per line, the metadata (e.g. `connection_id`) as fields.
///
/// Not `StreamLogHandler` for text: it re-renders its metadata string every time metadata is set,
/// and Hummingbird sets a request id on every request, so each publish paid for a string that is
/// almost never logged (~3 % of a publish-heavy profile). This handler renders only when it logs.
struct ProcessLogHandler: LogHandler {
    let label: String
    let format: ServerConfiguration.LogFormat
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let line: Data?
        switch format {
        case .text: line = Data(textLine(event, merged).utf8)
        case .json: line = jsonLine(event, merged)
        }
        guard var line else { return }
        line.append(0x0A)
        FileHandle.standardError.write(line)
    }

    private func textLine(_ event: LogEvent, _ metadata: Logger.Metadata) -> String {
        let rendered = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(Date().formatted(.iso8601)) \(event.level) \(label) :\(rendered.isEmpty ? "" : " " + rendered) [\(event.source)] \(event.message)"
    }

    private func jsonLine(_ event: LogEvent, _ metadata: Logger.Metadata) -> Data? {
        var fields: [String: String] = [:]
        for (key, value) in metadata { fields[key] = "\(value)" }
        fields["ts"] = ISO8601DateFormatter().string(from: Date())
        fields["level"] = event.level.rawValue
        fields["msg"] = "\(event.message)"
        fields["logger"] = label
        fields["source"] = event.source
        return try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    }
}
