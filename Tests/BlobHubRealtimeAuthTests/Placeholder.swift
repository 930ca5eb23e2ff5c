import Testing
@testable import BlobHubRealtimeAuth
@Test func placeholderAuth() { #expect(Bool(true)) }
