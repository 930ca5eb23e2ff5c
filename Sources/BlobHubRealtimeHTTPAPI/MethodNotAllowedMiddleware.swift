import BlobHubRealtimeServices
import HTTPTypes
import Hummingbird

/// Answers 405 with `Allow` for a method a known path does not serve (RFC 9110 §15.5.6); Hummingbird's
/// router alone answers 404, which tells a client the path does not exist. Found by schemathesis
/// (`unsupported_method`) against openapi.yaml. A middleware rather than extra routes, so that every
/// method, including ones the router has no name for (e.g. QUERY), gets the same answer.
package struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    package init() {}

    /// Every path the router serves, with its methods. Keep in step with the route files (and openapi.yaml).
    static var table: [(path: String, methods: [HTTPRequest.Method])] {
        [
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
            ("/metrics", [.get]),
            ("/console", [.get]),
            ("/client/blobhub-realtime.js", [.get]),
            ("/openapi.yaml", [.get]),
            ("/asyncapi.yaml", [.get]),
        ]
    }

    private let patterns: [(segments: [Substring], methods: [HTTPRequest.Method])] =
        Self.table.map { ($0.path.split(separator: "/"), $0.methods) }

    /// The methods of the known path `path` matches (`:name` segments match any one segment), if any.
    func allowedMethods(for path: String) -> [HTTPRequest.Method]? {
        let segments = path.split(separator: "/")
        return patterns.first { pattern in
            pattern.segments.count == segments.count
                && zip(pattern.segments, segments).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
        }?.methods
    }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let allowed = allowedMethods(for: request.uri.path), !allowed.contains(request.method) {
            let allow = allowed.map(\.rawValue).joined(separator: ", ")
            return OperationalRoutes.errorResponse(.methodNotAllowed, message: "Method not allowed", headers: [.allow: allow])
        }
        return try await next(request, context)
    }
}
