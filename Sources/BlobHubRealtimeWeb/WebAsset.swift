/// A file of `Resources/`, compiled into the binary by the package manager (`.embedInCode`), so a bare
/// installed binary serves it without a resource bundle beside it. `openapi.yaml`, `asyncapi.yaml` and
/// `blobhub-realtime.js` there are links to the repository's files: what a node serves is always the file.
enum WebAsset {
    static var consoleMarkup: String { text(PackageResources.console_html) }
    static var consoleStyle: String { text(PackageResources.console_css) }
    static var consoleScript: String { text(PackageResources.console_js) }
    static var openAPI: String { text(PackageResources.openapi_yaml) }
    static var asyncAPI: String { text(PackageResources.asyncapi_yaml) }
    static var clientScript: String { text(PackageResources.blobhub_realtime_js) }

    private static func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
