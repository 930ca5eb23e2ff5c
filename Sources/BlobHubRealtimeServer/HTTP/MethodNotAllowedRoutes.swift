import HTTPTypes
import Hummingbird

/// Answers 405 with `Allow` for a method a known path does not serve (RFC 9110 §15.5.6); Hummingbird's
/// router alone answers 404, which tells a client the path does not exist. Found by schemathesis
/// (`unsupported_method`) against openapi.yaml.
enum MethodNotAllowedRoutes {
    /// Every path the router serves, with its methods. Keep in step with the route files (and openapi.yaml).
    static let table: [(path: String, methods: [HTTPRequest.Method])] = [
        ("/v1", [.get]),
        ("/v1/events", [.post]),
        ("/v1/admin/organizations/:org_id", [.put, .delete]),
        ("/v1/admin/organizations/:org_id/members/:user_id", [.put, .delete]),
        ("/v1/admin/blobs/:blob_id", [.put, .delete]),
        ("/v1/admin/blobs/:blob_id/members/:user_id", [.put, .delete]),
        ("/v1/admin/revisions/:revision_id", [.put, .delete]),
        ("/v1/admin/api-keys", [.get, .post]),
        ("/v1/admin/api-keys/:key_id", [.delete]),
        ("/v1/admin/tokens", [.post]),
        ("/v1/admin/stats", [.get]),
        ("/healthz", [.get]),
        ("/readyz", [.get]),
        ("/console", [.get]),
        ("/openapi.yaml", [.get]),
        ("/asyncapi.yaml", [.get]),
    ]

    static let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options, .trace, .connect]

    static func add(to router: Router<BasicRequestContext>) {
        for (path, allowed) in table {
            let allow = allowed.map(\.rawValue).joined(separator: ", ")
            for method in methods where !allowed.contains(method) {
                router.on(RouterPath(path), method: method) { _, _ in
                    OperationalRoutes.errorResponse(.methodNotAllowed, message: "Method not allowed", headers: [.allow: allow])
                }
            }
        }
    }
}
