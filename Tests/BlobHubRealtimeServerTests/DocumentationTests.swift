import Foundation
import Testing

/// The API documents and examples stay true: the server serves the repository's openapi.yaml and
/// asyncapi.yaml byte for byte (compiled in, so a bare binary serves them), and the Swift example
/// compiled by the package is the exact text of its block in docs/clients.md.
@Suite struct DocumentationTests {
    /// The repository root, from this file's path (Tests/BlobHubRealtimeServerTests/<file>).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func repositoryFile(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: root.appendingPathComponent(path)))
    }

    @Test(arguments: ["openapi.yaml", "asyncapi.yaml"])
    func servedDocumentEqualsRepositoryFile(_ name: String) async throws {
        let expected = try Self.repositoryFile(name)
        try await withTestServer { (server: TestServerHandle) async throws in
            let response = try await server.http("GET", "/" + name)
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/yaml")
            #expect(response.body.count == expected.count)
            #expect(response.body == expected, "the served \(name) is not the repository's")
        }
    }

    @Test func documentsAreOnlyServedForGet() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let response = try await server.http("POST", "/openapi.yaml")
            #expect(response.status == 405)
            #expect(response.header("Allow") == "GET")
            #expect(response.bodyText == #"{"error":{"code":405,"message":"Method not allowed"}}"#)
        }
    }

    @Test func swiftExampleIsTheDocumentedBlock() throws {
        let documented = try Self.exampleBlock(named: "swift-client", in: String(decoding: Self.repositoryFile("docs/clients.md"), as: UTF8.self))
        let compiled = String(decoding: try Self.repositoryFile("Examples/swift-client/main.swift"), as: UTF8.self)
        #expect(documented == compiled)
    }

    @Test func exampleExtractionFailsForAMissingMarker() {
        #expect(throws: MissingExample.self) { try Self.exampleBlock(named: "swift-client", in: "```swift\nprint(1)\n```\n") }
    }

    struct MissingExample: Error {}

    /// The body of the fenced block whose first line ends with `example: <name>` (lines joined with "\n",
    /// plus a final newline), the same rule as scripts/ci/docs_checks/examples.py.
    static func exampleBlock(named name: String, in markdown: String) throws -> String {
        var inFence = false, firstLine = false
        var captured: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if !inFence {
                if line.hasPrefix("```") { inFence = true; firstLine = true }
            } else if line.hasPrefix("```") {
                if let captured { return captured.joined(separator: "\n") + "\n" }
                inFence = false
            } else if firstLine {
                firstLine = false
                if line.hasSuffix("example: \(name)") { captured = [line] }
            } else {
                captured?.append(line)
            }
        }
        throw MissingExample()
    }
}
