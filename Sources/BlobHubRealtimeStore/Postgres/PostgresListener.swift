import Foundation
import Logging
import PostgresNIO

/// The node's one dedicated connection that LISTENs on ``channel``. Every notification (and every successful
/// (re)LISTEN, since notifications sent while disconnected are lost) just wakes the tailer, which reads the
/// table. Reconnects with exponential backoff (100 ms … 2 s) until cancelled.
struct PostgresListener: Sendable {
    /// The channel appends and registry changes notify (payload: `e:<head>` or `r:<version>`; informational).
    static let channel = "blobhub_realtime"

    let configuration: PostgresConnection.Configuration
    let wake: WakeSignal
    let logger: Logger

    func run() async {
        var backoff = Duration.milliseconds(100)
        var connectionID = 0
        while !Task.isCancelled {
            connectionID += 1
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: connectionID, logger: logger)
                do {
                    try await connection.listen(on: Self.channel) { notifications in
                        backoff = .milliseconds(100)
                        wake.signal()  // catch up on whatever was missed while not listening
                        for try await _ in notifications {
                            wake.signal()
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                logger.warning("PostgreSQL listener disconnected; reconnecting", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(2))
        }
    }
}
