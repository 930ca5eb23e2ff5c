import Foundation
import Logging
import PostgresNIO

/// The node's one dedicated connection that LISTENs on ``channel``. A notification wakes the tailer, which
/// reads the table, unless it only announces offsets this node has already delivered (its own commits, handed
/// to its fan-out directly). Every successful (re)LISTEN wakes it too, since notifications sent while
/// disconnected are lost. Reconnects with exponential backoff (100 ms … 2 s) until cancelled.
struct PostgresListener: Sendable {
    /// The channel appends and registry changes notify (payload: `e:<head>` or `r:<version>`; informational).
    static let channel = "blobhub_realtime"

    let configuration: PostgresConnection.Configuration
    let wake: WakeSignal
    let sequencer: DeliverySequencer
    let logger: Logger

    /// False for `e:<head>` at or below what this node delivered; true for anything else (`r:<version>`,
    /// an unexpected payload).
    static func wakes(for payload: String, delivered: Int64) -> Bool {
        guard payload.hasPrefix("e:"), let head = Int64(payload.dropFirst(2)) else { return true }
        return head > delivered
    }

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
                        for try await notification in notifications
                        where Self.wakes(for: notification.payload, delivered: sequencer.delivered) {
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
