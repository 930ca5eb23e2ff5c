import Hummingbird
import NIOCore

/// `GET /client/blobhub-realtime.js`: the JavaScript client module (`clients/js/blobhub-realtime.js`),
/// compiled into the binary (``WebAsset``) so an installed node serves it byte for byte.
/// `Access-Control-Allow-Origin: *` lets pages of another origin (the platform's web UI) `import` it; the
/// file holds no secret.
public enum ClientScriptRoute {
    public static let path = "/client/blobhub-realtime.js"

    /// The module as served.
    public static let script = WebAsset.clientScript

    public static func add(to router: Router<some RequestContext>) {
        let bytes = ByteBuffer(string: script)
        router.get(RouterPath(path)) { _, _ in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/javascript",
                    .cacheControl: "no-cache",
                    .accessControlAllowOrigin: "*",
                ],
                body: .init(byteBuffer: bytes)
            )
        }
    }
}
