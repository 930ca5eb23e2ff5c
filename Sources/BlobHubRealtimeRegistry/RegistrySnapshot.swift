// The in-memory registry: records keyed by normalized id, plus the indexes cascades and lookups need.

import BlobHubRealtimeProtocol
import Foundation

/// The whole registry as one value. The server keeps one, applies commands to it
/// (`apply(_:nowMs:)`), persists the returned rows and rebuilds it at start (`init(rows:)`).
///
/// Invariants: every member, blob, revision and API key has an existing parent; indexes agree with
/// the records; empty index buckets are removed.
public struct RegistrySnapshot: Sendable, Equatable {
    // Records, keyed by ResourceID.normalized(id).
    var organizations: [String: Organization] = [:]
    /// normalized org id → normalized user id → member.
    var organizationMembers: [String: [String: Member]] = [:]
    var blobs: [String: Blob] = [:]
    /// normalized blob id → normalized user id → member.
    var blobMembers: [String: [String: Member]] = [:]
    var revisions: [String: Revision] = [:]
    /// normalized key id → key.
    var keys: [String: APIKey] = [:]

    // Indexes (derived from the records).
    /// normalized org id → normalized blob ids.
    var blobsByOrganization: [String: Set<String>] = [:]
    /// normalized blob id → normalized revision ids.
    var revisionsByBlob: [String: Set<String>] = [:]
    /// secret hash → normalized key id.
    var keyIDBySecretHash: [String: String] = [:]
    /// target → normalized key ids.
    var keyIDsByTarget: [KeyTarget: Set<String>] = [:]

    struct KeyTarget: Hashable, Sendable {
        var kind: APIKeyTargetKind
        /// Normalized.
        var id: String
    }

    public init() {}

    /// Compares the records (the indexes follow from them).
    public static func == (lhs: RegistrySnapshot, rhs: RegistrySnapshot) -> Bool {
        lhs.organizations == rhs.organizations
            && lhs.organizationMembers == rhs.organizationMembers
            && lhs.blobs == rhs.blobs
            && lhs.blobMembers == rhs.blobMembers
            && lhs.revisions == rhs.revisions
            && lhs.keys == rhs.keys
    }

    // MARK: Lookups (any id spelling; UUID-form ids are case-insensitive)

    public func organization(_ id: String) -> Organization? {
        organizations[ResourceID.normalized(id)]
    }

    public func blob(_ id: String) -> Blob? {
        blobs[ResourceID.normalized(id)]
    }

    public func revision(_ id: String) -> Revision? {
        revisions[ResourceID.normalized(id)]
    }

    public func organizationRole(user: String, organization: String) -> MemberRole? {
        organizationMembers[ResourceID.normalized(organization)]?[ResourceID.normalized(user)]?.role
    }

    public func blobRole(user: String, blob: String) -> MemberRole? {
        blobMembers[ResourceID.normalized(blob)]?[ResourceID.normalized(user)]?.role
    }

    /// The membership record of `user` in an organization.
    public func organizationMember(user: String, organization: String) -> Member? {
        organizationMembers[ResourceID.normalized(organization)]?[ResourceID.normalized(user)]
    }

    /// The membership record of `user` in a blob.
    public func blobMember(user: String, blob: String) -> Member? {
        blobMembers[ResourceID.normalized(blob)]?[ResourceID.normalized(user)]
    }

    /// The members of an organization, ordered by normalized user id.
    public func organizationMembers(_ organization: String) -> [Member] {
        sortedValues(organizationMembers[ResourceID.normalized(organization)] ?? [:])
    }

    /// The members of a blob, ordered by normalized user id.
    public func blobMembers(_ blob: String) -> [Member] {
        sortedValues(blobMembers[ResourceID.normalized(blob)] ?? [:])
    }

    /// The blobs of an organization, ordered by normalized id.
    public func blobs(organization: String) -> [Blob] {
        (blobsByOrganization[ResourceID.normalized(organization)] ?? []).sorted().compactMap { blobs[$0] }
    }

    /// The revisions of a blob, ordered by normalized id.
    public func revisions(blob: String) -> [Revision] {
        (revisionsByBlob[ResourceID.normalized(blob)] ?? []).sorted().compactMap { revisions[$0] }
    }

    public func apiKey(id: String) -> APIKey? {
        keys[ResourceID.normalized(id)]
    }

    /// The key whose secret hashes to `secretHash` (lower-case hex, as `APIKeySecrets.hash` returns).
    /// Expiry is not checked here.
    public func apiKey(secretHash: String) -> APIKey? {
        guard let id = keyIDBySecretHash[secretHash] else { return nil }
        return keys[id]
    }

    /// The keys scoped to a target, ordered by creation time, then id.
    public func apiKeys(target: APIKeyTargetKind, targetID: String) -> [APIKey] {
        let ids = keyIDsByTarget[KeyTarget(kind: target, id: ResourceID.normalized(targetID))] ?? []
        return ids.compactMap { keys[$0] }.sorted { a, b in
            a.createdAt != b.createdAt ? a.createdAt < b.createdAt : a.id < b.id
        }
    }

    /// The ids (as created) of every API key; comparing two snapshots tells which keys were revoked.
    public var apiKeyIDs: Set<String> {
        Set(keys.values.map(\.id))
    }

    public var counts: (organizations: Int, blobs: Int, revisions: Int, members: Int, apiKeys: Int) {
        let members = organizationMembers.values.reduce(0) { $0 + $1.count }
            + blobMembers.values.reduce(0) { $0 + $1.count }
        return (organizations.count, blobs.count, revisions.count, members, keys.count)
    }

    private func sortedValues(_ members: [String: Member]) -> [Member] {
        members.keys.sorted().compactMap { members[$0] }
    }

    // MARK: Rows

    /// Rebuilds from persisted rows (the kinds `RegistryRows` lists; others are ignored). Rows whose
    /// parent is missing (a member of an unknown organization, a blob of an unknown organization, …)
    /// are dropped, so the snapshot's invariants hold. Throws when a row's data does not decode.
    public init(rows: [RegistryRow]) throws {
        self.init()
        let decoder = JSONDecoder()
        var orgMemberRows: [(String, Member)] = []
        var blobMemberRows: [(String, Member)] = []
        var blobRows: [Blob] = []
        var revisionRows: [Revision] = []
        var keyRows: [APIKey] = []

        for row in rows {
            let data = Data(row.data)
            switch row.kind {
            case RowKind.organization:
                let org = try decoder.decode(Organization.self, from: data)
                organizations[ResourceID.normalized(org.id)] = org
            case RowKind.organizationMember:
                let member = try decoder.decode(Member.self, from: data)
                let parent = member.organizationID ?? Self.parentPart(of: row.id)
                orgMemberRows.append((ResourceID.normalized(parent), member))
            case RowKind.blob:
                blobRows.append(try decoder.decode(Blob.self, from: data))
            case RowKind.blobMember:
                let member = try decoder.decode(Member.self, from: data)
                let parent = member.blobID ?? Self.parentPart(of: row.id)
                blobMemberRows.append((ResourceID.normalized(parent), member))
            case RowKind.revision:
                revisionRows.append(try decoder.decode(Revision.self, from: data))
            case RowKind.apiKey:
                keyRows.append(try decoder.decode(APIKey.self, from: data))
            default:
                continue
            }
        }

        for (org, member) in orgMemberRows where organizations[org] != nil {
            organizationMembers[org, default: [:]][ResourceID.normalized(member.userID)] = member
        }
        for blob in blobRows where organizations[ResourceID.normalized(blob.organizationID)] != nil {
            insertBlob(blob)
        }
        for (blob, member) in blobMemberRows where blobs[blob] != nil {
            blobMembers[blob, default: [:]][ResourceID.normalized(member.userID)] = member
        }
        for revision in revisionRows where blobs[ResourceID.normalized(revision.blobID)] != nil {
            insertRevision(revision)
        }
        for key in keyRows where targetExists(key.target, key.targetID) {
            insertKey(key)
        }
    }

    /// The part of a member row id before the `/`.
    private static func parentPart(of rowID: String) -> String {
        guard let slash = rowID.firstIndex(of: "/") else { return rowID }
        return String(rowID[..<slash])
    }

    /// Every row of the snapshot, as a store holding it would: what `init(rows:)` reads back.
    public func allRows() -> [RegistryRow] {
        var rows: [RegistryRow] = []
        for id in organizations.keys.sorted() {
            rows.append(Self.row(organizations[id]!))
            for member in organizationMembers(id) {
                rows.append(Self.row(member, organizationKey: id))
            }
        }
        for id in blobs.keys.sorted() {
            rows.append(Self.row(blobs[id]!))
            for member in blobMembers(id) {
                rows.append(Self.row(member, blobKey: id))
            }
        }
        for id in revisions.keys.sorted() {
            rows.append(Self.row(revisions[id]!))
        }
        for id in keys.keys.sorted() {
            rows.append(Self.row(keys[id]!))
        }
        return rows
    }

    // MARK: Index maintenance (all record mutations go through these)

    func targetExists(_ kind: APIKeyTargetKind, _ id: String) -> Bool {
        switch kind {
        case .orgs: return organizations[ResourceID.normalized(id)] != nil
        case .blobs: return blobs[ResourceID.normalized(id)] != nil
        }
    }

    mutating func insertBlob(_ blob: Blob) {
        let id = ResourceID.normalized(blob.id)
        if let old = blobs[id] {
            removeFromIndex(&blobsByOrganization, ResourceID.normalized(old.organizationID), id)
        }
        blobs[id] = blob
        blobsByOrganization[ResourceID.normalized(blob.organizationID), default: []].insert(id)
    }

    mutating func removeBlobRecord(_ id: String) {
        guard let old = blobs.removeValue(forKey: id) else { return }
        removeFromIndex(&blobsByOrganization, ResourceID.normalized(old.organizationID), id)
    }

    mutating func insertRevision(_ revision: Revision) {
        let id = ResourceID.normalized(revision.id)
        if let old = revisions[id] {
            removeFromIndex(&revisionsByBlob, ResourceID.normalized(old.blobID), id)
        }
        revisions[id] = revision
        revisionsByBlob[ResourceID.normalized(revision.blobID), default: []].insert(id)
    }

    mutating func removeRevisionRecord(_ id: String) {
        guard let old = revisions.removeValue(forKey: id) else { return }
        removeFromIndex(&revisionsByBlob, ResourceID.normalized(old.blobID), id)
    }

    mutating func insertKey(_ key: APIKey) {
        let id = ResourceID.normalized(key.id)
        if keys[id] != nil { removeKeyRecord(id) }
        keys[id] = key
        keyIDBySecretHash[key.secretHash] = id
        keyIDsByTarget[KeyTarget(kind: key.target, id: ResourceID.normalized(key.targetID)), default: []].insert(id)
    }

    mutating func removeKeyRecord(_ id: String) {
        guard let old = keys.removeValue(forKey: id) else { return }
        if keyIDBySecretHash[old.secretHash] == id { keyIDBySecretHash.removeValue(forKey: old.secretHash) }
        removeFromIndex(&keyIDsByTarget, KeyTarget(kind: old.target, id: ResourceID.normalized(old.targetID)), id)
    }

    private func removeFromIndex<K: Hashable>(_ index: inout [K: Set<String>], _ bucket: K, _ id: String) {
        guard var set = index[bucket] else { return }
        set.remove(id)
        index[bucket] = set.isEmpty ? nil : set
    }
}

// MARK: - Row encoding

enum RowKind {
    static let organization = "organization"
    static let organizationMember = "org_member"
    static let blob = "blob"
    static let blobMember = "blob_member"
    static let revision = "revision"
    static let apiKey = "api_key"
}

extension RegistrySnapshot {
    private static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding these plain records cannot fail.
        return Array((try? encoder.encode(value)) ?? Data())
    }

    static func row(_ org: Organization) -> RegistryRow {
        RegistryRow(kind: RowKind.organization, id: ResourceID.normalized(org.id), data: encode(org))
    }

    static func row(_ member: Member, organizationKey: String) -> RegistryRow {
        RegistryRow(kind: RowKind.organizationMember, id: memberRowID(organizationKey, member.userID), data: encode(member))
    }

    static func row(_ member: Member, blobKey: String) -> RegistryRow {
        RegistryRow(kind: RowKind.blobMember, id: memberRowID(blobKey, member.userID), data: encode(member))
    }

    static func row(_ blob: Blob) -> RegistryRow {
        RegistryRow(kind: RowKind.blob, id: ResourceID.normalized(blob.id), data: encode(blob))
    }

    static func row(_ revision: Revision) -> RegistryRow {
        RegistryRow(kind: RowKind.revision, id: ResourceID.normalized(revision.id), data: encode(revision))
    }

    static func row(_ key: APIKey) -> RegistryRow {
        RegistryRow(kind: RowKind.apiKey, id: ResourceID.normalized(key.id), data: encode(key))
    }

    /// `normalizedParent + "/" + normalizedUser`.
    static func memberRowID(_ parentKey: String, _ userID: String) -> String {
        parentKey + "/" + ResourceID.normalized(userID)
    }
}
