// Applying admin commands: validation, upserts, cascades, core events (SPEC §7.2, §9).

import BlobHubRealtimeProtocol

extension RegistrySnapshot {
    /// Longest accepted `name` / `description`, in characters.
    public static let maxTextLength = 256

    /// Applies one command at time `nowMs` (epoch ms).
    ///
    /// Throws `.invalid` (with the field) for malformed input and `.notFound` for an unknown parent;
    /// on a throw the snapshot is unchanged. Syntax is checked before existence, so a request that is
    /// both malformed and about an unknown parent is `.invalid`.
    public mutating func apply(_ command: RegistryCommand, nowMs: Int64) throws(RegistryError) -> RegistryChange {
        switch command {
        case .putOrganization(let id, let body):
            return try putOrganization(id: id, body: body, nowMs: nowMs)
        case .deleteOrganization(let id):
            return try deleteOrganization(id: id)
        case .putOrganizationMember(let organizationID, let userID, let body):
            return try putMember(parent: .organization, parentID: organizationID, userID: userID, body: body, nowMs: nowMs)
        case .deleteOrganizationMember(let organizationID, let userID):
            return try deleteMember(parent: .organization, parentID: organizationID, userID: userID)
        case .putBlob(let id, let body):
            return try putBlob(id: id, body: body, nowMs: nowMs)
        case .deleteBlob(let id):
            return try deleteBlob(id: id)
        case .putBlobMember(let blobID, let userID, let body):
            return try putMember(parent: .blob, parentID: blobID, userID: userID, body: body, nowMs: nowMs)
        case .deleteBlobMember(let blobID, let userID):
            return try deleteMember(parent: .blob, parentID: blobID, userID: userID)
        case .putRevision(let id, let body):
            return try putRevision(id: id, body: body, nowMs: nowMs)
        case .deleteRevision(let id):
            return try deleteRevision(id: id)
        case .createAPIKey(let body, let keyID, let secret):
            return try createAPIKey(body: body, keyID: keyID, secret: secret, nowMs: nowMs)
        case .revokeAPIKey(let id):
            return try revokeAPIKey(id: id)
        }
    }

    // MARK: Organizations

    private mutating func putOrganization(id: String, body: JSONObject, nowMs: Int64) throws(RegistryError) -> RegistryChange {
        try Validate.id(id, field: "id")
        let name = try Validate.text(body, "name")
        let key = ResourceID.normalized(id)

        var events: [JSONValue] = []
        let org: Organization
        if var existing = organizations[key] {
            let previousName = existing.name
            name.apply(to: &existing.name)
            existing.updatedAt = nowMs
            if existing.name != previousName {
                events.append(.object([
                    "type": "organization_updated",
                    "organization_id": .string(existing.id),
                    "name": existing.name.map(JSONValue.string) ?? .null,
                ]))
            }
            org = existing
        } else {
            var created = Organization(id: id, name: nil, createdAt: nowMs, updatedAt: nowMs)
            name.apply(to: &created.name)
            org = created
        }
        organizations[key] = org
        return RegistryChange(
            result: org.publicJSON(),
            rows: RegistryRows(upserts: [Self.row(org)]),
            events: events
        )
    }

    private mutating func deleteOrganization(id: String) throws(RegistryError) -> RegistryChange {
        try Validate.id(id, field: "id")
        let key = ResourceID.normalized(id)
        guard let org = organizations[key] else { return RegistryChange() }

        var deletes: [RegistryRowKey] = []
        var revoked: [String] = []

        for member in organizationMembers(key) {
            deletes.append(RegistryRowKey(kind: RowKind.organizationMember, id: Self.memberRowID(key, member.userID)))
        }
        organizationMembers.removeValue(forKey: key)

        for blobKey in (blobsByOrganization[key] ?? []).sorted() {
            removeBlobCascading(blobKey, deletes: &deletes, revoked: &revoked)
        }
        removeKeys(target: .orgs, id: key, deletes: &deletes, revoked: &revoked)

        organizations.removeValue(forKey: key)
        deletes.append(RegistryRowKey(kind: RowKind.organization, id: key))

        return RegistryChange(
            rows: RegistryRows(deletes: deletes),
            events: [.object(["type": "organization_deleted", "organization_id": .string(org.id)])],
            accessReduced: true,
            revokedAPIKeyIDs: revoked
        )
    }

    // MARK: Members

    enum MemberParent {
        case organization, blob

        var field: String { self == .organization ? "organization_id" : "blob_id" }
        var rowKind: String { self == .organization ? RowKind.organizationMember : RowKind.blobMember }
    }

    private func parentExists(_ parent: MemberParent, _ key: String) -> Bool {
        switch parent {
        case .organization: return organizations[key] != nil
        case .blob: return blobs[key] != nil
        }
    }

    private func members(_ parent: MemberParent, _ key: String) -> [String: Member]? {
        switch parent {
        case .organization: return organizationMembers[key]
        case .blob: return blobMembers[key]
        }
    }

    private mutating func setMembers(_ parent: MemberParent, _ key: String, _ value: [String: Member]?) {
        let value = value?.isEmpty == true ? nil : value
        switch parent {
        case .organization: organizationMembers[key] = value
        case .blob: blobMembers[key] = value
        }
    }

    private mutating func putMember(
        parent: MemberParent,
        parentID: String,
        userID: String,
        body: JSONObject,
        nowMs: Int64
    ) throws(RegistryError) -> RegistryChange {
        try Validate.id(parentID, field: parent.field)
        try Validate.id(userID, field: "user_id")
        let role: MemberRole = try Validate.requiredEnum(body, "role")
        let parentKey = ResourceID.normalized(parentID)
        guard parentExists(parent, parentKey) else {
            throw .notFound(parent.field, parent == .organization ? "unknown organization" : "unknown blob")
        }

        let userKey = ResourceID.normalized(userID)
        var list = members(parent, parentKey) ?? [:]
        var events: [JSONValue] = []
        let member: Member
        if var existing = list[userKey] {
            existing.role = role
            existing.updatedAt = nowMs
            member = existing
        } else {
            member = Member(
                userID: userID, role: role, createdAt: nowMs, updatedAt: nowMs,
                organizationID: parent == .organization ? parentID : nil,
                blobID: parent == .blob ? parentID : nil
            )
            events.append(.object([
                "type": "member_added",
                parent.field: .string(member.organizationID ?? member.blobID ?? parentID),
                "user_id": .string(member.userID),
                "role": .string(role.rawValue),
            ]))
        }
        list[userKey] = member
        setMembers(parent, parentKey, list)

        let row = parent == .organization
            ? Self.row(member, organizationKey: parentKey)
            : Self.row(member, blobKey: parentKey)
        return RegistryChange(result: member.publicJSON(), rows: RegistryRows(upserts: [row]), events: events)
    }

    private mutating func deleteMember(parent: MemberParent, parentID: String, userID: String) throws(RegistryError) -> RegistryChange {
        try Validate.id(parentID, field: parent.field)
        try Validate.id(userID, field: "user_id")
        let parentKey = ResourceID.normalized(parentID)
        let userKey = ResourceID.normalized(userID)
        guard var list = members(parent, parentKey), let member = list.removeValue(forKey: userKey) else {
            return RegistryChange()
        }
        setMembers(parent, parentKey, list)
        return RegistryChange(
            rows: RegistryRows(deletes: [RegistryRowKey(kind: parent.rowKind, id: Self.memberRowID(parentKey, userID))]),
            events: [.object([
                "type": "member_removed",
                parent.field: .string(member.organizationID ?? member.blobID ?? parentID),
                "user_id": .string(member.userID),
            ])],
            accessReduced: true
        )
    }

    // MARK: Blobs

    private mutating func putBlob(id: String, body: JSONObject, nowMs: Int64) throws(RegistryError) -> RegistryChange {
        try Validate.id(id, field: "id")
        // PUT replaces the blob's state: every field is required, on an update too (HTTP PUT semantics,
        // and what openapi.yaml's BlobBody says; partial updates were undocumented and untestable).
        let organizationID = try Validate.requiredID(body, "organization_id")
        let type: BlobType = try Validate.requiredEnum(body, "type")
        let visibility: BlobVisibility = try Validate.requiredEnum(body, "visibility")
        let key = ResourceID.normalized(id)
        let existing = blobs[key]
        let orgKey = ResourceID.normalized(organizationID)
        guard organizations[orgKey] != nil else { throw .notFound("organization_id", "unknown organization") }

        var events: [JSONValue] = []
        var accessReduced = false
        let blob: Blob
        if let existing {
            var updated = existing
            let moved = ResourceID.normalized(existing.organizationID) != orgKey
            if moved { updated.organizationID = organizationID }
            updated.type = type
            updated.visibility = visibility
            updated.updatedAt = nowMs
            if moved || updated.type != existing.type || updated.visibility != existing.visibility {
                var event = Self.blobEvent("blob_updated", updated)
                if moved { event["previous_organization_id"] = .string(existing.organizationID) }
                events.append(.object(event))
            }
            accessReduced = moved
                || (existing.visibility == .public && updated.visibility == .private)
                || (existing.type == .workflow && updated.type != .workflow)
            blob = updated
        } else {
            blob = Blob(
                id: id, organizationID: organizationID, type: type, visibility: visibility,
                createdAt: nowMs, updatedAt: nowMs
            )
            events.append(.object(Self.blobEvent("blob_created", blob)))
        }
        insertBlob(blob)
        return RegistryChange(
            result: blob.publicJSON(),
            rows: RegistryRows(upserts: [Self.row(blob)]),
            events: events,
            accessReduced: accessReduced
        )
    }

    private static func blobEvent(_ type: String, _ blob: Blob) -> JSONObject {
        [
            "type": .string(type),
            "organization_id": .string(blob.organizationID),
            "blob_id": .string(blob.id),
            "blob_type": .string(blob.type.rawValue),
            "visibility": .string(blob.visibility.rawValue),
        ]
    }

    private mutating func deleteBlob(id: String) throws(RegistryError) -> RegistryChange {
        try Validate.id(id, field: "id")
        let key = ResourceID.normalized(id)
        guard let blob = blobs[key] else { return RegistryChange() }
        var deletes: [RegistryRowKey] = []
        var revoked: [String] = []
        removeBlobCascading(key, deletes: &deletes, revoked: &revoked)
        return RegistryChange(
            rows: RegistryRows(deletes: deletes),
            events: [.object([
                "type": "blob_deleted",
                "organization_id": .string(blob.organizationID),
                "blob_id": .string(blob.id),
            ])],
            accessReduced: true,
            revokedAPIKeyIDs: revoked
        )
    }

    /// Removes a blob with its members, revisions and keys; appends the rows (children first).
    private mutating func removeBlobCascading(
        _ key: String,
        deletes: inout [RegistryRowKey],
        revoked: inout [String]
    ) {
        for member in blobMembers(key) {
            deletes.append(RegistryRowKey(kind: RowKind.blobMember, id: Self.memberRowID(key, member.userID)))
        }
        blobMembers.removeValue(forKey: key)
        for revisionKey in (revisionsByBlob[key] ?? []).sorted() {
            removeRevisionRecord(revisionKey)
            deletes.append(RegistryRowKey(kind: RowKind.revision, id: revisionKey))
        }
        removeKeys(target: .blobs, id: key, deletes: &deletes, revoked: &revoked)
        removeBlobRecord(key)
        deletes.append(RegistryRowKey(kind: RowKind.blob, id: key))
    }

    private mutating func removeKeys(
        target: APIKeyTargetKind,
        id: String,
        deletes: inout [RegistryRowKey],
        revoked: inout [String]
    ) {
        for key in apiKeys(target: target, targetID: id) {
            let keyKey = ResourceID.normalized(key.id)
            removeKeyRecord(keyKey)
            deletes.append(RegistryRowKey(kind: RowKind.apiKey, id: keyKey))
            revoked.append(key.id)
        }
    }

    // MARK: Revisions

    private mutating func putRevision(id: String, body: JSONObject, nowMs: Int64) throws(RegistryError) -> RegistryChange {
        try Validate.id(id, field: "id")
        // PUT replaces the revision's state: both fields are required, on an update too (see putBlob).
        let blobID = try Validate.requiredID(body, "blob_id")
        let phase: RevisionPhase = try Validate.requiredEnum(body, "phase")
        let key = ResourceID.normalized(id)
        let existing = revisions[key]
        let targetBlobID = blobID  // the blob it belongs to after this PUT
        guard let blob = blobs[ResourceID.normalized(targetBlobID)] else {
            throw .notFound("blob_id", "unknown blob")
        }

        var events: [JSONValue] = []
        var accessReduced = false
        let revision: Revision
        if let existing {
            var updated = existing
            let moved = ResourceID.normalized(existing.blobID) != ResourceID.normalized(targetBlobID)
            if moved { updated.blobID = targetBlobID }
            updated.phase = phase
            updated.updatedAt = nowMs
            if updated.phase != existing.phase {
                var event = Self.revisionEvent("revision_phase_changed", updated, blob)
                event["phase"] = .string(updated.phase.rawValue)
                event["previous_phase"] = .string(existing.phase.rawValue)
                events.append(.object(event))
            }
            accessReduced = moved
            revision = updated
        } else {
            revision = Revision(id: id, blobID: targetBlobID, phase: phase, createdAt: nowMs, updatedAt: nowMs)
            var event = Self.revisionEvent("revision_created", revision, blob)
            event["phase"] = .string(revision.phase.rawValue)
            events.append(.object(event))
        }
        insertRevision(revision)
        return RegistryChange(
            result: revision.publicJSON(),
            rows: RegistryRows(upserts: [Self.row(revision)]),
            events: events,
            accessReduced: accessReduced
        )
    }

    private static func revisionEvent(_ type: String, _ revision: Revision, _ blob: Blob) -> JSONObject {
        [
            "type": .string(type),
            "revision_id": .string(revision.id),
            "blob_id": .string(revision.blobID),
            "organization_id": .string(blob.organizationID),
        ]
    }

    private mutating func deleteRevision(id: String) throws(RegistryError) -> RegistryChange {
        try Validate.id(id, field: "id")
        let key = ResourceID.normalized(id)
        guard let revision = revisions[key] else { return RegistryChange() }
        removeRevisionRecord(key)
        var event: JSONObject = [
            "type": "revision_deleted",
            "revision_id": .string(revision.id),
            "blob_id": .string(revision.blobID),
        ]
        if let blob = blobs[ResourceID.normalized(revision.blobID)] {
            event["organization_id"] = .string(blob.organizationID)
        }
        return RegistryChange(
            rows: RegistryRows(deletes: [RegistryRowKey(kind: RowKind.revision, id: key)]),
            events: [.object(event)],
            accessReduced: true
        )
    }

    // MARK: API keys

    private mutating func createAPIKey(body: JSONObject, keyID: String, secret: String, nowMs: Int64) throws(RegistryError) -> RegistryChange {
        try Validate.id(keyID, field: "id")
        guard keys[ResourceID.normalized(keyID)] == nil else { throw .invalid("id", "already exists") }
        guard !secret.isEmpty else { throw .invalid("key", "must not be empty") }
        let userID = try Validate.requiredID(body, "user_id")
        let target: APIKeyTargetKind = try Validate.requiredEnum(body, "target")
        let targetID = try Validate.requiredID(body, "target_id")
        let role: APIKeyRoleValue = try Validate.requiredEnum(body, "role")
        var description: String?
        try Validate.text(body, "description").apply(to: &description)
        let expiresAt = try Validate.expiry(body, "expires_at")
        guard targetExists(target, targetID) else {
            throw .notFound("target_id", target == .orgs ? "unknown organization" : "unknown blob")
        }
        let hash = APIKeySecrets.hash(secret)
        guard keyIDBySecretHash[hash] == nil else { throw .invalid("key", "already in use") }

        let key = APIKey(
            id: keyID, userID: userID, target: target, targetID: targetID, role: role,
            description: description, expiresAt: expiresAt, createdAt: nowMs, secretHash: hash
        )
        insertKey(key)

        var result = JSONObject()
        for (name, value) in key.publicJSON().objectValue ?? [:] {
            result.append(key: name, value: value)
            if name == "id" { result.append(key: "key", value: .string(secret)) }
        }
        return RegistryChange(result: .object(result), rows: RegistryRows(upserts: [Self.row(key)]))
    }

    private mutating func revokeAPIKey(id: String) throws(RegistryError) -> RegistryChange {
        try Validate.id(id, field: "id")
        let keyKey = ResourceID.normalized(id)
        guard let key = keys[keyKey] else { return RegistryChange() }
        removeKeyRecord(keyKey)
        return RegistryChange(
            rows: RegistryRows(deletes: [RegistryRowKey(kind: RowKind.apiKey, id: keyKey)]),
            accessReduced: true,
            revokedAPIKeyIDs: [key.id]
        )
    }
}

// MARK: - Body validation

/// A text field of a PUT body: absent keeps the stored value, `null` clears it.
enum TextUpdate: Equatable {
    case keep
    case clear
    case set(String)

    func apply(to value: inout String?) {
        switch self {
        case .keep: break
        case .clear: value = nil
        case .set(let s): value = s
        }
    }
}

enum Validate {
    static let idReason = "must be 1-128 characters from [A-Za-z0-9._:-]"

    static func id(_ id: String, field: String) throws(RegistryError) {
        guard ResourceID.isValid(id) else { throw .invalid(field, idReason) }
    }

    /// A required id member (absent or null → `required`).
    static func requiredID(_ body: JSONObject, _ field: String) throws(RegistryError) -> String {
        guard let id = try optionalID(body, field) else { throw .invalid(field, "required") }
        return id
    }

    /// An optional id member (absent or null → nil).
    static func optionalID(_ body: JSONObject, _ field: String) throws(RegistryError) -> String? {
        switch body[field] {
        case nil, .null?: return nil
        case .string(let s)?:
            try id(s, field: field)
            return s
        default: throw .invalid(field, "must be a string")
        }
    }

    static func requiredEnum<E: RawRepresentable & CaseIterable>(_ body: JSONObject, _ field: String) throws(RegistryError) -> E
    where E.RawValue == String {
        guard let value: E = try optionalEnum(body, field) else { throw .invalid(field, "required") }
        return value
    }

    /// An optional enum member (absent or null → nil).
    static func optionalEnum<E: RawRepresentable & CaseIterable>(_ body: JSONObject, _ field: String) throws(RegistryError) -> E?
    where E.RawValue == String {
        let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
        switch body[field] {
        case nil, .null?: return nil
        case .string(let s)?:
            guard let value = E(rawValue: s) else { throw .invalid(field, "must be one of \(allowed)") }
            return value
        default: throw .invalid(field, "must be a string, one of \(allowed)")
        }
    }

    /// `name` / `description`: a string of at most 256 characters; null clears; absent keeps.
    static func text(_ body: JSONObject, _ field: String) throws(RegistryError) -> TextUpdate {
        switch body[field] {
        case nil: return .keep
        case .null?: return .clear
        case .string(let s)?:
            guard s.count <= RegistrySnapshot.maxTextLength else {
                throw .invalid(field, "must be at most \(RegistrySnapshot.maxTextLength) characters")
            }
            return .set(s)
        default: throw .invalid(field, "must be a string")
        }
    }

    /// A non-negative epoch-ms integer; absent or null → nil. A time already past is kept: the key is
    /// stored expired (the registry mirrors the platform, whose keys may have expired) and never authenticates.
    static func expiry(_ body: JSONObject, _ field: String) throws(RegistryError) -> Int64? {
        switch body[field] {
        case nil, .null?: return nil
        case let value?:
            guard let ms = value.int64Value, (0...JSONNumberText.maxSafeInteger).contains(ms) else {
                throw .invalid(field, "must be an integer from 0 to 2^53-1 (epoch milliseconds)")
            }
            return ms
        }
    }
}
