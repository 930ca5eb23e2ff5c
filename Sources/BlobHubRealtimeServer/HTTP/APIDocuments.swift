import Hummingbird
import NIOCore

/// `GET /openapi.yaml` and `GET /asyncapi.yaml`: the machine-readable API descriptions, compiled
/// into the binary (see `APIDocuments+Generated.swift`) so an installed node serves them as-is.
enum APIDocuments {
    static func add(to router: Router<BasicRequestContext>) {
        for (path, text) in [("/openapi.yaml", openAPI), ("/asyncapi.yaml", asyncAPI)] {
            let bytes = ByteBuffer(string: text)
            router.get(RouterPath(path)) { _, _ in
                Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: bytes))
            }
        }
    }
}
