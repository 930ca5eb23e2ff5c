import BlobHubRealtimeRegistry
import Testing
@testable import BlobHubRealtimeStore

@Suite("Registry rows")
struct RegistryPersistenceTests {
    static func row(_ kind: String, _ id: String, _ data: String) -> RegistryRow {
        RegistryRow(kind: kind, id: id, data: Array(data.utf8))
    }

    @Test("upsert, replace and delete; rows come back ordered by kind and id", arguments: StoreKind.allCases)
    func upsertReplaceDelete(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            #expect(try await store.registryRows().isEmpty)
            try await store.persist(RegistryRows(upserts: [
                Self.row("organization", "o2", #"{"name":"B"}"#),
                Self.row("organization", "o1", #"{"name":"A"}"#),
                Self.row("blob", "b1", #"{"organization_id":"o1"}"#),
                Self.row("blob", "o1", #"{"same id, other kind":true}"#),
            ]))
            #expect(try await store.registryRows() == [
                Self.row("blob", "b1", #"{"organization_id":"o1"}"#),
                Self.row("blob", "o1", #"{"same id, other kind":true}"#),
                Self.row("organization", "o1", #"{"name":"A"}"#),
                Self.row("organization", "o2", #"{"name":"B"}"#),
            ])

            // Replace by (kind, id), delete one, delete an absent row (no-op), in one diff.
            try await store.persist(RegistryRows(
                upserts: [Self.row("organization", "o1", #"{"name":"A2"}"#)],
                deletes: [RegistryRowKey(kind: "blob", id: "o1"), RegistryRowKey(kind: "member", id: "nope")]))
            #expect(try await store.registryRows() == [
                Self.row("blob", "b1", #"{"organization_id":"o1"}"#),
                Self.row("organization", "o1", #"{"name":"A2"}"#),
                Self.row("organization", "o2", #"{"name":"B"}"#),
            ])

            // A key both deleted and upserted ends up upserted; the last of repeated upserts wins.
            try await store.persist(RegistryRows(
                upserts: [Self.row("blob", "b1", "1"), Self.row("blob", "b1", "2")],
                deletes: [RegistryRowKey(kind: "blob", id: "b1"), RegistryRowKey(kind: "organization", id: "o2")]))
            #expect(try await store.registryRows() == [
                Self.row("blob", "b1", "2"),
                Self.row("organization", "o1", #"{"name":"A2"}"#),
            ])

            // An empty diff changes nothing.
            try await store.persist(RegistryRows())
            #expect(try await store.registryRows().count == 2)
            #expect(RegistryRows().isEmpty)
            #expect(!RegistryRows(deletes: [RegistryRowKey(kind: "a", id: "b")]).isEmpty)
        }
    }

    @Test("registry data is stored byte-for-byte", arguments: StoreKind.allCases)
    func opaqueBytes(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let row = RegistryRow(kind: "k", id: "ïd", data: Array(0...255))
            try await store.persist(RegistryRows(upserts: [row]))
            #expect(try await store.registryRows() == [row])
        }
    }

    @Test("registry rows and the event log are independent", arguments: StoreKind.allCases)
    func independentOfLog(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.persist(RegistryRows(upserts: [Self.row("organization", "o1", "{}")]))
            _ = try await store.append([newEvent("a")])
            _ = try await store.prune(RetentionPolicy(maxAgeMs: 0, maxEvents: 0), nowMs: .max)
            #expect(try await store.registryRows() == [Self.row("organization", "o1", "{}")])
        }
    }
}
