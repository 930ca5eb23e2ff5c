import BlobHubRealtimeAuth
import BlobHubRealtimeProtocol
import BlobHubRealtimeServices
import BlobHubRealtimeStore
import Hummingbird
import Logging
import NIOCore

/// Health, readiness and the `/v1` plain-GET answer (SPEC §2).
package enum OperationalRoutes {
    package static func add(to router: Router<BasicRequestContext>, nodeState: NodeState, store: any RealtimeStore, keyRing: KeyRing) {
        router.get("/healthz") { _, _ in
            jsonResponse(.ok, #"{"status":"ok"}"#)
        }
        router.get("/readyz") { _, _ in
            if nodeState.isDraining { return jsonResponse(.serviceUnavailable, #"{"status":"draining"}"#) }
            guard await store.isHealthy() else { return jsonResponse(.serviceUnavailable, #"{"status":"store unavailable"}"#) }
            // --jwt-jwks-url set and no document ever loaded: bearer tokens cannot be checked yet.
            guard keyRing.isReady else { return jsonResponse(.serviceUnavailable, #"{"status":"no signing keys"}"#) }
            return jsonResponse(.ok, #"{"status":"ready"}"#)
        }
        // A plain GET on the WebSocket endpoint (the router treats "/v1/" as "/v1"): ask for the upgrade.
        router.get("/v1") { _, _ in
            errorResponse(.upgradeRequired, message: "WebSocket upgrade required", headers: [.upgrade: "websocket"])
        }
    }

    static func jsonResponse(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }

    static func errorResponse(_ status: HTTPResponse.Status, message: String, headers: HTTPFields = [:], extra: [(String, JSONValue)] = []) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(
            status: status,
            headers: fields,
            body: .init(byteBuffer: ByteBuffer(bytes: ErrorBody.json(code: status.code, message: message, extra: extra)))
        )
    }
}

/// Renders every error (including the router's 404) as `{"error":{"code","message"}}`.
package struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    package init() {}

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let message = error.body ?? Self.defaultMessage(error.status)
            return OperationalRoutes.errorResponse(error.status, message: message, headers: error.headers)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return OperationalRoutes.errorResponse(.internalServerError, message: "Internal server error")
        }
    }

    static func defaultMessage(_ status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: return "Not found"
        case .methodNotAllowed: return "Method not allowed"
        case .contentTooLarge: return "Request body too large"
        default: return status.reasonPhrase
        }
    }
}
