import BlobHubRealtimeProtocol
import Testing
@testable import BlobHubRealtimeRegistry

@Suite struct BlobTests {
    func withOrgs() -> RegistrySnapshot {
        var s = RegistrySnapshot()
        s.ok(.putOrganization(id: orgA, body: JSONObject()))
        s.ok(.putOrganization(id: orgB, body: JSONObject()))
        return s
    }

    @Test func create() {
        var s = withOrgs()
        let change = s.ok(.putBlob(id: wfBlob, body: body(#"{"organization_id":"\#(orgA.lowercased())","type":"workflow","visibility":"private"}"#)), now: 3)
        #expect(change.result == json(#"{"id":"\#(wfBlob)","organization_id":"\#(orgA.lowercased())","type":"workflow","visibility":"private","created_at":3,"updated_at":3}"#))
        #expect(change.events == [json(#"{"type":"blob_created","organization_id":"\#(orgA.lowercased())","blob_id":"\#(wfBlob)","blob_type":"workflow","visibility":"private"}"#)])
        #expect(change.rows.upserts.map(\.kind) == ["blob"])
        #expect(change.rows.upserts.map(\.id) == [wfBlob.lowercased()])
        #expect(!change.accessReduced)
        #expect(s.blob(wfBlob.lowercased())?.id == wfBlob)
        #expect(s.blobs(organization: orgA).map(\.id) == [wfBlob])
    }

    @Test func idempotentPut() {
        var s = withOrgs()
        let b = body(#"{"organization_id":"\#(orgA)","type":"onnx","visibility":"public"}"#)
        s.ok(.putBlob(id: "b", body: b), now: 1)
        let again = s.ok(.putBlob(id: "b", body: b), now: 2)
        #expect(again.events.isEmpty)
        #expect(!again.accessReduced)
        #expect(again.result?.objectValue?["created_at"] == .integer(1))
        #expect(again.result?.objectValue?["updated_at"] == .integer(2))
        #expect(again.rows.upserts.count == 1)
        // Another spelling of the organization id is the same organization: no move, spelling kept.
        let spelled = s.ok(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA.lowercased())","type":"onnx","visibility":"public"}"#)))
        #expect(spelled.events.isEmpty)
        #expect(s.blob("b")?.organizationID == orgA)
    }

    @Test func updateReplacesTheStateAndNeedsEveryField() {
        var s = withOrgs()
        s.ok(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"onnx","visibility":"private"}"#)))
        // PUT replaces: a partial body is refused on an update as on a create, and changes nothing.
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","visibility":"public"}"#)))?.field == "type")
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"onnx"}"#)))?.field == "visibility")
        #expect(s.blob("b")?.visibility == .private)
        let change = s.ok(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"onnx","visibility":"public"}"#)))
        #expect(s.blob("b")?.type == .onnx)
        #expect(s.blob("b")?.visibility == .public)
        #expect(types(change) == ["blob_updated"])
        #expect(field(change.events[0], "visibility") == "public")
        #expect(!change.accessReduced, "private → public only adds access")
    }

    @Test func makingPrivateReducesAccess() {
        var s = withOrgs()
        s.ok(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"workflow","visibility":"public"}"#)))
        let change = s.ok(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"workflow","visibility":"private"}"#)))
        #expect(types(change) == ["blob_updated"])
        #expect(change.accessReduced)
    }

    @Test func leavingWorkflowTypeReducesAccess() {
        var s = withOrgs()
        s.ok(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"workflow","visibility":"private"}"#)))
        let change = s.ok(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"scheduler","visibility":"private"}"#)))
        #expect(types(change) == ["blob_updated"])
        #expect(field(change.events[0], "blob_type") == "scheduler")
        #expect(change.accessReduced)
        let back = s.ok(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"workflow","visibility":"private"}"#)))
        #expect(!back.accessReduced)
    }

    @Test func moveToAnotherOrganization() {
        var s = withOrgs()
        s.ok(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"workflow","visibility":"private"}"#)))
        s.ok(.putRevision(id: "r", body: body(#"{"blob_id":"b","phase":"draft"}"#)))
        let change = s.ok(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgB)","type":"workflow","visibility":"private"}"#)))
        #expect(change.events == [json(#"{"type":"blob_updated","organization_id":"org-b","blob_id":"b","blob_type":"workflow","visibility":"private","previous_organization_id":"\#(orgA)"}"#)])
        #expect(change.accessReduced)
        #expect(s.blobs(organization: orgA).isEmpty)
        #expect(s.blobs(organization: orgB).map(\.id) == ["b"])
        // Deleting the old organization leaves the moved blob alone.
        s.ok(.deleteOrganization(id: orgA))
        #expect(s.blob("b") != nil)
        #expect(s.revision("r") != nil)
    }

    @Test func validation() {
        var s = withOrgs()
        #expect(s.failure(.putBlob(id: "b b", body: body(#"{"organization_id":"\#(orgA)","type":"workflow","visibility":"private"}"#)))?.field == "id")
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"type":"workflow","visibility":"private"}"#))) == RegistryError(kind: .invalid, field: "organization_id", message: "required"))
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"organization_id":7,"type":"workflow","visibility":"private"}"#)))?.field == "organization_id")
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"organization_id":"x y","type":"workflow","visibility":"private"}"#)))?.field == "organization_id")
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","visibility":"private"}"#))) == RegistryError(kind: .invalid, field: "type", message: "required"))
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"workflow"}"#))) == RegistryError(kind: .invalid, field: "visibility", message: "required"))
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"model","visibility":"private"}"#)))?.field == "type")
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"workflow","visibility":"internal"}"#)))?.field == "visibility")
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":["workflow"],"visibility":"private"}"#)))?.field == "type")
        #expect(s.failure(.deleteBlob(id: ""))?.field == "id")
        // On update an invalid value is still invalid.
        s.ok(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"workflow","visibility":"private"}"#)))
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"workflow","visibility":"secret"}"#)))?.field == "visibility")
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"type":"onnx"}"#)))?.field == "organization_id")
    }

    @Test func unknownOrganizationIsNotFound() {
        var s = withOrgs()
        let error = s.failure(.putBlob(id: "b", body: body(#"{"organization_id":"ghost","type":"workflow","visibility":"private"}"#)))
        #expect(error?.kind == .notFound)
        #expect(error?.field == "organization_id")
        s.ok(.putBlob(id: "b", body: body(#"{"organization_id":"\#(orgA)","type":"workflow","visibility":"private"}"#)))
        #expect(s.failure(.putBlob(id: "b", body: body(#"{"organization_id":"ghost","type":"workflow","visibility":"private"}"#)))?.kind == .notFound)
    }

    @Test func deleteAbsentIsEmpty() {
        var s = withOrgs()
        #expect(s.ok(.deleteBlob(id: "ghost")).isEmpty)
    }
}

@Suite struct RevisionTests {
    @Test func create() {
        var s = world()
        let change = s.ok(.putRevision(id: "R-new", body: body(#"{"blob_id":"\#(wfBlob.lowercased())","phase":"draft"}"#)), now: 50)
        #expect(change.result == json(#"{"id":"R-new","blob_id":"\#(wfBlob.lowercased())","phase":"draft","created_at":50,"updated_at":50}"#))
        #expect(change.events == [json(#"{"type":"revision_created","revision_id":"R-new","blob_id":"\#(wfBlob.lowercased())","organization_id":"\#(orgA)","phase":"draft"}"#)])
        #expect(change.rows.upserts.map(\.kind) == ["revision"])
        #expect(change.rows.upserts.map(\.id) == ["R-new"])
        #expect(!change.accessReduced)
        #expect(s.revisions(blob: wfBlob).map(\.id).contains("R-new"))
    }

    @Test func idempotentAndPhaseChange() {
        var s = world()
        let same = s.ok(.putRevision(id: wfRev.lowercased(), body: body(#"{"blob_id":"\#(wfBlob)","phase":"draft"}"#)), now: 2_000)
        #expect(same.events.isEmpty)
        #expect(same.result?.objectValue?["created_at"] == .integer(1_000))
        #expect(field(same.result!, "id") == wfRev)

        #expect(s.failure(.putRevision(id: wfRev, body: body(#"{"phase":"commit"}"#)))?.field == "blob_id", "PUT replaces: blob_id is required")
        let change = s.ok(.putRevision(id: wfRev, body: body(#"{"blob_id":"\#(wfBlob)","phase":"commit"}"#)), now: 3_000)
        #expect(change.events == [json(#"{"type":"revision_phase_changed","revision_id":"\#(wfRev)","blob_id":"\#(wfBlob)","organization_id":"\#(orgA)","phase":"commit","previous_phase":"draft"}"#)])
        #expect(!change.accessReduced)
        #expect(s.revision(wfRev)?.phase == .commit)
        #expect(s.revision(wfRev)?.blobID == wfBlob)
    }

    @Test func moveToAnotherBlob() {
        var s = world()
        let change = s.ok(.putRevision(id: wfRev, body: body(#"{"blob_id":"\#(blobInB)","phase":"draft"}"#)))
        #expect(change.events.isEmpty, "a move without a phase change has no catalog event")
        #expect(change.accessReduced)
        #expect(s.revision(wfRev)?.blobID == blobInB)
        #expect(s.revisions(blob: wfBlob).isEmpty)
        #expect(s.revisions(blob: blobInB).map(\.id).sorted() == [wfRev, revInB].sorted())
        // Move and phase change together: the event names the new blob and organization.
        let both = s.ok(.putRevision(id: wfRev, body: body(#"{"blob_id":"\#(onnxBlob)","phase":"snapshot"}"#)))
        #expect(types(both) == ["revision_phase_changed"])
        #expect(field(both.events[0], "blob_id") == onnxBlob)
        #expect(field(both.events[0], "organization_id") == orgA)
    }

    @Test func validation() {
        var s = world()
        #expect(s.failure(.putRevision(id: "r r", body: body(#"{"blob_id":"\#(wfBlob)","phase":"draft"}"#)))?.field == "id")
        #expect(s.failure(.putRevision(id: "r", body: body(#"{"phase":"draft"}"#))) == RegistryError(kind: .invalid, field: "blob_id", message: "required"))
        #expect(s.failure(.putRevision(id: "r", body: body(#"{"blob_id":"\#(wfBlob)"}"#))) == RegistryError(kind: .invalid, field: "phase", message: "required"))
        #expect(s.failure(.putRevision(id: "r", body: body(#"{"blob_id":"\#(wfBlob)","phase":"final"}"#)))?.field == "phase")
        #expect(s.failure(.putRevision(id: "r", body: body(#"{"blob_id":true,"phase":"draft"}"#)))?.field == "blob_id")
        #expect(s.failure(.putRevision(id: "r", body: body(#"{"blob_id":"\#(wfBlob)","phase":3}"#)))?.field == "phase")
        #expect(s.failure(.putRevision(id: wfRev, body: body(#"{"blob_id":"\#(wfBlob)","phase":"nope"}"#)))?.field == "phase")
        #expect(s.failure(.deleteRevision(id: "?"))?.field == "id")
    }

    @Test func unknownBlobIsNotFound() {
        var s = world()
        let error = s.failure(.putRevision(id: "r", body: body(#"{"blob_id":"ghost","phase":"draft"}"#)))
        #expect(error?.kind == .notFound)
        #expect(error?.field == "blob_id")
        #expect(s.failure(.putRevision(id: wfRev, body: body(#"{"blob_id":"ghost","phase":"draft"}"#)))?.kind == .notFound)
    }

    @Test func delete() {
        var s = world()
        let change = s.ok(.deleteRevision(id: wfRev.lowercased()))
        #expect(change.events == [json(#"{"type":"revision_deleted","revision_id":"\#(wfRev)","blob_id":"\#(wfBlob)","organization_id":"\#(orgA)"}"#)])
        #expect(change.rows.deletes.map(\.kind) == ["revision"])
        #expect(change.rows.deletes.map(\.id) == [wfRev.lowercased()])
        #expect(change.accessReduced)
        #expect(s.revision(wfRev) == nil)
        #expect(s.ok(.deleteRevision(id: wfRev)).isEmpty)
    }
}
