import BlobHubRealtimeProtocol
import BlobHubRealtimeServices
import BlobHubRealtimeSession
import BlobHubRealtimeStore

/// What a `subscription/add` with `since` found in the log (SPEC §7.4).
struct ReplayResult: Sendable {
    var head: Int64
    var epoch: String
    var recovered: Bool
    var events: [StoredEvent]

    /// `{"offset": head, "recovered": …, "epoch": …}`
    var json: JSONValue {
        .object(JSONObject([("offset", .number(String(head))), ("recovered", .bool(recovered)), ("epoch", .string(epoch))]))
    }

    /// As the connection state machine takes it.
    var replay: Replay {
        Replay(result: json, events: events.map { Replay.Event(offset: $0.offset, type: $0.type, json: $0.json) })
    }

    static func load(store: any RealtimeStore, key: SubscriptionKey, since: Int64, epoch: String?, maxReplay: Int) async throws -> ReplayResult {
        let head = try await store.headOffset()
        // Another log (a restarted memory store, a recreated database): the offsets mean nothing here.
        if let epoch, epoch != store.epoch {
            return ReplayResult(head: head, epoch: store.epoch, recovered: false, events: [])
        }
        let pruned = try await store.prunedThrough()
        let events = try await store.events(withKey: RoutingKey.text(key), after: since, limit: maxReplay + 1)
        if events.count > maxReplay {
            // Too much to replay: the client reloads state over REST instead.
            return ReplayResult(head: head, epoch: store.epoch, recovered: false, events: [])
        }
        return ReplayResult(head: head, epoch: store.epoch, recovered: since >= pruned, events: events)
    }
}
