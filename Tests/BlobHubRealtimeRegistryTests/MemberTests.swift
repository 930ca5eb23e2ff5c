import BlobHubRealtimeProtocol
import Testing
@testable import BlobHubRealtimeRegistry

@Suite struct OrganizationMemberTests {
    @Test func addMember() {
        var s = RegistrySnapshot()
        s.ok(.putOrganization(id: orgA, body: JSONObject()))
        let change = s.ok(.putOrganizationMember(organizationID: orgA, userID: "U-1", body: body(#"{"role":"write"}"#)), now: 7)
        #expect(change.result == json(#"{"organization_id":"\#(orgA)","user_id":"U-1","role":"write","created_at":7,"updated_at":7}"#))
        #expect(change.events == [json(#"{"type":"member_added","organization_id":"\#(orgA)","user_id":"U-1","role":"write"}"#)])
        #expect(change.rows.upserts.map(\.kind) == ["org_member"])
        #expect(change.rows.upserts.map(\.id) == [orgA.lowercased() + "/U-1"])
        #expect(!change.accessReduced)
        #expect(s.organizationRole(user: "U-1", organization: orgA.lowercased()) == .write)
        #expect(s.organizationRole(user: "u-1", organization: orgA) == nil, "non-UUID user ids compare exactly")
        #expect(s.counts.members == 1)
    }

    @Test func uuidUserIDIsCaseInsensitive() {
        var s = RegistrySnapshot()
        s.ok(.putOrganization(id: "o", body: JSONObject()))
        let user = "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"
        s.ok(.putOrganizationMember(organizationID: "o", userID: user, body: body(#"{"role":"read"}"#)))
        #expect(s.organizationRole(user: user.lowercased(), organization: "o") == .read)
        #expect(s.organizationMember(user: user.lowercased(), organization: "o")?.userID == user)
        let again = s.ok(.putOrganizationMember(organizationID: "o", userID: user.lowercased(), body: body(#"{"role":"read"}"#)))
        #expect(again.events.isEmpty)
        #expect(s.counts.members == 1)
    }

    @Test func idempotentPutAndRoleChange() {
        var s = RegistrySnapshot()
        s.ok(.putOrganization(id: "o", body: JSONObject()))
        s.ok(.putOrganizationMember(organizationID: "o", userID: "u", body: body(#"{"role":"read"}"#)), now: 1)
        let same = s.ok(.putOrganizationMember(organizationID: "o", userID: "u", body: body(#"{"role":"read"}"#)), now: 2)
        #expect(same.events.isEmpty)
        #expect(same.result?.objectValue?["created_at"] == .integer(1))
        #expect(same.result?.objectValue?["updated_at"] == .integer(2))
        let downgrade = s.ok(.putOrganizationMember(organizationID: "o", userID: "u", body: body(#"{"role":"admin"}"#)), now: 3)
        #expect(downgrade.events.isEmpty, "a role change is not member_added")
        #expect(!downgrade.accessReduced, "any role reads")
        #expect(s.organizationRole(user: "u", organization: "o") == .admin)
        #expect(s.counts.members == 1)
    }

    @Test func validation() {
        var s = RegistrySnapshot()
        s.ok(.putOrganization(id: "o", body: JSONObject()))
        let role = body(#"{"role":"read"}"#)
        #expect(s.failure(.putOrganizationMember(organizationID: "bad id", userID: "u", body: role))?.field == "organization_id")
        #expect(s.failure(.putOrganizationMember(organizationID: "o", userID: "bad/user", body: role))?.field == "user_id")
        let missing = s.failure(.putOrganizationMember(organizationID: "o", userID: "u", body: JSONObject()))
        #expect(missing == RegistryError(kind: .invalid, field: "role", message: "required"))
        let unknown = s.failure(.putOrganizationMember(organizationID: "o", userID: "u", body: body(#"{"role":"owner"}"#)))
        #expect(unknown?.kind == .invalid)
        #expect(unknown?.field == "role")
        #expect(s.failure(.putOrganizationMember(organizationID: "o", userID: "u", body: body(#"{"role":1}"#)))?.field == "role")
        #expect(s.failure(.putOrganizationMember(organizationID: "o", userID: "u", body: body(#"{"role":null}"#)))?.field == "role")
        #expect(s.failure(.deleteOrganizationMember(organizationID: "o", userID: ""))?.field == "user_id")
        #expect(s.failure(.deleteOrganizationMember(organizationID: "", userID: "u"))?.field == "organization_id")
    }

    @Test func unknownOrganizationIsNotFound() {
        var s = RegistrySnapshot()
        let error = s.failure(.putOrganizationMember(organizationID: "ghost", userID: "u", body: body(#"{"role":"read"}"#)))
        #expect(error?.kind == .notFound)
        #expect(error?.field == "organization_id")
        // Malformed beats unknown.
        let both = s.failure(.putOrganizationMember(organizationID: "ghost", userID: "u", body: body(#"{"role":"x"}"#)))
        #expect(both?.kind == .invalid)
    }

    @Test func removeMember() {
        var s = RegistrySnapshot()
        s.ok(.putOrganization(id: orgA, body: JSONObject()))
        s.ok(.putOrganizationMember(organizationID: orgA, userID: "u", body: body(#"{"role":"read"}"#)))
        let change = s.ok(.deleteOrganizationMember(organizationID: orgA.lowercased(), userID: "u"))
        #expect(change.events == [json(#"{"type":"member_removed","organization_id":"\#(orgA)","user_id":"u"}"#)])
        #expect(change.rows.deletes.map(\.kind) == ["org_member"])
        #expect(change.rows.deletes.map(\.id) == [orgA.lowercased() + "/u"])
        #expect(change.accessReduced)
        #expect(s.organizationRole(user: "u", organization: orgA) == nil)
        #expect(s.counts.members == 0)
        // Absent (also of an unknown organization): success, nothing.
        #expect(s.ok(.deleteOrganizationMember(organizationID: orgA, userID: "u")).isEmpty)
        #expect(s.ok(.deleteOrganizationMember(organizationID: "ghost", userID: "u")).isEmpty)
    }
}

@Suite struct BlobMemberTests {
    @Test func addAndRemove() {
        var s = world()
        let change = s.ok(.putBlobMember(blobID: wfBlob.lowercased(), userID: "erin", body: body(#"{"role":"admin"}"#)), now: 9)
        #expect(change.result == json(#"{"blob_id":"\#(wfBlob.lowercased())","user_id":"erin","role":"admin","created_at":9,"updated_at":9}"#))
        #expect(change.events == [json(#"{"type":"member_added","blob_id":"\#(wfBlob.lowercased())","user_id":"erin","role":"admin"}"#)])
        #expect(change.rows.upserts.map(\.kind) == ["blob_member"])
        #expect(change.rows.upserts.map(\.id) == [wfBlob.lowercased() + "/erin"])
        #expect(!change.accessReduced)
        #expect(s.blobRole(user: "erin", blob: wfBlob) == .admin)
        #expect(s.blobMembers(wfBlob).map(\.userID) == ["dave", "erin"])

        let same = s.ok(.putBlobMember(blobID: wfBlob, userID: "erin", body: body(#"{"role":"admin"}"#)), now: 10)
        #expect(same.events.isEmpty)
        #expect(same.result?.objectValue?["created_at"] == .integer(9))

        let removed = s.ok(.deleteBlobMember(blobID: wfBlob, userID: "erin"))
        #expect(types(removed) == ["member_removed"])
        #expect(field(removed.events[0], "blob_id") == wfBlob.lowercased())
        #expect(field(removed.events[0], "user_id") == "erin")
        #expect(removed.rows.deletes.map(\.id) == [wfBlob.lowercased() + "/erin"])
        #expect(removed.accessReduced)
        #expect(s.blobRole(user: "erin", blob: wfBlob) == nil)
        #expect(s.ok(.deleteBlobMember(blobID: wfBlob, userID: "erin")).isEmpty)
    }

    @Test func validationAndUnknownBlob() {
        var s = world()
        #expect(s.failure(.putBlobMember(blobID: "a b", userID: "u", body: body(#"{"role":"read"}"#)))?.field == "blob_id")
        #expect(s.failure(.putBlobMember(blobID: wfBlob, userID: "", body: body(#"{"role":"read"}"#)))?.field == "user_id")
        #expect(s.failure(.putBlobMember(blobID: wfBlob, userID: "u", body: body(#"{"role":"boss"}"#)))?.field == "role")
        let unknown = s.failure(.putBlobMember(blobID: "ghost", userID: "u", body: body(#"{"role":"read"}"#)))
        #expect(unknown?.kind == .notFound)
        #expect(unknown?.field == "blob_id")
        #expect(s.failure(.deleteBlobMember(blobID: "a b", userID: "u"))?.field == "blob_id")
    }
}
