import Testing
@testable import BlobHubRealtimeProtocol
