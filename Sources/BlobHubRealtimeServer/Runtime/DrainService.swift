import BlobHubRealtimeHTTPAPI
import BlobHubRealtimeProtocol
import BlobHubRealtimeServices
import BlobHubRealtimeTransport
import Logging
import ServiceLifecycle

/// Runs first on graceful shutdown (it is the last service of the group): marks the node as
/// draining (readiness 503, upgrades refused), closes every WebSocket with 1001 in batches spread
/// over half the drain timeout (`DrainPlan`: no reconnect storm) and waits for them to go, bounded
/// by the drain timeout. The HTTP server stops after it.
struct DrainService: Service {
    let nodeState: NodeState
    let registry: ConnectionRegistry
    let drainTimeout: Duration
    let logger: Logger

    func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            // Cancelled rather than asked to shut down gracefully: close everything, wait for nothing.
            nodeState.beginDraining()
            registry.closeAll(.goingAway)
            return
        }
        nodeState.beginDraining()
        let open = registry.count
        logger.info("draining", metadata: ["connections": "\(open)"])
        // Connections opened before draining began but registered after the snapshot below are few;
        // the HTTP server's quiesce closes them with 1001 too.
        let handles = registry.handles()
        let plan = DrainPlan(connections: handles.count, drainTimeout: drainTimeout)
        let start = ContinuousClock.now
        for (index, batch) in plan.split(handles).enumerated() {
            if index > 0 { try? await Task.sleep(until: start + plan.step * index) }
            for handle in batch { handle.close(.goingAway) }
        }
        // Leave part of the window for the HTTP server's own shutdown.
        let deadline = start + drainTimeout * 0.8
        while registry.count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        logger.info("drained", metadata: ["remaining": "\(registry.count)"])
    }
}
