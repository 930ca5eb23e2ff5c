import ArgumentParser
@testable import BlobHubRealtimeCLI
import BlobHubRealtimeAuth
import BlobHubRealtimeServer
import BlobHubRealtimeServices
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

    @Test("every setting has its option and every option its setting; all of them reach the resolver by name")
    func optionsAreTheSettings() throws {
        var arguments: [String] = []
        for setting in ConfigurationResolver.settings {
            arguments += ["--\(setting.flag)", "v-\(setting.flag)"]
            if setting.repeatable { arguments += ["--\(setting.flag)", "w-\(setting.flag)"] }
        }
        let command = try ServeCommand.parse(arguments)
        let expected = Dictionary(uniqueKeysWithValues: ConfigurationResolver.settings.map {
            ($0.flag, $0.repeatable ? ["v-\($0.flag)", "w-\($0.flag)"] : ["v-\($0.flag)"])
        })
        #expect(command.flagValues == expected)
        // No option without a setting: a bare parse has no values, and the help lists exactly the settings and --demo.
        #expect(try ServeCommand.parse([]).flagValues.isEmpty)
        let listed = Set(ServeCommand.helpMessage(columns: 400).split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.drop { $0 == " " }
            guard trimmed.hasPrefix("--") else { return nil }
            return String(trimmed.dropFirst(2).prefix { $0 != " " })
        })
        #expect(listed == Set(ConfigurationResolver.settings.map(\.flag) + ["demo"]))
    }

    @Test("help shows each default as the configuration has it")
    func helpShowsDefaults() {
        let help = ServeCommand.helpMessage(columns: 400)
        let defaults = ServerConfiguration()
        for (flag, text) in [("port", "\(defaults.port)"), ("init-timeout", "10s"), ("retention", "24h"), ("jwt-jwks-refresh", "5m"),
                             ("log-level", "info"), ("store", defaults.store), ("event-loops", "one per CPU core")] {
            let line = Self.entries(help).first { $0.hasPrefix("--\(flag) ") }
            #expect(line?.contains("(default: \(text))") == true, "\(flag): \(line ?? "missing")")
        }
        #expect(ServeCommand.flagName("maxMessageBytes") == "max-message-bytes")
        #expect(ServeCommand.flagName("jwtJwksUrl") == "jwt-jwks-url")
    }

    /// The help's option entries, each on one line (a long flag puts its text on the next line).
    static func entries(_ help: String) -> [String] {
        var entries: [String] = []
        for line in help.split(separator: "\n") {
            let trimmed = line.drop { $0 == " " }
            if trimmed.hasPrefix("--") { entries.append(String(trimmed)) } else if !entries.isEmpty { entries[entries.count - 1] += " " + trimmed }
        }
        return entries
    }

    @Test(arguments: [Duration.seconds(10), .seconds(300), .seconds(86400), .milliseconds(500), .milliseconds(1500), .seconds(90), .zero])
    func durationsFormatAsTheyParse(_ duration: Duration) {
        #expect(DurationParser.parse(DurationParser.format(duration)) == duration)
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
