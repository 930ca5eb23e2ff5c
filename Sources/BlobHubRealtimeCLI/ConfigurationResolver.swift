import Foundation
import BlobHubRealtimeServer

/// Resolves `serve` settings into a `ServerConfiguration`: a flag beats its environment variable
/// `BLOBHUB_REALTIME_<FLAG>`, which beats the default (SPEC §10). Bad values fail with a message
/// naming the flag (and the variable when the value came from there).
public enum ConfigurationResolver {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// The environment variable for a flag: `--max-message-bytes` → `BLOBHUB_REALTIME_MAX_MESSAGE_BYTES`.
    public static func environmentVariable(for flag: String) -> String {
        "BLOBHUB_REALTIME_" + flag.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// - Parameters:
    ///   - flags: values given on the command line, by flag name without dashes (repeatable flags may hold several).
    ///   - environment: the process environment.
    public static func resolve(flags: [String: [String]], environment: [String: String]) throws(Failure) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        for setting in settings {
            let source: (values: [String], origin: String)
            if let values = flags[setting.flag], !values.isEmpty {
                source = (values, "--\(setting.flag)")
            } else if let value = environment[environmentVariable(for: setting.flag)] {
                let values = setting.repeatable ? value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } : [value]
                source = (values, "--\(setting.flag) (from \(environmentVariable(for: setting.flag)))")
            } else {
                continue
            }
            do {
                try setting.apply(&configuration, source.values)
            } catch let error as Invalid {
                throw Failure(description: "\(source.origin): \(error.reason)")
            } catch {
                throw Failure(description: "\(source.origin): \(error)")
            }
        }
        try validate(configuration)
        return configuration
    }

    /// Cross-flag rules.
    static func validate(_ configuration: ServerConfiguration) throws(Failure) {
        if (configuration.tlsCertPath == nil) != (configuration.tlsKeyPath == nil) {
            throw Failure(description: "--tls-cert and --tls-key must be given together")
        }
        if configuration.pingTimeout >= configuration.pingInterval {
            throw Failure(description: "--ping-timeout must be shorter than --ping-interval")
        }
    }

    struct Invalid: Error { let reason: String }

    struct Setting: Sendable {
        let flag: String
        var repeatable = false
        let apply: @Sendable (inout ServerConfiguration, [String]) throws -> Void
    }

    /// Every `serve` setting except `--demo` (a plain switch), in `--help` order.
    static let settings: [Setting] = [
        string("host") { $0.host = $1 },
        integer("port", 0...65535) { $0.port = $1 },
        Setting(flag: "store") { config, values in
            let value = values.last!
            guard value == "memory" || value.hasPrefix("sqlite:") || value.hasPrefix("postgres://") || value.hasPrefix("postgresql://") else {
                throw Invalid(reason: "expected memory, sqlite:<path> or postgres://…, got '\(value)'")
            }
            config.store = value
        },
        integer("max-message-bytes", 128...(16 << 20)) { $0.maxMessageBytes = $1 },
        integer("max-subscriptions", 1...1_000_000) { $0.maxSubscriptions = $1 },
        integer("max-connections", 1...10_000_000) { $0.maxConnections = $1 },
        integer("rate-limit", 1...1_000_000) { $0.rateLimit = $1; $0.rateLimitBurst = $1 * 2 },
        integer("send-queue-limit", 1...10_000_000) { $0.sendQueueLimit = $1 },
        integer("event-loops", 1...1024) { $0.eventLoops = $1 },
        duration("init-timeout") { $0.initTimeout = $1 },
        duration("ping-interval") { $0.pingInterval = $1 },
        duration("ping-timeout") { $0.pingTimeout = $1 },
        duration("drain-timeout") { $0.drainTimeout = $1 },
        duration("retention") { $0.retention = $1 },
        integer("retention-events", 1...1_000_000_000) { $0.retentionEvents = $1 },
        integer("max-replay-events", 0...100_000_000) { $0.maxReplayEvents = $1 },
        string("admin-key") { $0.adminKey = $1 },
        string("publisher-key") { $0.publisherKey = $1 },
        string("jwt-secret") { $0.jwtSecret = $1 },
        Setting(flag: "jwt-public-key", repeatable: true) { config, values in
            guard values.allSatisfy({ !$0.isEmpty }) else { throw Invalid(reason: "path must not be empty") }
            config.jwtPublicKeyPaths = values
        },
        Setting(flag: "jwt-jwks-url", repeatable: true) { config, values in
            guard values.allSatisfy({ !$0.isEmpty }) else { throw Invalid(reason: "must not be empty") }
            for value in values where value.contains("://") && !(value.hasPrefix("http://") || value.hasPrefix("https://")) {
                throw Invalid(reason: "'\(value)' is neither an http(s) URL nor a file path")
            }
            config.jwtJWKSSources = values
        },
        duration("jwt-jwks-refresh") { $0.jwtJWKSRefresh = $1 },
        duration("jwt-jwks-grace") { $0.jwtJWKSGrace = $1 },
        string("jwt-issuer") { $0.jwtIssuer = $1 },
        string("jwt-audience") { $0.jwtAudience = $1 },
        Setting(flag: "jwt-leeway") { config, values in
            // Zero leeway is allowed here, unlike the timeouts.
            guard let value = DurationParser.parse(values.last!) else { throw Invalid(reason: "invalid duration '\(values.last!)' (use e.g. 500ms, 10s, 5m, 24h)") }
            config.jwtLeeway = value
        },
        Setting(flag: "allowed-origin", repeatable: true) { config, values in
            guard values.allSatisfy({ !$0.isEmpty }) else { throw Invalid(reason: "origin must not be empty") }
            config.allowedOrigins = values
        },
        Setting(flag: "trusted-proxy", repeatable: true) { config, values in
            do {
                config.trustedProxies = try TrustedProxies(values)
            } catch {
                throw Invalid(reason: "\(error)")
            }
        },
        string("tls-cert") { $0.tlsCertPath = $1 },
        string("tls-key") { $0.tlsKeyPath = $1 },
        Setting(flag: "log-level") { config, values in
            guard let level = ServerConfiguration.LogLevelSetting(rawValue: values.last!.lowercased()) else {
                throw Invalid(reason: "expected one of \(ServerConfiguration.LogLevelSetting.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            config.logLevel = level
        },
        Setting(flag: "log-format") { config, values in
            guard let format = ServerConfiguration.LogFormat(rawValue: values.last!.lowercased()) else {
                throw Invalid(reason: "expected text or json")
            }
            config.logFormat = format
        },
    ]

    private static func string(_ flag: String, _ apply: @escaping @Sendable (inout ServerConfiguration, String) -> Void) -> Setting {
        Setting(flag: flag) { config, values in
            guard let value = values.last, !value.isEmpty else { throw Invalid(reason: "must not be empty") }
            apply(&config, value)
        }
    }

    private static func integer(_ flag: String, _ range: ClosedRange<Int>, _ apply: @escaping @Sendable (inout ServerConfiguration, Int) -> Void) -> Setting {
        Setting(flag: flag) { config, values in
            guard let value = Int(values.last!.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
                throw Invalid(reason: "expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(values.last!)'")
            }
            apply(&config, value)
        }
    }

    private static func duration(_ flag: String, _ apply: @escaping @Sendable (inout ServerConfiguration, Duration) -> Void) -> Setting {
        Setting(flag: flag) { config, values in
            guard let value = DurationParser.parse(values.last!), value > .zero else {
                throw Invalid(reason: "invalid duration '\(values.last!)' (use e.g. 500ms, 10s, 5m, 24h)")
            }
            apply(&config, value)
        }
    }
}
