@testable import BlobHubRealtimeCLI
import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Logging
import Testing

/// SPEC §10: every flag, its environment variable, defaults, duration syntax, and bad values.
@Suite struct ConfigurationResolverTests {
    @Test func defaultsMatchTheSpec() throws {
        let configuration = try ConfigurationResolver.resolve(flags: [:], environment: [:])
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8080)
        #expect(configuration.store == "sqlite:./blobhub-realtime.sqlite")
        #expect(configuration.maxMessageBytes == 65536)
        #expect(configuration.maxSubscriptions == 1000)
        #expect(configuration.maxConnections == 100_000)
        #expect(configuration.rateLimit == 200 && configuration.rateLimitBurst == 400)
        #expect(configuration.sendQueueLimit == 8192)
        #expect(configuration.eventLoops == nil)
        #expect(configuration.initTimeout == .seconds(10))
        #expect(configuration.pingInterval == .seconds(25))
        #expect(configuration.pingTimeout == .seconds(10))
        #expect(configuration.drainTimeout == .seconds(10))
        #expect(configuration.retention == .seconds(86400))
        #expect(configuration.retentionEvents == 1_000_000)
        #expect(configuration.maxReplayEvents == 10_000)
        #expect(configuration.adminKey == nil && configuration.publisherKey == nil)
        #expect(configuration.jwtSecret == nil && configuration.jwtPublicKeyPath == nil)
        #expect(configuration.jwtLeeway == .seconds(30))
        #expect(configuration.allowedOrigins.isEmpty)
        #expect(configuration.tlsCertPath == nil && configuration.tlsKeyPath == nil)
        #expect(configuration.logLevel == .info && configuration.logFormat == .text)
    }

    @Test func everyFlagHasAnEnvironmentVariable() throws {
        let environment: [String: String] = [
            "BLOBHUB_REALTIME_HOST": "0.0.0.0", "BLOBHUB_REALTIME_PORT": "9000", "BLOBHUB_REALTIME_STORE": "memory",
            "BLOBHUB_REALTIME_MAX_MESSAGE_BYTES": "1024", "BLOBHUB_REALTIME_MAX_SUBSCRIPTIONS": "5",
            "BLOBHUB_REALTIME_MAX_CONNECTIONS": "10", "BLOBHUB_REALTIME_RATE_LIMIT": "50",
            "BLOBHUB_REALTIME_SEND_QUEUE_LIMIT": "100", "BLOBHUB_REALTIME_EVENT_LOOPS": "3", "BLOBHUB_REALTIME_INIT_TIMEOUT": "500ms",
            "BLOBHUB_REALTIME_PING_INTERVAL": "5m", "BLOBHUB_REALTIME_PING_TIMEOUT": "1m",
            "BLOBHUB_REALTIME_DRAIN_TIMEOUT": "3s", "BLOBHUB_REALTIME_RETENTION": "2h",
            "BLOBHUB_REALTIME_RETENTION_EVENTS": "500", "BLOBHUB_REALTIME_MAX_REPLAY_EVENTS": "20",
            "BLOBHUB_REALTIME_ADMIN_KEY": "admin", "BLOBHUB_REALTIME_PUBLISHER_KEY": "pub",
            "BLOBHUB_REALTIME_JWT_SECRET": "s", "BLOBHUB_REALTIME_JWT_PUBLIC_KEY": "/k.pem",
            "BLOBHUB_REALTIME_JWT_ISSUER": "iss", "BLOBHUB_REALTIME_JWT_AUDIENCE": "aud", "BLOBHUB_REALTIME_JWT_LEEWAY": "0s",
            "BLOBHUB_REALTIME_ALLOWED_ORIGIN": "https://a.example, https://b.example",
            "BLOBHUB_REALTIME_TRUSTED_PROXY": "10.0.0.0/8, ::1",
            "BLOBHUB_REALTIME_JWT_JWKS_URL": "https://idp.example/jwks.json, /etc/jwks.json",
            "BLOBHUB_REALTIME_JWT_JWKS_REFRESH": "2m", "BLOBHUB_REALTIME_JWT_JWKS_GRACE": "20m",
            "BLOBHUB_REALTIME_TLS_CERT": "/c.pem", "BLOBHUB_REALTIME_TLS_KEY": "/k.pem",
            "BLOBHUB_REALTIME_LOG_LEVEL": "debug", "BLOBHUB_REALTIME_LOG_FORMAT": "json",
        ]
        let c = try ConfigurationResolver.resolve(flags: [:], environment: environment)
        #expect(c.host == "0.0.0.0" && c.port == 9000 && c.store == "memory")
        #expect(c.maxMessageBytes == 1024 && c.maxSubscriptions == 5 && c.maxConnections == 10)
        #expect(c.rateLimit == 50 && c.rateLimitBurst == 100 && c.sendQueueLimit == 100 && c.eventLoops == 3)
        #expect(c.initTimeout == .milliseconds(500) && c.pingInterval == .seconds(300) && c.pingTimeout == .seconds(60))
        #expect(c.drainTimeout == .seconds(3) && c.retention == .seconds(7200))
        #expect(c.retentionEvents == 500 && c.maxReplayEvents == 20)
        #expect(c.adminKey == "admin" && c.publisherKey == "pub")
        #expect(c.jwtSecret == "s" && c.jwtPublicKeyPath == "/k.pem" && c.jwtIssuer == "iss" && c.jwtAudience == "aud" && c.jwtLeeway == .zero)
        #expect(c.allowedOrigins == ["https://a.example", "https://b.example"])
        #expect(c.trustedProxies == (try TrustedProxies(["10.0.0.0/8", "::1"])))
        #expect(c.jwtJWKSSources == ["https://idp.example/jwks.json", "/etc/jwks.json"])
        #expect(c.jwtJWKSRefresh == .seconds(120) && c.jwtJWKSGrace == .seconds(1200))
        #expect(c.tlsCertPath == "/c.pem" && c.tlsKeyPath == "/k.pem")
        #expect(c.logLevel == .debug && c.logFormat == .json)
        // Every setting the resolver knows was covered above.
        let covered = Set(environment.keys)
        for setting in ConfigurationResolver.settings {
            #expect(covered.contains(ConfigurationResolver.environmentVariable(for: setting.flag)), "\(setting.flag)")
        }
    }

    @Test func flagBeatsEnvironment() throws {
        let c = try ConfigurationResolver.resolve(
            flags: ["port": ["7000"], "allowed-origin": ["https://flag.example"]],
            environment: ["BLOBHUB_REALTIME_PORT": "9000", "BLOBHUB_REALTIME_ALLOWED_ORIGIN": "https://env.example"]
        )
        #expect(c.port == 7000)
        #expect(c.allowedOrigins == ["https://flag.example"])
    }

    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("10s", .seconds(10)), ("5m", .seconds(300)), ("24h", .seconds(86400)),
        ("1.5s", .milliseconds(1500)), ("30", .seconds(30)),
    ])
    func durations(text: String, expected: Duration) {
        #expect(DurationParser.parse(text) == expected)
    }

    @Test(arguments: ["", "ten", "5d", "-1s", "1.2.3s", "ms", "nan"])
    func badDurations(text: String) {
        #expect(DurationParser.parse(text) == nil)
    }

    @Test func badValuesNameTheFlag() {
        let cases: [([String: [String]], [String: String], String)] = [
            (["port": ["eighty"]], [:], "--port"),
            (["port": ["70000"]], [:], "--port"),
            (["init-timeout": ["soon"]], [:], "--init-timeout"),
            (["init-timeout": ["0s"]], [:], "--init-timeout"),
            ([:], ["BLOBHUB_REALTIME_MAX_MESSAGE_BYTES": "huge"], "BLOBHUB_REALTIME_MAX_MESSAGE_BYTES"),
            (["store": ["mysql://x"]], [:], "--store"),
            (["log-level": ["loud"]], [:], "--log-level"),
            (["log-format": ["xml"]], [:], "--log-format"),
            (["tls-cert": ["/c.pem"]], [:], "--tls-key"),
            (["ping-interval": ["5s"], "ping-timeout": ["10s"]], [:], "--ping-timeout"),
            (["host": [""]], [:], "--host"),
            (["event-loops": ["0"]], [:], "--event-loops"),
            (["trusted-proxy": ["10.0.0.0/33"]], [:], "--trusted-proxy"),
            (["trusted-proxy": ["proxy.internal"]], [:], "--trusted-proxy"),
            ([:], ["BLOBHUB_REALTIME_TRUSTED_PROXY": "10.0.0.1, 300.1.1.1"], "BLOBHUB_REALTIME_TRUSTED_PROXY"),
        ]
        for (flags, environment, expected) in cases {
            #expect(throws: ConfigurationResolver.Failure.self, "\(flags) \(environment)") {
                try ConfigurationResolver.resolve(flags: flags, environment: environment)
            }
            do {
                _ = try ConfigurationResolver.resolve(flags: flags, environment: environment)
            } catch {
                #expect(error.description.contains(expected), "\(error.description)")
            }
        }
    }
}
