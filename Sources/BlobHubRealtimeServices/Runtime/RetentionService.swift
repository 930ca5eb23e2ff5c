import BlobHubRealtimeStore
import Foundation
import Logging
import ServiceLifecycle

/// Applies `--retention` / `--retention-events` every 30 seconds; the server applies it once at start,
/// before it listens (``pruneOnce(store:policy:logger:)``).
package struct RetentionService: Service {
    let store: any RealtimeStore
    let policy: RetentionPolicy
    let logger: Logger
    var interval: Duration = .seconds(30)

    package init(store: any RealtimeStore, policy: RetentionPolicy, logger: Logger) {
        self.store = store
        self.policy = policy
        self.logger = logger
    }

    package func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // A graceful shutdown cancels the wait, so the node does not linger for a prune.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            guard !Task.isCancelled && !Task.isShuttingDownGracefully else { return }
            await Self.pruneOnce(store: store, policy: policy, logger: logger)
        }
    }

    package static func pruneOnce(store: any RealtimeStore, policy: RetentionPolicy, logger: Logger) async {
        do {
            let removed = try await store.prune(policy, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
            if removed > 0 { logger.debug("pruned events", metadata: ["count": "\(removed)"]) }
        } catch {
            logger.warning("retention failed", metadata: ["error": "\(error)"])
        }
    }
}
