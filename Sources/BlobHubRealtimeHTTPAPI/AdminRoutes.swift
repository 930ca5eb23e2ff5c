import BlobHubRealtimeAuth
import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import BlobHubRealtimeServices
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The registry (admin) API under `/v1/admin` (SPEC §9).
package enum AdminRoutes {
    static let maxBodyBytes = 64 * 1024

    package struct Dependencies: Sendable {
        let keys: BearerKeys
        let admin: AdminService
        let jwtSecret: String?
        let stats: @Sendable () async -> JSONValue

        package init(keys: BearerKeys, admin: AdminService, jwtSecret: String?, stats: @escaping @Sendable () async -> JSONValue) {
            self.keys = keys
            self.admin = admin
            self.jwtSecret = jwtSecret
            self.stats = stats
        }
    }

    package static func add(to router: Router<BasicRequestContext>, _ deps: Dependencies) {
        let group = router.group("/v1/admin").add(middleware: AdminKeyMiddleware(keys: deps.keys))

        func put(_ path: RouterPath, _ command: @escaping @Sendable (Parameters, JSONObject) -> RegistryCommand) {
            group.put(path) { request, context in
                let body = try await jsonBody(request)
                return try await run(deps.admin, command(context.parameters, body), status: .ok)
            }
        }
        func delete(_ path: RouterPath, _ command: @escaping @Sendable (Parameters) -> RegistryCommand) {
            group.delete(path) { _, context in
                try await run(deps.admin, command(context.parameters), status: .noContent)
            }
        }

        put("organizations/:org_id") { .putOrganization(id: $0.pathID("org_id"), body: $1) }
        delete("organizations/:org_id") { .deleteOrganization(id: $0.pathID("org_id")) }
        put("organizations/:org_id/members/:user_id") { .putOrganizationMember(organizationID: $0.pathID("org_id"), userID: $0.pathID("user_id"), body: $1) }
        delete("organizations/:org_id/members/:user_id") { .deleteOrganizationMember(organizationID: $0.pathID("org_id"), userID: $0.pathID("user_id")) }
        put("blobs/:blob_id") { .putBlob(id: $0.pathID("blob_id"), body: $1) }
        delete("blobs/:blob_id") { .deleteBlob(id: $0.pathID("blob_id")) }
        put("blobs/:blob_id/members/:user_id") { .putBlobMember(blobID: $0.pathID("blob_id"), userID: $0.pathID("user_id"), body: $1) }
        delete("blobs/:blob_id/members/:user_id") { .deleteBlobMember(blobID: $0.pathID("blob_id"), userID: $0.pathID("user_id")) }
        put("revisions/:revision_id") { .putRevision(id: $0.pathID("revision_id"), body: $1) }
        delete("revisions/:revision_id") { .deleteRevision(id: $0.pathID("revision_id")) }
        delete("api-keys/:key_id") { .revokeAPIKey(id: $0.pathID("key_id")) }

        group.post("api-keys") { request, _ in
            let body = try await jsonBody(request)
            let generated = APIKeySecrets.generate()
            let change: RegistryChange
            do {
                change = try await deps.admin.apply(.createAPIKey(body: body, keyID: generated.id, secret: generated.secret))
            } catch let error as RegistryError {
                return registryError(error)
            }
            // The secret appears in this response only.
            var object = change.result?.objectValue ?? JSONObject()
            object["key"] = .string(generated.secret)
            return OperationalRoutes.jsonResponse(.created, JSONWriter.string(.object(object)))
        }

        group.get("api-keys") { request, _ in
            guard let targetText = request.uri.queryParameters.get("target"), let target = APIKeyTargetKind(rawValue: targetText) else {
                return OperationalRoutes.errorResponse(.badRequest, message: "target: must be orgs or blobs", extra: [("field", "target")])
            }
            guard let targetID = request.uri.queryParameters.get("target_id"), ResourceID.isValid(targetID) else {
                return OperationalRoutes.errorResponse(.badRequest, message: "target_id: required id", extra: [("field", "target_id")])
            }
            let keys = deps.admin.registry.snapshot.apiKeys(target: target, targetID: targetID).map { $0.publicJSON() }
            return OperationalRoutes.jsonResponse(.ok, JSONWriter.string(.object(JSONObject([("api_keys", .array(keys))]))))
        }

        group.post("tokens") { request, _ in
            guard let secret = deps.jwtSecret else {
                return OperationalRoutes.errorResponse(.notFound, message: "token minting needs --jwt-secret")
            }
            let body = try await jsonBody(request)
            guard let userID = body["user_id"]?.stringValue, ResourceID.isValid(userID) else {
                return OperationalRoutes.errorResponse(.badRequest, message: "user_id: required id", extra: [("field", "user_id")])
            }
            var ttl: Int64 = 3600
            if let value = body["ttl_seconds"] {
                guard let seconds = value.int64Value, seconds > 0, seconds <= 30 * 86400 else {
                    return OperationalRoutes.errorResponse(.badRequest, message: "ttl_seconds: integer from 1 to 2592000", extra: [("field", "ttl_seconds")])
                }
                ttl = seconds
            }
            let now = Date()
            let token = try await TokenMinter.mintHS256(secret: secret, userID: userID, ttl: .seconds(ttl), now: now)
            let expiresAt = (Int64(now.timeIntervalSince1970) + ttl) * 1000
            let result = JSONObject([("access_token", .string(token)), ("expires_at", .number(String(expiresAt)))])
            return OperationalRoutes.jsonResponse(.ok, JSONWriter.string(.object(result)))
        }

        group.get("stats") { _, _ in
            OperationalRoutes.jsonResponse(.ok, JSONWriter.string(await deps.stats()))
        }
    }

    private static func run(_ admin: AdminService, _ command: RegistryCommand, status: HTTPResponse.Status) async throws -> Response {
        do {
            let change = try await admin.apply(command)
            if status == .noContent { return Response(status: .noContent) }
            return OperationalRoutes.jsonResponse(status, JSONWriter.string(change.result ?? .object(JSONObject())))
        } catch let error as RegistryError {
            return registryError(error)
        }
    }

    private static func registryError(_ error: RegistryError) -> Response {
        let status: HTTPResponse.Status = error.kind == .notFound ? .notFound : .badRequest
        var extra: [(String, JSONValue)] = []
        if let field = error.field { extra.append(("field", .string(field))) }
        return OperationalRoutes.errorResponse(status, message: error.message, extra: extra)
    }

    /// The request body as a JSON object; an empty body is `{}`.
    private static func jsonBody(_ request: Request) async throws -> JSONObject {
        let buffer = try await request.body.collect(upTo: maxBodyBytes)
        guard buffer.readableBytes > 0 else { return JSONObject() }
        let value = try? buffer.withUnsafeReadableBytes { try JSONParser.parse($0) }
        guard let object = value?.objectValue else {
            throw HTTPError(.badRequest, message: "body must be a JSON object")
        }
        return object
    }
}

/// Admin endpoints answer 401 unless the request carries the admin key.
struct AdminKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: BearerKeys

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard keys.accepts(request) else { return BearerKeys.unauthorized() }
        return try await next(request, context)
    }
}

extension Parameters {
    /// A path parameter percent-decoded (clients may encode `:` or `.` in a segment), validated by the
    /// command after decoding; undecodable text is kept as sent, so validation rejects it.
    func pathID(_ name: String) -> String {
        let raw = get(name) ?? ""
        return raw.removingPercentEncoding ?? raw
    }
}

extension BearerKeys {
    /// 401 with `WWW-Authenticate: Bearer` and the JSON error body.
    static func unauthorized() -> Response {
        OperationalRoutes.errorResponse(.unauthorized, message: "invalid or missing key", headers: [.wwwAuthenticate: "Bearer"])
    }
}
