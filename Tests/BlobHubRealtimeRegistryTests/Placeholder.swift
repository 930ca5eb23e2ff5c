import Testing
@testable import BlobHubRealtimeRegistry
@Test func placeholderRegistry() { #expect(Bool(true)) }
