import Hummingbird
import NIOCore

/// `GET /openapi.yaml` and `GET /asyncapi.yaml`: the machine-readable API descriptions (the repository's
/// `openapi.yaml` and `asyncapi.yaml`), compiled into the binary (``WebAsset``) so an installed node
/// serves them as they are.
public enum APIDocuments {
    /// Each served path with its text.
    public static let documents: [(path: String, text: String)] = [
        ("/openapi.yaml", WebAsset.openAPI), ("/asyncapi.yaml", WebAsset.asyncAPI),
    ]

    public static func add(to router: Router<some RequestContext>) {
        for (path, text) in documents {
            let bytes = ByteBuffer(string: text)
            router.get(RouterPath(path)) { _, _ in
                Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: bytes))
            }
        }
    }
}
