import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Logging

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

    /// One `serve` setting, declared once: its flag (the environment variable is derived from it), its help,
    /// how `--help` shows its default (read from `ServerConfiguration()`, so help and behaviour cannot
    /// disagree) and how its text becomes a typed value. `ServeCommand` has one `@Option` per setting (the
    /// argument parser needs a property for each; a test checks the two sets are the same).
    struct Setting: Sendable {
        let flag: String
        let help: String
        var repeatable = false
        /// The default as `--help` shows it; nil: none (unset).
        var defaultText: (@Sendable (ServerConfiguration) -> String?)? = nil
        let apply: @Sendable (inout ServerConfiguration, [String]) throws -> Void

        /// The help line: the text, the default, and for repeatable settings how the variable lists values.
        var helpLine: String {
            var line = help
            if let text = defaultText?(ServerConfiguration()) { line += " (default: \(text))" }
            return line
        }
    }

    /// A field of the configuration a setting writes (sendable, so the table's closures can hold it).
    typealias Field<Value> = WritableKeyPath<ServerConfiguration, Value> & Sendable

    static func setting(_ flag: String) -> Setting? {
        settings.first { $0.flag == flag }
    }

    /// Every `serve` setting except `--demo` (a plain switch), in `--help` order.
    static let settings: [Setting] = [
        string("host", "Address to listen on.", default: \.host),
        integer("port", 0...65535, "Port to listen on; 0 picks a free port.", default: \.port) { $0.port = $1 },
        Setting(flag: "store", help: "Store: sqlite:<path>, memory, or postgres://user:pass@host:port/db.", defaultText: { $0.store }) { config, values in
            let value = values.last!
            guard value == "memory" || value.hasPrefix("sqlite:") || value.hasPrefix("postgres://") || value.hasPrefix("postgresql://") else {
                throw Invalid(reason: "expected memory, sqlite:<path> or postgres://…, got '\(value)'")
            }
            config.store = value
        },
        integer("max-message-bytes", 128...(16 << 20), "Largest inbound WebSocket message in bytes.", default: \.maxMessageBytes) { $0.maxMessageBytes = $1 },
        integer("max-subscriptions", 1...1_000_000, "Subscriptions per connection.", default: \.maxSubscriptions) { $0.maxSubscriptions = $1 },
        integer("max-connections", 1...10_000_000, "Open WebSocket connections per node; beyond it upgrades get 503.",
                default: \.maxConnections) { $0.maxConnections = $1 },
        integer("rate-limit", 1...1_000_000, "Requests per second per connection; burst is twice this.", default: \.rateLimit) {
            $0.rateLimit = $1
            $0.rateLimitBurst = $1 * 2
        },
        integer("send-queue-limit", 1...10_000_000, "Outbound messages queued per connection before it is closed with 4013.",
                default: \.sendQueueLimit) { $0.sendQueueLimit = $1 },
        Setting(flag: "event-loops", help: "Event loop threads serving connections.", defaultText: { $0.eventLoops.map(String.init) ?? "one per CPU core" },
                apply: integerApply("event-loops", 1...1024) { $0.eventLoops = $1 }),
        duration("init-timeout", "Time allowed between upgrade and status/initialize.", \.initTimeout),
        duration("ping-interval", "Interval between server pings.", \.pingInterval),
        duration("ping-timeout", "Time to wait for any traffic after a ping.", \.pingTimeout),
        duration("drain-timeout", "Time allowed for a graceful shutdown.", \.drainTimeout),
        duration("retention", "How long events stay in the log.", \.retention),
        integer("retention-events", 1...1_000_000_000, "Most events kept in the log.", default: \.retentionEvents) { $0.retentionEvents = $1 },
        integer("max-replay-events", 0...100_000_000, "Most events replayed per subscription/add with since.",
                default: \.maxReplayEvents) { $0.maxReplayEvents = $1 },
        string("admin-key", "Bearer key of the admin (registry) API; unset: the API answers 401.", optional: \.adminKey),
        string("publisher-key", "Bearer key of the publish API; unset: only the admin key may publish.", optional: \.publisherKey),
        string("jwt-secret", "HS256 secret for access tokens (at least 32 bytes).", optional: \.jwtSecret),
        Setting(flag: "jwt-public-key",
                help: "PEM file with an RSA (RS256), EC P-256 (ES256) or Ed25519 (EdDSA) public key for access tokens; repeatable (rotation).",
                repeatable: true) { config, values in
            guard values.allSatisfy({ !$0.isEmpty }) else { throw Invalid(reason: "path must not be empty") }
            config.jwtPublicKeyPaths = values
        },
        Setting(flag: "jwt-jwks-url",
                help: "JWKS document of the identity provider (https URL, http URL or file path); repeatable. Fetched at start, every --jwt-jwks-refresh and on an unknown kid.",
                repeatable: true) { config, values in
            guard values.allSatisfy({ !$0.isEmpty }) else { throw Invalid(reason: "must not be empty") }
            for value in values where value.contains("://") && !(value.hasPrefix("http://") || value.hasPrefix("https://")) {
                throw Invalid(reason: "'\(value)' is neither an http(s) URL nor a file path")
            }
            config.jwtJWKSSources = values
        },
        duration("jwt-jwks-refresh", "How often JWKS documents are fetched again.", \.jwtJWKSRefresh),
        duration("jwt-jwks-grace", "How long a key stays usable after its JWKS document stopped listing it.", \.jwtJWKSGrace),
        string("jwt-issuer", "Required token issuer (iss).", optional: \.jwtIssuer),
        string("jwt-audience", "Required token audience (aud).", optional: \.jwtAudience),
        // Zero leeway is allowed here, unlike the timeouts.
        duration("jwt-leeway", "Clock leeway for token time checks.", \.jwtLeeway, allowZero: true),
        Setting(flag: "allowed-origin",
                help: "Origin allowed to open WebSockets; repeatable. Unset: any origin. The variable takes a comma-separated list.",
                repeatable: true) { config, values in
            guard values.allSatisfy({ !$0.isEmpty }) else { throw Invalid(reason: "origin must not be empty") }
            config.allowedOrigins = values
        },
        Setting(flag: "trusted-proxy",
                help: "Proxy (IP or CIDR) whose X-Forwarded-For names the client in logs; repeatable. The variable takes a comma-separated list.",
                repeatable: true) { config, values in
            do {
                config.trustedProxies = try TrustedProxies(values)
            } catch {
                throw Invalid(reason: "\(error)")
            }
        },
        string("tls-cert", "TLS certificate chain (PEM); with --tls-key serves https and wss.", optional: \.tlsCertPath),
        string("tls-key", "TLS private key (PEM).", optional: \.tlsKeyPath),
        choice("log-level", Logger.Level.self, \.logLevel),
        choice("log-format", ServerConfiguration.LogFormat.self, \.logFormat),
    ]

    private static func string(_ flag: String, _ help: String, default path: any Field<String>) -> Setting {
        Setting(flag: flag, help: help, defaultText: { $0[keyPath: path] }) { config, values in
            config[keyPath: path] = try nonEmpty(values)
        }
    }

    /// A setting that is unset by default.
    private static func string(_ flag: String, _ help: String, optional path: any Field<String?>) -> Setting {
        Setting(flag: flag, help: help) { config, values in
            config[keyPath: path] = try nonEmpty(values)
        }
    }

    private static func nonEmpty(_ values: [String]) throws -> String {
        guard let value = values.last, !value.isEmpty else { throw Invalid(reason: "must not be empty") }
        return value
    }

    private static func integer(_ flag: String, _ range: ClosedRange<Int>, _ help: String, default path: any Field<Int>,
                                _ apply: @escaping @Sendable (inout ServerConfiguration, Int) -> Void) -> Setting {
        Setting(flag: flag, help: help, defaultText: { String($0[keyPath: path]) }, apply: integerApply(flag, range, apply))
    }

    private static func integerApply(_ flag: String, _ range: ClosedRange<Int>,
                                     _ apply: @escaping @Sendable (inout ServerConfiguration, Int) -> Void)
        -> @Sendable (inout ServerConfiguration, [String]) throws -> Void {
        { config, values in
            guard let value = Int(values.last!.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
                throw Invalid(reason: "expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(values.last!)'")
            }
            apply(&config, value)
        }
    }

    private static func duration(_ flag: String, _ help: String, _ path: any Field<Duration>,
                                 allowZero: Bool = false) -> Setting {
        Setting(flag: flag, help: help, defaultText: { DurationParser.format($0[keyPath: path]) }) { config, values in
            guard let value = DurationParser.parse(values.last!), allowZero || value > .zero else {
                throw Invalid(reason: "invalid duration '\(values.last!)' (use e.g. 500ms, 10s, 5m, 24h)")
            }
            config[keyPath: path] = value
        }
    }

    /// One of the cases of `T`, by its raw value (case-insensitive); help lists them.
    private static func choice<T: RawRepresentable & CaseIterable & Sendable>(
        _ flag: String, _ type: T.Type, _ path: any Field<T>
    ) -> Setting where T.RawValue == String {
        let names = T.allCases.map(\.rawValue)
        let list = names.dropLast().joined(separator: ", ") + " or " + names.last!
        return Setting(flag: flag, help: list + ".", defaultText: { $0[keyPath: path].rawValue }) { config, values in
            guard let value = T(rawValue: values.last!.lowercased()) else {
                throw Invalid(reason: "expected one of \(names.joined(separator: ", "))")
            }
            config[keyPath: path] = value
        }
    }
}
