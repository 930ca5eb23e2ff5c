import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import BlobHubRealtimeWeb

/// The served documents' routes in process (no socket): each answers the repository's file byte for byte
/// (the package compiles the files in; a change to the file changes what a node serves), with its headers.
/// The socket tests of the server (ClientScriptRouteTests, DocumentationTests) check a running node too.
@Suite struct WebRoutesTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func file(_ path: String) throws -> String {
        try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)
    }

    static func application() -> some ApplicationProtocol {
        let router = Router()
        ConsolePage.add(to: router)
        ClientScriptRoute.add(to: router)
        APIDocuments.add(to: router)
        return Application(router: router)
    }

    @Test("GET /client/blobhub-realtime.js is clients/js/blobhub-realtime.js, importable from any origin")
    func clientScript() async throws {
        let expected = try Self.file("clients/js/blobhub-realtime.js")
        try await Self.application().test(.router) { client in
            try await client.execute(uri: ClientScriptRoute.path, method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/javascript")
                #expect(response.headers[.accessControlAllowOrigin] == "*")
                #expect(response.headers[.cacheControl] == "no-cache")
                #expect(String(buffer: response.body) == expected)
            }
        }
    }

    @Test("GET /openapi.yaml and /asyncapi.yaml are the repository's files", arguments: ["openapi.yaml", "asyncapi.yaml"])
    func apiDocuments(_ name: String) async throws {
        let expected = try Self.file(name)
        try await Self.application().test(.router) { client in
            try await client.execute(uri: "/\(name)", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/yaml")
                #expect(String(buffer: response.body) == expected)
            }
        }
    }

    @Test("GET /console is console.html with console.css and console.js inline, never cached")
    func console() async throws {
        let resources = "Sources/BlobHubRealtimeWeb/Resources/"
        let markup = try Self.file(resources + "console.html")
        let style = try Self.file(resources + "console.css")
        let script = try Self.file(resources + "console.js")
        try await Self.application().test(.router) { client in
            try await client.execute(uri: ConsolePage.path, method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.headers[.cacheControl] == "no-store")
                let page = String(buffer: response.body)
                #expect(page.hasPrefix("<!doctype html>"))
                #expect(page.contains("<style>\n" + style + "</style>"))
                #expect(page.contains("<script type=\"module\">\n" + script + "</script>") || page.contains(script))
                #expect(!page.contains("<!-- style -->") && !page.contains("<!-- script -->"))
                // Everything of the markup but its two placeholders is there, in order.
                let parts = markup.components(separatedBy: "<!-- style -->\n").flatMap { $0.components(separatedBy: "<!-- script -->\n") }
                #expect(parts.count == 3)
                var rest = Substring(page)
                for part in parts {
                    let found = try #require(rest.range(of: part))
                    rest = rest[found.upperBound...]
                }
                // The module imports the client this node serves.
                #expect(script.contains("from \"\(ClientScriptRoute.path)\""))
            }
        }
    }

    @Test("other methods on the documents are not served as GET")
    func onlyGet() async throws {
        try await Self.application().test(.router) { client in
            for path in [ConsolePage.path, ClientScriptRoute.path, "/openapi.yaml"] {
                try await client.execute(uri: path, method: .post) { response in
                    #expect(response.status != .ok)
                }
            }
        }
    }
}
