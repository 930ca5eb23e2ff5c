import BlobHubRealtimeProtocol
import BlobHubRealtimeStore

/// A committed event ready for fan-out: its routing keys parsed once, its JSON shared by all recipients.
struct DispatchEvent: Sendable {
    let offset: Int64
    let type: String
    let keys: [SubscriptionKey]
    let json: [UInt8]

    init(_ stored: StoredEvent) {
        offset = stored.offset
        type = stored.type
        keys = stored.keys.compactMap(RoutingKey.parse)
        json = stored.json
    }
}
