import Testing
@testable import BlobHubRealtimeCLI
@Test func placeholderCLI() { #expect(Bool(true)) }
