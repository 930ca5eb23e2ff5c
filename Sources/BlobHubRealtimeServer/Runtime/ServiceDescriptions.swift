import BlobHubRealtimeHTTPAPI
import BlobHubRealtimeServices
import BlobHubRealtimeTransport
/// ServiceLifecycle logs every service as `"\(service)"` at debug level, and a struct's default
/// description prints all its stored properties: the demo's JWT secret, the store and its settings.
/// Services describe themselves by name only, so no credential can reach the log that way.
/// (A new `Service` must do the same; `LogSecretTests` runs the demo at debug level to check.)
extension DemoService: CustomStringConvertible {
    var description: String { "DemoService" }
}

extension RetentionService: CustomStringConvertible {
    package var description: String { "RetentionService" }
}

extension DrainService: CustomStringConvertible {
    var description: String { "DrainService" }
}

extension RegistrySyncService: CustomStringConvertible {
    package var description: String { "RegistrySyncService" }
}
