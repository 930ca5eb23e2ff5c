import BlobHubRealtimeProtocol
import Testing
@testable import BlobHubRealtimeRegistry

@Suite struct OrganizationTests {
    @Test func createReturnsStoredObjectAndRow() {
        var s = RegistrySnapshot()
        let change = s.ok(.putOrganization(id: orgA, body: body(#"{"name":"Acme"}"#)), now: 100)
        #expect(change.result == json(#"{"id":"\#(orgA)","name":"Acme","created_at":100,"updated_at":100}"#))
        #expect(change.rows.upserts.count == 1)
        #expect(change.rows.upserts.first?.kind == "organization")
        #expect(change.rows.upserts.first?.id == orgA.lowercased())
        #expect(change.rows.deletes.isEmpty)
        #expect(change.events.isEmpty, "creating an organization emits no event")
        #expect(!change.accessReduced)
        #expect(change.revokedAPIKeyIDs.isEmpty)
        #expect(s.organization(orgA)?.name == "Acme")
        #expect(s.counts.organizations == 1)
    }

    @Test func createWithoutNameHasNullName() {
        var s = RegistrySnapshot()
        let change = s.ok(.putOrganization(id: "o1", body: JSONObject()), now: 5)
        #expect(change.result == json(#"{"id":"o1","name":null,"created_at":5,"updated_at":5}"#))
    }

    @Test func idempotentPutKeepsCreatedAtAndEmitsNothing() {
        var s = RegistrySnapshot()
        s.ok(.putOrganization(id: "o1", body: body(#"{"name":"N"}"#)), now: 100)
        let second = s.ok(.putOrganization(id: "o1", body: body(#"{"name":"N"}"#)), now: 200)
        #expect(second.result == json(#"{"id":"o1","name":"N","created_at":100,"updated_at":200}"#))
        #expect(second.events.isEmpty)
        #expect(!second.accessReduced)
        #expect(s.counts.organizations == 1)
    }

    @Test func renameEmitsOrganizationUpdated() {
        var s = RegistrySnapshot()
        s.ok(.putOrganization(id: orgA, body: body(#"{"name":"Old"}"#)))
        let change = s.ok(.putOrganization(id: orgA.lowercased(), body: body(#"{"name":"New"}"#)))
        #expect(change.events == [json(#"{"type":"organization_updated","organization_id":"\#(orgA)","name":"New"}"#)])
        #expect(!change.accessReduced)
    }

    @Test func absentNameKeepsNullClears() {
        var s = RegistrySnapshot()
        s.ok(.putOrganization(id: "o1", body: body(#"{"name":"N"}"#)))
        let keep = s.ok(.putOrganization(id: "o1", body: JSONObject()))
        #expect(keep.events.isEmpty)
        #expect(s.organization("o1")?.name == "N")
        let clear = s.ok(.putOrganization(id: "o1", body: body(#"{"name":null}"#)))
        #expect(s.organization("o1")?.name == nil)
        #expect(types(clear) == ["organization_updated"])
    }

    @Test func uuidLookupIsCaseInsensitiveAndSpellingPreserved() {
        var s = RegistrySnapshot()
        s.ok(.putOrganization(id: orgA, body: JSONObject()), now: 1)
        #expect(s.organization(orgA.lowercased())?.id == orgA)
        #expect(s.organization(orgA)?.id == orgA)
        // A PUT with another spelling updates the same record and echoes the first spelling.
        let change = s.ok(.putOrganization(id: orgA.lowercased(), body: body(#"{"name":"x"}"#)), now: 2)
        #expect(field(change.result!, "id") == orgA)
        #expect(change.result?.objectValue?["created_at"] == .integer(1))
        #expect(s.counts.organizations == 1)
        // Non-UUID ids compare exactly.
        s.ok(.putOrganization(id: "Org-X", body: JSONObject()))
        #expect(s.organization("org-x") == nil)
        #expect(s.organization("Org-X") != nil)
    }

    @Test(arguments: ["", "has space", "slash/inside", String(repeating: "a", count: 129), "é"])
    func invalidIDIsRejected(id: String) {
        var s = RegistrySnapshot()
        let error = s.failure(.putOrganization(id: id, body: JSONObject()))
        #expect(error?.kind == .invalid)
        #expect(error?.field == "id")
        #expect(s.failure(.deleteOrganization(id: id))?.field == "id")
    }

    @Test func maxLengthIDIsAccepted() {
        var s = RegistrySnapshot()
        let id = String(repeating: "a", count: 128)
        s.ok(.putOrganization(id: id, body: JSONObject()))
        #expect(s.organization(id) != nil)
    }

    @Test func nameValidation() {
        var s = RegistrySnapshot()
        let wrongType = s.failure(.putOrganization(id: "o1", body: body(#"{"name":12}"#)))
        #expect(wrongType == RegistryError(kind: .invalid, field: "name", message: "must be a string"))
        let tooLong = s.failure(.putOrganization(id: "o1", body: body(#"{"name":"\#(String(repeating: "n", count: 257))"}"#)))
        #expect(tooLong?.kind == .invalid)
        #expect(tooLong?.field == "name")
        s.ok(.putOrganization(id: "o1", body: body(#"{"name":"\#(String(repeating: "é", count: 256))"}"#)))
        #expect(s.organization("o1")?.name?.count == 256)
    }

    @Test func deleteAbsentIsEmpty() {
        var s = RegistrySnapshot()
        let change = s.ok(.deleteOrganization(id: "nope"))
        #expect(change == RegistryChange())
        #expect(change.isEmpty)
    }

    @Test func deleteEmitsOneEventAndDeletesRow() {
        var s = RegistrySnapshot()
        s.ok(.putOrganization(id: orgA, body: JSONObject()))
        let change = s.ok(.deleteOrganization(id: orgA.lowercased()))
        #expect(change.result == nil)
        #expect(change.events == [json(#"{"type":"organization_deleted","organization_id":"\#(orgA)"}"#)])
        #expect(change.rows.deletes.map(\.kind) == ["organization"])
        #expect(change.rows.deletes.map(\.id) == [orgA.lowercased()])
        #expect(change.accessReduced)
        #expect(s.organization(orgA) == nil)
        #expect(s == RegistrySnapshot())
    }
}
