import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `blobhub-realtime publish`: post one event or an array of events.
struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Post event JSON (one object or an array) to POST /v1/events.",
        discussion: "Reads FILE, or standard input when FILE is - or omitted. Prints the server's answer; exits 1 unless it is 202."
    )

    @Option(help: "Server base URL, e.g. http://127.0.0.1:8080.") var url: String
    @Option(help: "Publisher (or admin) key.") var key: String
    @Argument(help: "JSON file, or - for standard input.") var file: String = "-"

    func run() async throws {
        let body = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
        guard let endpoint = URL(string: url.hasSuffix("/") ? url + "v1/events" : url + "/v1/events") else {
            throw ValidationError("--url: not a URL")
        }
        var request = URLRequest(url: endpoint)
        request.httpMethod = "POST"
        request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        let (data, response) = try await URLSession.shared.data(for: request)
        FileHandle.standardOutput.write(data + Data("\n".utf8))
        guard (response as? HTTPURLResponse)?.statusCode == 202 else { throw ExitCode(1) }
    }
}
