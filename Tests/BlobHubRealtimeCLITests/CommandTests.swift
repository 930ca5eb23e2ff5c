import ArgumentParser
@testable import BlobHubRealtimeCLI
import BlobHubRealtimeAuth
import Foundation
import Testing

/// The command-line surface: parsing of `serve` flags, `token`, help and version.
@Suite struct CommandTests {
    @Test func serveCollectsEveryFlag() throws {
        let command = try ServeCommand.parse([
            "--port", "9001", "--jwt-leeway", "5s", "--allowed-origin", "https://a", "--allowed-origin", "https://b", "--demo",
        ])
        #expect(command.flagValues["port"] == ["9001"])
        #expect(command.flagValues["jwt-leeway"] == ["5s"])
        #expect(command.flagValues["allowed-origin"] == ["https://a", "https://b"])
        #expect(command.demo)
        // Every resolver setting is reachable from a serve flag.
        let help = ServeCommand.helpMessage()
        for setting in ConfigurationResolver.settings {
            #expect(help.contains("--\(setting.flag)"), "\(setting.flag)")
        }
    }

    @Test func tokenRejectsBadInput() {
        #expect(throws: (any Error).self) { try TokenCommand.parse(["--secret", "short", "--user", "u"]) }
        #expect(throws: (any Error).self) { try TokenCommand.parse(["--secret", String(repeating: "s", count: 32), "--user", "u", "--ttl", "forever"]) }
    }

    @Test func mintedTokenVerifies() async throws {
        let secret = String(repeating: "k", count: 40)
        let token = try await TokenMinter.mintHS256(secret: secret, userID: "alice", ttl: .seconds(60))
        let verifier = try await BearerTokenVerifier(configuration: .init(hmacSecret: secret))
        let principal = try await verifier.verify(token)
        #expect(principal.userID == "alice")
    }

    @Test func rootCommandKnowsItsSubcommandsAndVersion() {
        #expect(RootCommand.configuration.version == "0.1.0")
        let names = RootCommand.configuration.subcommands.map { $0.configuration.commandName }
        #expect(names.contains("serve") && names.contains("token"))
    }
}
