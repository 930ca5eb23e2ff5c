/// One event to append. `json` is the complete event object (UTF-8), stored and returned byte-for-byte.
public struct NewEvent: Sendable, Equatable {
    /// Unique event id (the idempotency key). Must not be empty.
    public var id: String
    public var type: String
    /// Epoch milliseconds (from the event).
    public var createdAt: Int64
    /// Routing keys, e.g. `"revision|<rev>|session|<sess>"`; opaque to the store. 1...16 non-empty keys;
    /// a key repeated within one event is stored once.
    public var keys: [String]
    /// The complete event object. Must not be empty; otherwise opaque to the store.
    public var json: [UInt8]

    public init(id: String, type: String, createdAt: Int64, keys: [String], json: [UInt8]) {
        self.id = id
        self.type = type
        self.createdAt = createdAt
        self.keys = keys
        self.json = json
    }
}

/// An event as read back from the log.
public struct StoredEvent: Sendable, Equatable {
    public var offset: Int64
    public var id: String
    public var type: String
    public var createdAt: Int64
    /// The event's keys in their original order, without repetitions.
    public var keys: [String]
    public var json: [UInt8]

    public init(offset: Int64, id: String, type: String, createdAt: Int64, keys: [String], json: [UInt8]) {
        self.offset = offset
        self.id = id
        self.type = type
        self.createdAt = createdAt
        self.keys = keys
        self.json = json
    }
}

/// The outcome of appending one event.
public struct AppendResult: Sendable, Equatable {
    public var id: String
    public var offset: Int64
    /// True when this id was already stored (the original offset is returned, nothing new stored).
    public var duplicate: Bool

    public init(id: String, offset: Int64, duplicate: Bool) {
        self.id = id
        self.offset = offset
        self.duplicate = duplicate
    }
}

/// How much of the event log to keep.
public struct RetentionPolicy: Sendable, Equatable {
    /// Events whose `createdAt` is older than `now - maxAgeMs` are pruned. Retention removes the oldest
    /// events (by offset) up to the first one that has not expired yet, so the retained events are always
    /// the contiguous tail of the log (offsets `prunedThrough+1 ... head`); an expired event behind a
    /// younger one is removed once the younger one expires (or by `maxEvents`).
    public var maxAgeMs: Int64
    /// At most this many newest events are kept (negative values count as 0).
    public var maxEvents: Int

    public init(maxAgeMs: Int64, maxEvents: Int) {
        self.maxAgeMs = maxAgeMs
        self.maxEvents = maxEvents
    }
}

/// Errors raised by the stores themselves (database errors are passed through unchanged).
public enum StoreError: Error, Equatable, CustomStringConvertible {
    /// An event of an `append` batch was rejected; nothing of the batch was stored.
    case invalidEvent(index: Int, reason: String)
    /// The store was closed.
    case closed
    /// The database content is not what this store expects (e.g. missing metadata).
    case corrupt(String)
    /// The disk under the store is full: nothing of the append was stored.
    case diskFull

    public var description: String {
        switch self {
        case .invalidEvent(let index, let reason): "invalid event at index \(index): \(reason)"
        case .closed: "the store is closed"
        case .corrupt(let reason): "the store's database is corrupt: \(reason)"
        case .diskFull: "the store's disk is full"
        }
    }
}

/// The `--store` setting could not be used.
public struct StoreConfigurationError: Error, CustomStringConvertible, Equatable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
