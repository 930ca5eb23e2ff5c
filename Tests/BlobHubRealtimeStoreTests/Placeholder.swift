import Testing
@testable import BlobHubRealtimeStore
@Test func placeholderStore() { #expect(Bool(true)) }
