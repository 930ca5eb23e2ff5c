import Testing
@testable import BlobHubRealtimeProtocol
@Test func placeholderProtocol() { #expect(Bool(true)) }
