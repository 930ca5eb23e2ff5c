import ArgumentParser
import BlobHubRealtimeServer
import Foundation
import Logging

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

    @Option(help: "Address to listen on. (default: 127.0.0.1)") var host: String?
    @Option(help: "Port to listen on; 0 picks a free port. (default: 8080)") var port: String?
    @Option(help: "Store: sqlite:<path>, memory, or postgres://user:pass@host:port/db. (default: sqlite:./blobhub-realtime.sqlite)") var store: String?
    @Option(help: "Largest inbound WebSocket message in bytes. (default: 65536)") var maxMessageBytes: String?
    @Option(help: "Subscriptions per connection. (default: 1000)") var maxSubscriptions: String?
    @Option(help: "Open WebSocket connections per node; beyond it upgrades get 503. (default: 100000)") var maxConnections: String?
    @Option(help: "Requests per second per connection; burst is twice this. (default: 200)") var rateLimit: String?
    @Option(help: "Outbound messages queued per connection before it is closed with 4013. (default: 8192)") var sendQueueLimit: String?
    @Option(help: "Event loop threads serving connections. (default: one per CPU core)") var eventLoops: String?
    @Option(help: "Time allowed between upgrade and status/initialize. (default: 10s)") var initTimeout: String?
    @Option(help: "Interval between server pings. (default: 25s)") var pingInterval: String?
    @Option(help: "Time to wait for any traffic after a ping. (default: 10s)") var pingTimeout: String?
    @Option(help: "Time allowed for a graceful shutdown. (default: 10s)") var drainTimeout: String?
    @Option(help: "How long events stay in the log. (default: 24h)") var retention: String?
    @Option(help: "Most events kept in the log. (default: 1000000)") var retentionEvents: String?
    @Option(help: "Most events replayed per subscription/add with since. (default: 10000)") var maxReplayEvents: String?
    @Option(help: "Bearer key of the admin (registry) API; unset: the API answers 401.") var adminKey: String?
    @Option(help: "Bearer key of the publish API; unset: only the admin key may publish.") var publisherKey: String?
    @Option(help: "HS256 secret for access tokens (at least 32 bytes).") var jwtSecret: String?
    @Option(help: "PEM file with an RSA (RS256), EC P-256 (ES256) or Ed25519 (EdDSA) public key for access tokens; repeatable (rotation).") var jwtPublicKey: [String] = []
    @Option(help: "JWKS document of the identity provider (https URL, http URL or file path); repeatable. Fetched at start, every --jwt-jwks-refresh and on an unknown kid.") var jwtJwksUrl: [String] = []
    @Option(help: "How often JWKS documents are fetched again. (default: 5m)") var jwtJwksRefresh: String?
    @Option(help: "How long a key stays usable after its JWKS document stopped listing it. (default: 10m)") var jwtJwksGrace: String?
    @Option(help: "Required token issuer (iss).") var jwtIssuer: String?
    @Option(help: "Required token audience (aud).") var jwtAudience: String?
    @Option(help: "Clock leeway for token time checks. (default: 30s)") var jwtLeeway: String?
    @Option(help: "Origin allowed to open WebSockets; repeatable. Unset: any origin. The variable takes a comma-separated list.") var allowedOrigin: [String] = []
    @Option(help: "Proxy (IP or CIDR) whose X-Forwarded-For names the client in logs; repeatable. The variable takes a comma-separated list.") var trustedProxy: [String] = []
    @Option(help: "TLS certificate chain (PEM); with --tls-key serves https and wss.") var tlsCert: String?
    @Option(help: "TLS private key (PEM).") var tlsKey: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical. (default: info)") var logLevel: String?
    @Option(help: "text or json. (default: text)") var logFormat: String?
    @Flag(help: "Run a self-contained demo: seeded registry, printed credentials, live workflow events.") var demo = false

    /// The command-line values by flag name, for `ConfigurationResolver`.
    var flagValues: [String: [String]] {
        let single: [(String, String?)] = [
            ("host", host), ("port", port), ("store", store), ("max-message-bytes", maxMessageBytes),
            ("max-subscriptions", maxSubscriptions), ("max-connections", maxConnections), ("rate-limit", rateLimit),
            ("send-queue-limit", sendQueueLimit), ("event-loops", eventLoops), ("init-timeout", initTimeout), ("ping-interval", pingInterval),
            ("ping-timeout", pingTimeout), ("drain-timeout", drainTimeout), ("retention", retention),
            ("retention-events", retentionEvents), ("max-replay-events", maxReplayEvents), ("admin-key", adminKey),
            ("publisher-key", publisherKey), ("jwt-secret", jwtSecret), ("jwt-jwks-refresh", jwtJwksRefresh), ("jwt-jwks-grace", jwtJwksGrace),
            ("jwt-issuer", jwtIssuer), ("jwt-audience", jwtAudience), ("jwt-leeway", jwtLeeway), ("tls-cert", tlsCert),
            ("tls-key", tlsKey), ("log-level", logLevel), ("log-format", logFormat),
        ]
        var values: [String: [String]] = [:]
        for (flag, value) in single { if let value { values[flag] = [value] } }
        if !allowedOrigin.isEmpty { values["allowed-origin"] = allowedOrigin }
        if !trustedProxy.isEmpty { values["trusted-proxy"] = trustedProxy }
        if !jwtPublicKey.isEmpty { values["jwt-public-key"] = jwtPublicKey }
        if !jwtJwksUrl.isEmpty { values["jwt-jwks-url"] = jwtJwksUrl }
        return values
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
