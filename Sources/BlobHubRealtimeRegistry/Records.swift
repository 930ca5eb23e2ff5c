// The registry's records (SPEC §9): organizations, members, blobs, revisions, API keys.
//
// Records keep ids exactly as the admin first wrote them (for echo); the snapshot looks them up by
// `ResourceID.normalized(id)` (UUID-form ids compare case-insensitively, SPEC §6.1).

import BlobHubRealtimeProtocol

public enum MemberRole: String, Sendable, Codable, CaseIterable {
    case admin, write, read
}

public enum BlobType: String, Sendable, Codable, CaseIterable {
    case workflow, scheduler, onnx
}

public enum BlobVisibility: String, Sendable, Codable, CaseIterable {
    case `private`, `public`
}

public enum RevisionPhase: String, Sendable, Codable, CaseIterable {
    case draft, commit, snapshot
}

/// What an API key is scoped to; the raw values are the admin API's `target` values.
public enum APIKeyTargetKind: String, Sendable, Codable, CaseIterable {
    case orgs, blobs
}

public enum APIKeyRoleValue: String, Sendable, Codable, CaseIterable {
    case read, write
}

// MARK: - Organization

public struct Organization: Sendable, Codable, Equatable {
    public var id: String
    public var name: String?
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(id: String, name: String? = nil, createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    /// `{"id","name","created_at","updated_at"}` (`name` is null when unset).
    public func publicJSON() -> JSONValue {
        .object([
            "id": .string(id),
            "name": name.map(JSONValue.string) ?? .null,
            "created_at": .integer(createdAt),
            "updated_at": .integer(updatedAt),
        ])
    }
}

// MARK: - Member

/// A membership of a user in an organization or in a blob.
///
/// Exactly one of `organizationID` / `blobID` is set: the parent, spelled as the admin wrote it in
/// the path when the membership was created. (Addition to the four fields of the brief, so that
/// `publicJSON()` can name the parent.)
public struct Member: Sendable, Codable, Equatable {
    public var userID: String
    public var role: MemberRole
    public var createdAt: Int64
    public var updatedAt: Int64
    public var organizationID: String?
    public var blobID: String?

    public init(
        userID: String,
        role: MemberRole,
        createdAt: Int64,
        updatedAt: Int64,
        organizationID: String? = nil,
        blobID: String? = nil
    ) {
        self.userID = userID
        self.role = role
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.organizationID = organizationID
        self.blobID = blobID
    }

    enum CodingKeys: String, CodingKey {
        case userID = "user_id"
        case role
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case organizationID = "organization_id"
        case blobID = "blob_id"
    }

    /// `{"organization_id"|"blob_id","user_id","role","created_at","updated_at"}`.
    public func publicJSON() -> JSONValue {
        var object = JSONObject()
        if let organizationID { object["organization_id"] = .string(organizationID) }
        if let blobID { object["blob_id"] = .string(blobID) }
        object["user_id"] = .string(userID)
        object["role"] = .string(role.rawValue)
        object["created_at"] = .integer(createdAt)
        object["updated_at"] = .integer(updatedAt)
        return .object(object)
    }
}

// MARK: - Blob

public struct Blob: Sendable, Codable, Equatable {
    public var id: String
    public var organizationID: String
    public var type: BlobType
    public var visibility: BlobVisibility
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(
        id: String,
        organizationID: String,
        type: BlobType,
        visibility: BlobVisibility,
        createdAt: Int64,
        updatedAt: Int64
    ) {
        self.id = id
        self.organizationID = organizationID
        self.type = type
        self.visibility = visibility
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id
        case organizationID = "organization_id"
        case type, visibility
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    /// `{"id","organization_id","type","visibility","created_at","updated_at"}`.
    public func publicJSON() -> JSONValue {
        .object([
            "id": .string(id),
            "organization_id": .string(organizationID),
            "type": .string(type.rawValue),
            "visibility": .string(visibility.rawValue),
            "created_at": .integer(createdAt),
            "updated_at": .integer(updatedAt),
        ])
    }
}

// MARK: - Revision

public struct Revision: Sendable, Codable, Equatable {
    public var id: String
    public var blobID: String
    public var phase: RevisionPhase
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(id: String, blobID: String, phase: RevisionPhase, createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.blobID = blobID
        self.phase = phase
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id
        case blobID = "blob_id"
        case phase
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    /// `{"id","blob_id","phase","created_at","updated_at"}`.
    public func publicJSON() -> JSONValue {
        .object([
            "id": .string(id),
            "blob_id": .string(blobID),
            "phase": .string(phase.rawValue),
            "created_at": .integer(createdAt),
            "updated_at": .integer(updatedAt),
        ])
    }
}

// MARK: - API key

/// An API key as stored: never the secret, only its hash.
public struct APIKey: Sendable, Codable, Equatable {
    public var id: String
    public var userID: String
    public var target: APIKeyTargetKind
    public var targetID: String
    public var role: APIKeyRoleValue
    public var description: String?
    /// Epoch milliseconds; nil = never expires. The caller checks expiry.
    public var expiresAt: Int64?
    public var createdAt: Int64
    /// Lower-case hex SHA-256 of the secret (`APIKeySecrets.hash`). Not part of `publicJSON()`.
    public var secretHash: String

    public init(
        id: String,
        userID: String,
        target: APIKeyTargetKind,
        targetID: String,
        role: APIKeyRoleValue,
        description: String? = nil,
        expiresAt: Int64? = nil,
        createdAt: Int64,
        secretHash: String
    ) {
        self.id = id
        self.userID = userID
        self.target = target
        self.targetID = targetID
        self.role = role
        self.description = description
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.secretHash = secretHash
    }

    enum CodingKeys: String, CodingKey {
        case id
        case userID = "user_id"
        case target
        case targetID = "target_id"
        case role, description
        case expiresAt = "expires_at"
        case createdAt = "created_at"
        case secretHash = "secret_hash"
    }

    /// Whether the key has expired at `nowMs` (an expired key authenticates nothing).
    public func isExpired(nowMs: Int64) -> Bool {
        guard let expiresAt else { return false }
        return nowMs >= expiresAt
    }

    /// `{"id","user_id","target","target_id","role","description","expires_at","created_at"}`
    /// (`description`/`expires_at` null when unset). Never the secret nor its hash.
    public func publicJSON() -> JSONValue {
        .object([
            "id": .string(id),
            "user_id": .string(userID),
            "target": .string(target.rawValue),
            "target_id": .string(targetID),
            "role": .string(role.rawValue),
            "description": description.map(JSONValue.string) ?? .null,
            "expires_at": expiresAt.map { JSONValue.integer($0) } ?? .null,
            "created_at": .integer(createdAt),
        ])
    }
}
