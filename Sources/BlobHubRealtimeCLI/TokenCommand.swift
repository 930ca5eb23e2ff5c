import ArgumentParser
import BlobHubRealtimeAuth
import Foundation

/// `blobhub-realtime token`: mint an HS256 access token offline (development and tests).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Mint an HS256 access token offline.",
        discussion: "The token carries sub=<user>, iat and exp; the server must run with the same --jwt-secret."
    )

    @Option(help: "The HS256 secret (at least 32 bytes), as given to serve --jwt-secret.") var secret: String
    @Option(help: "The user id (sub claim).") var user: String
    @Option(help: "Lifetime, e.g. 15m, 1h, 24h.") var ttl: String = "1h"

    func validate() throws {
        guard DurationParser.parse(ttl).map({ $0 > .zero }) == true else { throw ValidationError("--ttl: invalid duration '\(ttl)' (use e.g. 500ms, 10s, 5m, 24h)") }
        guard secret.utf8.count >= 32 else { throw ValidationError("--secret must be at least 32 bytes") }
        guard !user.isEmpty else { throw ValidationError("--user must not be empty") }
    }

    func run() async throws {
        let token = try await TokenMinter.mintHS256(secret: secret, userID: user, ttl: DurationParser.parse(ttl)!)
        print(token)
    }
}
