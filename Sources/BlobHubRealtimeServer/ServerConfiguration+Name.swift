import BlobHubRealtimeServices

/// Inside this module `ServerConfiguration` is the node's (Hummingbird has a type of that name too).
public typealias ServerConfiguration = BlobHubRealtimeServices.ServerConfiguration
