// Who may subscribe to what (SPEC §6.5, decided).

import BlobHubRealtimeProtocol

/// The identity a connection authenticated as, as the access policy sees it.
public enum RegistryPrincipal: Sendable, Equatable {
    case user(id: String)
    /// An API key: the user it belongs to and the one organization (`orgs`) or blob (`blobs`) it is scoped to.
    case apiKey(userID: String, target: APIKeyTargetKind, targetID: String)
}

public enum AccessPolicy {
    /// Whether `principal` may subscribe to `key`. Read access suffices.
    ///
    /// User principal: `core/user/U` iff it is user U; `core/organization/O` iff a member of O (any
    /// role); `core/blob/B` and `core/revision/R` (R's blob B) iff a member of B's organization or
    /// of B, or B is public; `revision/R` + `session`/`execution` like `core/revision/R`, and R's
    /// blob must be a `workflow` blob.
    ///
    /// API-key principal: scoped to organization O it reads O, O's blobs, their revisions and
    /// (workflow blobs only) their sessions/executions; scoped to blob B it reads B, its revisions
    /// and (workflow only) their sessions/executions. Keys never read `core/user`, and a public blob
    /// outside the key's scope is not readable with the key.
    ///
    /// Unknown organizations, blobs or revisions → false. Expiry/revocation of the key is the
    /// caller's business.
    public static func canRead(_ principal: RegistryPrincipal, _ key: SubscriptionKey, in registry: RegistrySnapshot) -> Bool {
        guard key.target.scope == key.scope else { return false }
        switch key.target {
        case .user:
            guard case .user(let id) = principal else { return false }
            return ResourceID.normalized(id) == ResourceID.normalized(key.targetID)

        case .organization:
            guard let org = registry.organization(key.targetID) else { return false }
            switch principal {
            case .user(let id):
                return registry.organizationRole(user: id, organization: org.id) != nil
            case .apiKey(_, let target, let targetID):
                return target == .orgs && ResourceID.normalized(targetID) == ResourceID.normalized(org.id)
            }

        case .blob:
            guard let blob = registry.blob(key.targetID) else { return false }
            return canRead(principal, blob: blob, in: registry)

        case .revision:
            guard let revision = registry.revision(key.targetID),
                  let blob = registry.blob(revision.blobID)
            else { return false }
            return canRead(principal, blob: blob, in: registry)

        case .session, .execution:
            guard let revision = registry.revision(key.scopeID),
                  let blob = registry.blob(revision.blobID),
                  blob.type == .workflow
            else { return false }
            return canRead(principal, blob: blob, in: registry)
        }
    }

    /// Whether `principal` may read a blob (and so its revisions).
    public static func canRead(_ principal: RegistryPrincipal, blob: Blob, in registry: RegistrySnapshot) -> Bool {
        switch principal {
        case .user(let id):
            return blob.visibility == .public
                || registry.organizationRole(user: id, organization: blob.organizationID) != nil
                || registry.blobRole(user: id, blob: blob.id) != nil
        case .apiKey(_, let target, let targetID):
            let scoped = ResourceID.normalized(targetID)
            switch target {
            case .orgs: return scoped == ResourceID.normalized(blob.organizationID)
            case .blobs: return scoped == ResourceID.normalized(blob.id)
            }
        }
    }
}

extension RegistryPrincipal {
    /// The principal of a stored API key.
    public init(_ key: APIKey) {
        self = .apiKey(userID: key.userID, target: key.target, targetID: key.targetID)
    }
}
