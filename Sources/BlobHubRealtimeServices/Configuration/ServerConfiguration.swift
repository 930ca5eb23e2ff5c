import BlobHubRealtimeAuth
import BlobHubRealtimeStore
import Foundation
import Logging

/// Everything a node needs to run, resolved from flags, environment variables and defaults (SPEC §10).
///
/// A plain value: parsing lives in the CLI module, so tests and embedders can build one directly.
public struct ServerConfiguration: Sendable, Equatable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// Store URL: `sqlite:<path>`, `memory` or `postgres://…`.
    public var store: String = "sqlite:./blobhub-realtime.sqlite"

    public var maxMessageBytes: Int = 65536
    public var maxSubscriptions: Int = 1000
    public var maxConnections: Int = 100_000
    /// Sustained requests per second per connection.
    public var rateLimit: Int = 200
    /// Bucket size; the default is twice the rate.
    public var rateLimitBurst: Int = 400
    public var sendQueueLimit: Int = 8192
    /// Event loop threads serving connections; nil = one per core the process may run on.
    public var eventLoops: Int? = nil

    public var initTimeout: Duration = .seconds(10)
    public var pingInterval: Duration = .seconds(25)
    public var pingTimeout: Duration = .seconds(10)
    public var drainTimeout: Duration = .seconds(10)

    public var retention: Duration = .seconds(24 * 3600)
    public var retentionEvents: Int = 1_000_000
    public var maxReplayEvents: Int = 10_000

    public var adminKey: String? = nil
    public var publisherKey: String? = nil

    public var jwtSecret: String? = nil
    /// Paths of PEM files, each an RSA, EC P-256 or Ed25519 public key (RS256 / ES256 / EdDSA); several
    /// serve a rotation.
    public var jwtPublicKeyPaths: [String] = []
    /// The first of `jwtPublicKeyPaths` (one key, the common case).
    public var jwtPublicKeyPath: String? {
        get { jwtPublicKeyPaths.first }
        set { jwtPublicKeyPaths = newValue.map { [$0] } ?? [] }
    }
    /// JWKS documents (`https://`, `http://` or a file path) whose signature keys verify access tokens.
    public var jwtJWKSSources: [String] = []
    /// How often the JWKS documents are fetched again.
    public var jwtJWKSRefresh: Duration = .seconds(300)
    /// A key a document stopped listing stays usable this long (tokens signed just before a rotation).
    public var jwtJWKSGrace: Duration = .seconds(600)
    /// Least time between two fetches caused by tokens naming an unknown `kid` (a flood of made-up
    /// kids must not become a flood of requests to the identity provider).
    public var jwtJWKSMinRefreshInterval: Duration = .seconds(10)
    public var jwtIssuer: String? = nil
    public var jwtAudience: String? = nil
    public var jwtLeeway: Duration = .seconds(30)

    /// Origins allowed to open WebSockets; empty means any origin.
    public var allowedOrigins: [String] = []

    /// Proxies whose `X-Forwarded-For` names the client in the connection logs (`client_address`).
    public var trustedProxies: TrustedProxies = .none

    public var tlsCertPath: String? = nil
    public var tlsKeyPath: String? = nil

    public var logLevel: Logger.Level = .info
    public var logFormat: LogFormat = .text

    /// Time a new TCP connection has to send its first complete request (HTTP or upgrade). Not a flag.
    public var handshakeTimeout: Duration = .seconds(10)

    /// SO_SNDBUF for accepted connections; nil leaves the kernel's auto-tuning. Not a flag: tests use a
    /// small buffer so a slow consumer overflows quickly.
    public var socketSendBufferBytes: Int? = nil

    /// Connections a fan-out round writes before its loop serves other sockets (`Hub`). Not a flag:
    /// tests set it low to make every large fan-out span many rounds.
    ///
    /// Why 32 (was 256): a publish request on a loop that is fanning out waits for the round in progress,
    /// and a publisher that waits for each 202 publishes once per round. With 256 connections a round took
    /// ~4 ms on a loaded 2-core machine, so one publisher sent ~250 events/s to 1,000 subscribers, each
    /// written on its own (publish p50 4 ms). With 32 the 202 comes back within ~0.7 ms and the events
    /// published meanwhile share each connection's next write: 1.0–1.2 M deliveries/s in the same
    /// closed loop (8 publishers: 1.2 M → 2.5 M), with the latency and many-streams scenarios unchanged
    /// (BENCHMARKS.md). 16 was faster still in the closed loop but raised delivery p99 further.
    public var fanoutConnectionsPerRound: Int = 32

    /// Cluster stores: the node heartbeat and when a silent node counts as stale or is forgotten (`nodes` of
    /// `/v1/admin/stats`). Not a flag: tests shorten the bounds.
    public var nodeLiveness = NodeLiveness()

    /// Run the self-contained demo (seeded registry, periodic workflow events).
    public var demo: Bool = false

    public init() {}

    public enum LogFormat: String, Sendable, CaseIterable { case text, json }
}

extension ServerConfiguration {
    /// `--retention` and `--retention-events` as the store's policy.
    package var retentionPolicy: RetentionPolicy {
        .init(maxAgeMs: Int64(retention.timeInterval * 1000), maxEvents: retentionEvents)
    }
}
