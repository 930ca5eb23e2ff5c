import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import BlobHubRealtimeStore
import Foundation

/// Validates published event objects, fills `id`/`created_at`, computes routing keys (SPEC §7.3) and
/// derives the execution lifecycle summaries (SPEC §7.2). Pure: the registry and clock are passed in.
struct EventIntake {
    struct Rejection: Error, Equatable {
        var index: Int
        var field: String
        var reason: String
        /// The event is over ``EventIntake/maxEventBytes``: answered 413 rather than 400.
        var tooLarge = false
        var message: String { "event \(index): \(field): \(reason)" }
    }

    /// What the publisher sent, ready to append: each published event followed by the events derived from it.
    struct Prepared {
        var events: [NewEvent]
        /// Index into `events` of each published (not derived) event, in input order.
        var publishedIndices: [Int]
    }

    static let maxEventBytes = 256 * 1024
    static let derivedTypes: Set<String> = ["execution_started", "execution_ended"]

    let registry: RegistrySnapshot
    let nowMs: Int64
    var makeID: (Int64) -> String = EventIntake.timeOrderedID

    /// A UUIDv7 (RFC 9562): 48-bit millisecond time, then random bits. Ids made later sort later, so
    /// the log's id index grows at one end instead of touching random pages (faster durable appends).
    ///
    /// `rand_a` (12 bits) holds the sub-millisecond clock fraction (RFC 9562 §6.2, method 3) and `rand_b`
    /// 62 random bits: one `getrandom(2)` per id (two 64-bit draws were two syscalls per event).
    static func timeOrderedID(nowMs: Int64) -> String {
        var generator = SystemRandomNumberGenerator()
        let random = generator.next() as UInt64
        let microseconds = (Date().timeIntervalSince1970 * 1_000_000).truncatingRemainder(dividingBy: 1000)
        let fraction = UInt64(max(0, microseconds)) * 4096 / 1000 & 0xFFF
        let high = UInt64(truncatingIfNeeded: nowMs) << 16 | 0x7000 | fraction
        let low = 0x8000_0000_0000_0000 | (random >> 2)
        return String(unsafeUninitializedCapacity: 36) { text in
            var position = 0
            for index in 0..<16 {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    text[position] = UInt8(ascii: "-")
                    position += 1
                }
                let word = index < 8 ? high : low
                let byte = UInt8(truncatingIfNeeded: word >> (8 * (7 - index % 8)))
                text[position] = hexDigit(byte >> 4)
                text[position + 1] = hexDigit(byte & 0x0F)
                position += 2
            }
            return position
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    func prepare(_ objects: [JSONValue]) throws(Rejection) -> Prepared {
        var prepared = Prepared(events: [], publishedIndices: [])
        for (index, value) in objects.enumerated() {
            let (event, derived) = try prepare(value, index: index)
            prepared.publishedIndices.append(prepared.events.count)
            prepared.events.append(event)
            prepared.events.append(contentsOf: derived)
        }
        return prepared
    }

    private func prepare(_ value: JSONValue, index: Int) throws(Rejection) -> (NewEvent, [NewEvent]) {
        func reject(_ field: String, _ reason: String) -> Rejection { Rejection(index: index, field: field, reason: reason) }
        guard var object = value.objectValue else { throw reject("event", "must be an object") }

        guard let type = object["type"]?.stringValue else { throw reject("type", "required string") }
        guard EventType.isValid(type) else { throw reject("type", "must match ^[a-z][a-z0-9_.]{0,63}$") }
        guard !Self.derivedTypes.contains(type) else { throw reject("type", "\(type) is derived by the server and cannot be published") }

        let id: String
        switch object["id"] {
        case nil:
            id = makeID(nowMs)
            object["id"] = .string(id)
        case .string(let given) where !given.isEmpty && given.utf8.count <= 256:
            id = given
        default:
            throw reject("id", "must be a non-empty string of at most 256 bytes")
        }

        let createdAt: Int64
        switch object["created_at"] {
        case nil:
            createdAt = nowMs
            object["created_at"] = .number(String(nowMs))
        case .some(let given):
            guard let ms = given.int64Value, (0...JSONNumberText.maxSafeInteger).contains(ms) else {
                throw reject("created_at", "must be an integer from 0 to 2^53-1 (epoch ms)")
            }
            createdAt = ms
        }

        let keys = try routingKeys(object, reject: reject)
        let json = JSONWriter.serialize(.object(object))
        guard json.count <= Self.maxEventBytes else {
            var rejection = reject("event", "larger than 256 KiB")
            rejection.tooLarge = true
            throw rejection
        }
        let event = NewEvent(id: id, type: type, createdAt: createdAt, keys: keys.map(RoutingKey.text), json: json)
        return (event, derived(from: object, id: id, type: type, createdAt: createdAt, keys: keys))
    }

    /// SPEC §7.3: session events route to their revision scope; everything else to core objects.
    private func routingKeys(_ object: JSONObject, reject: (String, String) -> Rejection) throws(Rejection) -> [SubscriptionKey] {
        func id(_ field: String) throws(Rejection) -> String? {
            guard let value = object[field], !value.isNull else { return nil }
            guard let text = value.stringValue, ResourceID.isValid(text) else {
                throw reject(field, "must be an id of 1–128 characters from [A-Za-z0-9._:-]")
            }
            return text
        }
        let revision = try id("revision_id")
        if let session = try id("session_id") {
            guard let revision else { throw reject("revision_id", "required for session events") }
            var keys = [SubscriptionKey(scope: .revision, scopeID: revision, target: .session, targetID: session)]
            if let execution = try id("execution_id") {
                keys.append(SubscriptionKey(scope: .revision, scopeID: revision, target: .execution, targetID: execution))
            }
            return keys
        }
        var blob = try id("blob_id")
        var organization = try id("organization_id")
        let user = try id("user_id")
        // Fill the parents from the registry so a revision event also reaches blob and organization subscribers.
        if blob == nil, let revision { blob = registry.revision(revision)?.blobID }
        if organization == nil, let blob { organization = registry.blob(blob)?.organizationID }
        var keys: [SubscriptionKey] = []
        if let revision { keys.append(.init(scope: .core, scopeID: nil, target: .revision, targetID: revision)) }
        if let blob { keys.append(.init(scope: .core, scopeID: nil, target: .blob, targetID: blob)) }
        if let organization { keys.append(.init(scope: .core, scopeID: nil, target: .organization, targetID: organization)) }
        if let user { keys.append(.init(scope: .core, scopeID: nil, target: .user, targetID: user)) }
        guard !keys.isEmpty else { throw reject("event", "routes nowhere: needs session_id with revision_id, or one of revision_id, blob_id, organization_id, user_id") }
        return keys
    }

    /// `flow.entered` → `execution_started`; `flow.exited`/`flow.error` → `execution_ended` (completed/failed).
    /// Derived ids are deterministic, so a retried publish derives nothing new.
    private func derived(from object: JSONObject, id: String, type: String, createdAt: Int64, keys: [SubscriptionKey]) -> [NewEvent] {
        let summary: (type: String, status: String?)
        switch type {
        case "flow.entered": summary = ("execution_started", nil)
        case "flow.exited": summary = ("execution_ended", "completed")
        case "flow.error": summary = ("execution_ended", "failed")
        default: return []
        }
        guard let execution = object["execution_id"], let session = object["session_id"], let revision = object["revision_id"] else { return [] }
        let derivedID = "\(id):\(summary.type)"
        var fields: [(String, JSONValue)] = [
            ("id", .string(derivedID)), ("type", .string(summary.type)),
            ("revision_id", revision), ("session_id", session), ("execution_id", execution),
            ("created_at", .number(String(createdAt))), ("source_event_id", .string(id)),
        ]
        if let status = summary.status { fields.append(("status", .string(status))) }
        let json = JSONWriter.serialize(.object(JSONObject(fields)))
        return [NewEvent(id: derivedID, type: summary.type, createdAt: createdAt, keys: keys.map(RoutingKey.text), json: json)]
    }
}
