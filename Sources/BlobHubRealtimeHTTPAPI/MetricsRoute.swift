import BlobHubRealtimeServices
import Hummingbird
import NIOCore

/// `GET /metrics` (SPEC §2): the node's metrics in Prometheus text format.
package enum MetricsRoute {
    /// `sample` refreshes the gauges that are read rather than counted (connections, subscriptions).
    package static func add(to router: Router<BasicRequestContext>, metrics: ServerMetrics, sample: @escaping @Sendable () async -> Void) {
        router.get("/metrics") { _, _ in
            await sample()
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition()))
            )
        }
    }
}
