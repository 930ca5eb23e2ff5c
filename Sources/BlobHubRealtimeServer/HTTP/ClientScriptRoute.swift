import Hummingbird
import NIOCore

/// `GET /client/blobhub-realtime.js`: the JavaScript client module (`clients/js/blobhub-realtime.js`),
/// compiled into the binary (see `ClientScript+Generated.swift`, written by `clients/js/scripts/embed.sh`)
/// so an installed node serves it byte for byte. `Access-Control-Allow-Origin: *` lets pages of another
/// origin (the platform's web UI) `import` it; the file holds no secret.
enum ClientScriptRoute {
    static let path = "/client/blobhub-realtime.js"

    static func add(to router: Router<BasicRequestContext>) {
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
