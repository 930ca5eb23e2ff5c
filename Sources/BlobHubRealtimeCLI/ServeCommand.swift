import ArgumentParser
import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Logging

extension ArgumentHelp {
    /// The help of a `serve` setting, with its default, from its one declaration.
    static func serve(_ flag: String) -> ArgumentHelp {
        guard let setting = ConfigurationResolver.setting(flag) else { preconditionFailure("no serve setting --\(flag)") }
        return ArgumentHelp(setting.helpLine)
    }
}

/// `blobhub-realtime serve`: run a node.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a BlobHub Realtime node.",
        discussion: """
            Every flag can also be set with an environment variable BLOBHUB_REALTIME_<FLAG> \
            (upper case, dashes as underscores, e.g. BLOBHUB_REALTIME_JWT_SECRET); a flag beats the variable. \
            Durations accept 500ms, 10s, 5m, 24h.
            """
    )

    // One option per setting of `ConfigurationResolver.settings` (flag = the property name in kebab case), whose
    // help, default and parsing come from there; `flagValues` reads them back by name.
    @Option(help: .serve("host")) var host: String?
    @Option(help: .serve("port")) var port: String?
    @Option(help: .serve("store")) var store: String?
    @Option(help: .serve("max-message-bytes")) var maxMessageBytes: String?
    @Option(help: .serve("max-subscriptions")) var maxSubscriptions: String?
    @Option(help: .serve("max-connections")) var maxConnections: String?
    @Option(help: .serve("rate-limit")) var rateLimit: String?
    @Option(help: .serve("send-queue-limit")) var sendQueueLimit: String?
    @Option(help: .serve("event-loops")) var eventLoops: String?
    @Option(help: .serve("init-timeout")) var initTimeout: String?
    @Option(help: .serve("ping-interval")) var pingInterval: String?
    @Option(help: .serve("ping-timeout")) var pingTimeout: String?
    @Option(help: .serve("drain-timeout")) var drainTimeout: String?
    @Option(help: .serve("retention")) var retention: String?
    @Option(help: .serve("retention-events")) var retentionEvents: String?
    @Option(help: .serve("max-replay-events")) var maxReplayEvents: String?
    @Option(help: .serve("admin-key")) var adminKey: String?
    @Option(help: .serve("publisher-key")) var publisherKey: String?
    @Option(help: .serve("jwt-secret")) var jwtSecret: String?
    @Option(help: .serve("jwt-public-key")) var jwtPublicKey: [String] = []
    @Option(help: .serve("jwt-jwks-url")) var jwtJwksUrl: [String] = []
    @Option(help: .serve("jwt-jwks-refresh")) var jwtJwksRefresh: String?
    @Option(help: .serve("jwt-jwks-grace")) var jwtJwksGrace: String?
    @Option(help: .serve("jwt-issuer")) var jwtIssuer: String?
    @Option(help: .serve("jwt-audience")) var jwtAudience: String?
    @Option(help: .serve("jwt-leeway")) var jwtLeeway: String?
    @Option(help: .serve("allowed-origin")) var allowedOrigin: [String] = []
    @Option(help: .serve("trusted-proxy")) var trustedProxy: [String] = []
    @Option(help: .serve("tls-cert")) var tlsCert: String?
    @Option(help: .serve("tls-key")) var tlsKey: String?
    @Option(help: .serve("log-level")) var logLevel: String?
    @Option(help: .serve("log-format")) var logFormat: String?
    @Flag(help: "Run a self-contained demo: seeded registry, printed credentials, live workflow events.") var demo = false

    /// The command-line values by flag name, for `ConfigurationResolver`: every option property, named as
    /// the argument parser names its flag.
    var flagValues: [String: [String]] {
        var values: [String: [String]] = [:]
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, label.hasPrefix("_") else { continue }
            let flag = Self.flagName(String(label.dropFirst()))
            if let option = child.value as? Option<String?>, let value = option.wrappedValue {
                values[flag] = [value]
            } else if let option = child.value as? Option<[String]>, !option.wrappedValue.isEmpty {
                values[flag] = option.wrappedValue
            }
        }
        return values
    }

    /// `maxMessageBytes` → `max-message-bytes`, as the argument parser derives a flag from a property.
    static func flagName(_ property: String) -> String {
        var flag = ""
        for character in property {
            if character.isUppercase {
                flag += "-" + character.lowercased()
            } else {
                flag.append(character)
            }
        }
        return flag
    }

    static func randomSecret() -> String {
        (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var configuration: ServerConfiguration
        do {
            configuration = try ConfigurationResolver.resolve(flags: flagValues, environment: environment)
        } catch {
            throw ValidationError(error.description)
        }
        configuration.demo = demo || ["1", "true", "yes"].contains(environment[ConfigurationResolver.environmentVariable(for: "demo")]?.lowercased() ?? "")
        if configuration.demo {
            // Self-contained: in memory unless a store was chosen, and a signing secret for the printed token.
            if store == nil && environment[ConfigurationResolver.environmentVariable(for: "store")] == nil { configuration.store = "memory" }
            if configuration.jwtSecret == nil { configuration.jwtSecret = Self.randomSecret() }
        }
        let logger = LogSetup.makeLogger(configuration)
        let server: RealtimeServer
        do {
            server = try await RealtimeServer(configuration: configuration, logger: logger)
        } catch let error as ServerStartError {
            throw ValidationError(error.description)
        }
        try await server.run()
    }
}
