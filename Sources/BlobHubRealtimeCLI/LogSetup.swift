import BlobHubRealtimeServer
import Logging

/// Builds the process logger from `--log-level` / `--log-format`.
enum LogSetup {
    static func makeLogger(_ configuration: ServerConfiguration) -> Logger {
        var logger = Logger(label: "blobhub-realtime")
        logger.logLevel = Logger.Level(rawValue: configuration.logLevel.rawValue) ?? .info
        return logger
    }
}
