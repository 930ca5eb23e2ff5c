import BlobHubRealtimeProtocol
import BlobHubRealtimeServices
import BlobHubRealtimeStore

/// A committed event ready for fan-out: its routing keys parsed once, its JSON shared by all recipients.
struct DispatchEvent: Sendable {
    let offset: Int64
    let type: String
    let keys: [SubscriptionKey]
    let json: [UInt8]
    /// When the commit reached the node (`NIODeadline` uptime ns): the start of the delivery latency.
    let committedAt: UInt64

    init(_ stored: StoredEvent, committedAt: UInt64) {
        self.committedAt = committedAt
        offset = stored.offset
        type = stored.type
        keys = stored.keys.compactMap(RoutingKey.parse)
        json = stored.json
    }
}
