import Foundation
import Logging
import PostgresNIO

/// The node's one dedicated connection that LISTENs on ``channel``. A notification wakes the tailer, which
/// reads the table, unless it announces this node's own commit (handed to its fan-out directly by the writer,
/// which wakes the tailer itself when another node's events come first) or offsets already delivered. Every successful (re)LISTEN wakes it too, since notifications sent while
/// disconnected are lost. Reconnects with exponential backoff (100 ms … 2 s) until cancelled.
struct PostgresListener: Sendable {
    /// The channel appends and registry changes notify (payload: `e:<head>:<node>`, `r:<version>`, or `n:<node>`
    /// when a node starts; only a wake-up: the table is the truth).
    static let channel = "blobhub_realtime"

    let configuration: PostgresConnection.Configuration
    let wake: WakeSignal
    let sequencer: DeliverySequencer
    /// Told of every notification another node sent (``CommitNotifier`` announces commits only while there is one).
    let peers: PeerPresence
    /// This node's tag in `e:` payloads (``PostgresStore/nodeTag``).
    let node: String
    let logger: Logger

    /// False for `e:<head>:<node>` sent by this node or at or below what it delivered; true for anything
    /// else (`r:<version>`, an unexpected payload).
    static func wakes(for payload: String, node: String, delivered: Int64) -> Bool {
        if payload.hasPrefix("n:") { return false }  // a node started: nothing new in the table
        let parts = payload.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "e", let head = Int64(parts[1]) else { return true }
        return parts[2] != node && head > delivered
    }

    /// The node that sent `payload` (`e:<head>:<node>` or `n:<node>`), when it is not `node`; nil otherwise.
    static func otherSender(of payload: String, node: String) -> Substring? {
        let parts = payload.split(separator: ":", omittingEmptySubsequences: false)
        let sender: Substring? = switch (parts.first, parts.count) {
        case ("e", 3): parts[2]
        case ("n", 2): parts[1]
        default: nil
        }
        guard let sender, !sender.isEmpty, sender != node else { return nil }
        return sender
    }

    static func commitPayload(offset: Int64, node: String) -> String { "e:\(offset):\(node)" }
    static func startPayload(node: String) -> String { "n:\(node)" }

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
                        for try await notification in notifications {
                            if Self.otherSender(of: notification.payload, node: node) != nil { peers.heard() }
                            if Self.wakes(for: notification.payload, node: node, delivered: sequencer.delivered) { wake.signal() }
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
