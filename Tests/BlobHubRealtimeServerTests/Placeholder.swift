import Testing
@testable import BlobHubRealtimeServer
@Test func placeholderServer() { #expect(Bool(true)) }
