// The principal types moved to BlobHubRealtimeIdentity (a dependency-free target the connection
// state machine and the fuzz harness can link without jwt-kit); importing Auth still brings them.
@_exported import BlobHubRealtimeIdentity
