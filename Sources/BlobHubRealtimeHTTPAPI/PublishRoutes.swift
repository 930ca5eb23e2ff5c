import BlobHubRealtimeServices
import Hummingbird
import NIOCore

/// `POST /v1/events` through the router. Plain HTTP connections serve it on the event loop instead
/// (`PublishRequestHandler`), so a publish reaches this route only if a connection is ever set up
/// without that handler. The route must exist for `MethodNotAllowedMiddleware` to answer other methods
/// with 405, and it answers through the same `PublishEndpoint`.
package enum PublishRoutes {
    package static func add(to router: Router<BasicRequestContext>, endpoint: PublishEndpoint) {
        router.post(RouterPath(PublishEndpoint.path)) { request, _ -> Response in
            guard endpoint.authorizes(request.headers[.authorization]) else { return Response(PublishEndpoint.Reply.unauthorized) }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: PublishEndpoint.maxBodyBytes)
            } catch let error as HTTPError where error.status == .contentTooLarge {
                return Response(PublishEndpoint.Reply.tooLarge)
            }
            let reply = await withCheckedContinuation { continuation in
                endpoint.handle(body: body) { continuation.resume(returning: $0) }
            }
            return Response(reply)
        }
    }
}

extension Response {
    init(_ reply: PublishEndpoint.Reply) {
        var fields = reply.headers
        fields[.contentType] = "application/json"
        self.init(status: reply.status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
    }
}
