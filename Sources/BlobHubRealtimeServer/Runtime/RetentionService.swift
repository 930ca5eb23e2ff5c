import BlobHubRealtimeStore
import Foundation
import Logging
import ServiceLifecycle

/// Applies `--retention` / `--retention-events` at start and then every 30 seconds.
struct RetentionService: Service {
    let store: any RealtimeStore
    let policy: RetentionPolicy
    let logger: Logger
    var interval: Duration = .seconds(30)

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let removed = try await store.prune(policy, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
                if removed > 0 { logger.debug("pruned events", metadata: ["count": "\(removed)"]) }
            } catch {
                logger.warning("retention failed", metadata: ["error": "\(error)"])
            }
            // A graceful shutdown cancels the wait, so the node does not linger for a prune.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
