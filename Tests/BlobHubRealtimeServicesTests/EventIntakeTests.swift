import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import BlobHubRealtimeStore
@testable import BlobHubRealtimeServices
import Foundation
import Testing

/// The pure intake step of publishing: generated ids, filled fields, routing keys.
@Suite struct EventIntakeTests {
    @Test func generatedIDsAreTimeOrderedUUIDv7() throws {
        let earlier = EventIntake.timeOrderedID(nowMs: 1_714_150_000_000)
        let later = EventIntake.timeOrderedID(nowMs: 1_714_150_000_001)
        for id in [earlier, later] {
            #expect(ResourceID.isUUIDForm(id))
            #expect(Array(id)[14] == "7")
            #expect("89ab".contains(Array(id)[19]))
        }
        #expect(earlier < later)
        #expect(earlier.hasPrefix("018f1b4d-4580-7"))  // 1714150000000 ms = 0x018F1B4D4580, then version 7
        #expect(EventIntake.timeOrderedID(nowMs: 5) != EventIntake.timeOrderedID(nowMs: 5))
    }

    @Test func fillsIDAndCreatedAtAndRoutes() throws {
        let intake = EventIntake(registry: RegistrySnapshot(), nowMs: 1_000)
        let prepared = try intake.prepare([.object(JSONObject([("type", "flow.entered"), ("revision_id", "R"), ("session_id", "S"), ("execution_id", "E")]))])
        #expect(prepared.publishedIndices == [0])
        #expect(prepared.events.count == 2)
        let event = prepared.events[0]
        #expect(event.createdAt == 1_000)
        #expect(event.keys == ["revision|R|session|S", "revision|R|execution|E"])
        let json = try JSONParser.parse(event.json).objectValue
        #expect(json?["id"]?.stringValue == event.id)
        #expect(json?["created_at"]?.int64Value == 1_000)
        #expect(prepared.events[1].id == event.id + ":execution_started")
    }
}
