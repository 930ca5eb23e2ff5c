import BlobHubRealtimeServer
import Logging

/// Builds the process logger from `--log-level` / `--log-format`.
enum LogSetup {
    static func makeLogger(_ configuration: ServerConfiguration) -> Logger {
        var logger: Logger
        switch configuration.logFormat {
        case .json: logger = Logger(label: "blobhub-realtime") { JSONLogHandler(label: $0) }
        case .text: logger = Logger(label: "blobhub-realtime") { TextLogHandler(label: $0) }
        }
        logger.logLevel = Logger.Level(rawValue: configuration.logLevel.rawValue) ?? .info
        return logger
    }
}
