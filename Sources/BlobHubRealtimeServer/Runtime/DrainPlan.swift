import BlobHubRealtimeHTTPAPI
import BlobHubRealtimeServices
import BlobHubRealtimeTransport
/// How a draining node spreads its 1001 closes over time, so clients do not all reconnect at once
/// (to the other nodes, or to this one when it comes back) — a reconnect storm.
///
/// Closes go out in equal batches, one every `step`, over at most `window`; a small node still
/// closes one connection per step rather than waiting for nothing.
struct DrainPlan: Equatable, Sendable {
    /// Connections closed per step.
    let batchSize: Int
    /// Number of steps (batches).
    let batches: Int
    let step: Duration

    /// The share of `--drain-timeout` the closes are spread over; the rest is left for the
    /// clients' close handshakes and the HTTP server's own shutdown.
    static let windowShare = 0.5
    static let defaultStep = Duration.milliseconds(100)

    init(connections: Int, drainTimeout: Duration, step: Duration = DrainPlan.defaultStep) {
        let window = drainTimeout * Self.windowShare
        let steps = max(1, Int(window / step))
        batchSize = max(1, (connections + steps - 1) / steps)
        batches = connections == 0 ? 0 : (connections + batchSize - 1) / batchSize
        self.step = step
    }

    /// Splits `items` into the plan's batches, in order.
    func split<T>(_ items: [T]) -> [ArraySlice<T>] {
        stride(from: 0, to: items.count, by: batchSize).map { items[$0..<min($0 + batchSize, items.count)] }
    }
}
