import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Logging

/// Builds the process logger from `--log-level` / `--log-format`.
enum LogSetup {
    static func makeLogger(_ configuration: ServerConfiguration) -> Logger {
        let format = configuration.logFormat
        var logger = Logger(label: "blobhub-realtime") { ProcessLogHandler(label: $0, format: format) }
        logger.logLevel = configuration.logLevel
        return logger
    }
}
