// Admin commands (SPEC §9), their errors, and what applying one changed.

import BlobHubRealtimeProtocol

/// One admin API operation. Path ids are passed exactly as written in the request path.
public enum RegistryCommand: Sendable, Equatable {
    /// `{"name"?: string|null}`. Absent `name` keeps the stored name; `null` clears it.
    case putOrganization(id: String, body: JSONObject)
    /// Cascades: its blobs (with their revisions and blob members), its members, and every API key
    /// targeting the organization or one of its blobs.
    case deleteOrganization(id: String)
    /// `{"role": "admin"|"write"|"read"}`.
    case putOrganizationMember(organizationID: String, userID: String, body: JSONObject)
    case deleteOrganizationMember(organizationID: String, userID: String)
    /// `{"organization_id","type","visibility"}`: `organization_id` always required (a different
    /// organization moves the blob); `type` and `visibility` required on create, optional on update
    /// (absent keeps the stored value).
    case putBlob(id: String, body: JSONObject)
    /// Cascades: its revisions, its members, and the API keys targeting it.
    case deleteBlob(id: String)
    /// `{"role"}`.
    case putBlobMember(blobID: String, userID: String, body: JSONObject)
    case deleteBlobMember(blobID: String, userID: String)
    /// `{"blob_id","phase"}`: both required on create, optional on update (a different `blob_id`
    /// moves the revision).
    case putRevision(id: String, body: JSONObject)
    case deleteRevision(id: String)
    /// `{"user_id","target":"orgs"|"blobs","target_id","role":"read"|"write","description"?,"expires_at"?}`;
    /// `keyID` and `secret` come from `APIKeySecrets.generate()`.
    case createAPIKey(body: JSONObject, keyID: String, secret: String)
    case revokeAPIKey(id: String)
}

/// Why a command was refused.
public struct RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Malformed input → HTTP 400.
        case invalid
        /// A parent (organization, blob, API-key target) does not exist → HTTP 404.
        case notFound
    }

    public var kind: Kind
    /// The offending field, e.g. `"organization_id"`; path ids use their own names (`"id"` for the
    /// resource itself).
    public var field: String?
    public var message: String

    public init(kind: Kind, field: String?, message: String) {
        self.kind = kind
        self.field = field
        self.message = message
    }

    public static func invalid(_ field: String, _ message: String) -> RegistryError {
        RegistryError(kind: .invalid, field: field, message: message)
    }

    public static func notFound(_ field: String, _ message: String) -> RegistryError {
        RegistryError(kind: .notFound, field: field, message: message)
    }

    public var description: String {
        if let field { return "\(field): \(message)" }
        return message
    }
}

/// The key of a persisted registry record.
public struct RegistryRowKey: Sendable, Hashable {
    public var kind: String
    public var id: String

    public init(kind: String, id: String) {
        self.kind = kind
        self.id = id
    }
}

/// A persisted registry record: `kind` (`organization`, `org_member`, `blob`, `blob_member`, `revision`,
/// `api_key`), `id` its key, `data` its JSON. The store keeps it opaque.
public struct RegistryRow: Sendable, Equatable, Hashable {
    public var kind: String
    public var id: String
    public var data: [UInt8]

    public init(kind: String, id: String, data: [UInt8]) {
        self.kind = kind
        self.id = id
        self.data = data
    }

    public var key: RegistryRowKey { RegistryRowKey(kind: kind, id: id) }
}

/// The rows a change writes, persisted atomically. A change lists no key both in `upserts` and `deletes`, and
/// its deletes children first (members, revisions, keys before blobs before the organization). A store applies
/// deletes before upserts (a key present in both ends up with the upserted data; the last upsert of a key wins).
public struct RegistryRows: Sendable, Equatable {
    public var upserts: [RegistryRow]
    public var deletes: [RegistryRowKey]

    public init(upserts: [RegistryRow] = [], deletes: [RegistryRowKey] = []) {
        self.upserts = upserts
        self.deletes = deletes
    }

    public var isEmpty: Bool { upserts.isEmpty && deletes.isEmpty }
}

/// What one command changed.
public struct RegistryChange: Sendable, Equatable {
    /// The stored object for PUT/POST (`publicJSON()`); for `createAPIKey` it also carries
    /// `"key": <secret>` right after `"id"` (the only place the secret appears). nil for deletes.
    public var result: JSONValue?
    /// Rows to persist.
    public var rows: RegistryRows
    /// Core events to publish (SPEC §7.2): objects with `type` and the ids concerned; the server adds
    /// `id` and `created_at`.
    public var events: [JSONValue]
    /// True when some principal may have lost read access: re-check subscriptions.
    public var accessReduced: Bool
    /// API keys revoked, directly or by a cascade: close their connections with 4001.
    public var revokedAPIKeyIDs: [String]

    public init(
        result: JSONValue? = nil,
        rows: RegistryRows = RegistryRows(),
        events: [JSONValue] = [],
        accessReduced: Bool = false,
        revokedAPIKeyIDs: [String] = []
    ) {
        self.result = result
        self.rows = rows
        self.events = events
        self.accessReduced = accessReduced
        self.revokedAPIKeyIDs = revokedAPIKeyIDs
    }

    /// True when nothing changed (e.g. a DELETE of something absent).
    public var isEmpty: Bool {
        result == nil && rows.isEmpty && events.isEmpty && !accessReduced && revokedAPIKeyIDs.isEmpty
    }
}
