import Foundation
import Logging

/// `--log-format json`: one JSON object per line on stderr, with the metadata (e.g. `connection_id`) as fields.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata { fields[key] = "\(value)" }
        if let extra = event.metadata { for (key, value) in extra { fields[key] = "\(value)" } }
        fields["ts"] = ISO8601DateFormatter().string(from: Date())
        fields["level"] = event.level.rawValue
        fields["msg"] = "\(event.message)"
        fields["logger"] = label
        fields["source"] = event.source
        guard var line = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        line.append(0x0A)
        FileHandle.standardError.write(line)
    }
}
