// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "blobhub-realtime",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "blobhub-realtime", targets: ["blobhub-realtime"]),
        .executable(name: "blobhub-realtime-bench", targets: ["blobhub-realtime-bench"]),
        .library(name: "BlobHubRealtimeProtocol", targets: ["BlobHubRealtimeProtocol"]),
        .library(name: "BlobHubRealtimeIdentity", targets: ["BlobHubRealtimeIdentity"]),
        .library(name: "BlobHubRealtimeAuth", targets: ["BlobHubRealtimeAuth"]),
        .library(name: "BlobHubRealtimeRegistry", targets: ["BlobHubRealtimeRegistry"]),
        .library(name: "BlobHubRealtimeStore", targets: ["BlobHubRealtimeStore"]),
        .library(name: "BlobHubRealtimeSession", targets: ["BlobHubRealtimeSession"]),
        .library(name: "BlobHubRealtimeServices", targets: ["BlobHubRealtimeServices"]),
        .library(name: "BlobHubRealtimeServer", targets: ["BlobHubRealtimeServer"]),
        .library(name: "BlobHubRealtimeClient", targets: ["BlobHubRealtimeClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Pure protocol values: JSON, JSON-RPC 2.0 messages, method params, error codes. No I/O.
        .target(
            name: "BlobHubRealtimeProtocol",
            swiftSettings: swiftSettings
        ),
        // Who a connection authenticated as: user and API-key principals, authentication failures.
        // Pure values with no dependencies (the fuzz harness links it without jwt-kit).
        .target(
            name: "BlobHubRealtimeIdentity",
            swiftSettings: swiftSettings
        ),
        // Credentials: extraction from the upgrade request, JWT verification, token minting, the API-key seam.
        // Re-exports BlobHubRealtimeIdentity.
        .target(
            name: "BlobHubRealtimeAuth",
            dependencies: [
                "BlobHubRealtimeIdentity",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The registry domain: organizations, members, blobs, revisions, API keys; commands, cascades and
        // the access policy of SPEC §6.5. Pure values, no I/O.
        .target(
            name: "BlobHubRealtimeRegistry",
            dependencies: [
                "BlobHubRealtimeProtocol",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Persistence behind one protocol: the event log and the registry rows (`RegistryRows` of the Registry
        // target, kept opaque), in memory, SQLite (GRDB) or PostgreSQL.
        .target(
            name: "BlobHubRealtimeStore",
            dependencies: [
                "BlobHubRealtimeRegistry",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The connection state machine (SPEC §5–§6): `ConnectionStateMachine` (lifecycle, waiting requests, rate
        // limit, replays and held events) over `ConnectionSession` (initialization, re-authentication, the
        // subscription set and its access checks). Pure logic, no I/O; fuzzed by blobhub-realtime-fuzz.
        .target(
            name: "BlobHubRealtimeSession",
            dependencies: [
                "BlobHubRealtimeProtocol",
                "BlobHubRealtimeIdentity",
                "BlobHubRealtimeRegistry",
            ],
            swiftSettings: swiftSettings
        ),
        // The documents a node serves as they are, with their routes: the console page, the JavaScript client
        // module and the OpenAPI/AsyncAPI descriptions. The files are compiled in (`.embedInCode`), so a bare
        // binary serves them; three of them are links to the repository's files.
        .target(
            name: "BlobHubRealtimeWeb",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            resources: [
                .embedInCode("Resources/console.html"),
                .embedInCode("Resources/console.css"),
                .embedInCode("Resources/console.js"),
                .embedInCode("Resources/openapi.yaml"),
                .embedInCode("Resources/asyncapi.yaml"),
                .embedInCode("Resources/blobhub-realtime.js"),
            ],
            swiftSettings: swiftSettings
        ),
        // A node's services, without sockets or routes: the configuration value, metrics, the registry service and
        // admin commands, publishing (intake, endpoint), JWKS refresh, the connection registry and node state,
        // retention, and the small HTTP pieces the publish path and the routes share.
        .target(
            name: "BlobHubRealtimeServices",
            dependencies: [
                "BlobHubRealtimeProtocol",
                "BlobHubRealtimeIdentity",
                "BlobHubRealtimeAuth",
                "BlobHubRealtimeRegistry",
                "BlobHubRealtimeStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // The WebSocket and publish transport on SwiftNIO and the fan-out: the `/v1` upgrade in the node's own
        // child channel, one `WebSocketConnectionHandler` per connection (the thin transport of a
        // `ConnectionStateMachine`), `POST /v1/events` on the event loop, and the hub and its per-loop shards.
        .target(
            name: "BlobHubRealtimeTransport",
            dependencies: [
                "BlobHubRealtimeProtocol",
                "BlobHubRealtimeIdentity",
                "BlobHubRealtimeSession",
                "BlobHubRealtimeAuth",
                "BlobHubRealtimeRegistry",
                "BlobHubRealtimeStore",
                "BlobHubRealtimeServices",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP API's routes on Hummingbird's router: probes, metrics, the admin (registry) API, publish through
        // the router, JSON error bodies and 405s.
        .target(
            name: "BlobHubRealtimeHTTPAPI",
            dependencies: [
                "BlobHubRealtimeProtocol",
                "BlobHubRealtimeIdentity",
                "BlobHubRealtimeAuth",
                "BlobHubRealtimeRegistry",
                "BlobHubRealtimeStore",
                "BlobHubRealtimeServices",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        // The node assembled: `RealtimeServer` (services, transport, routes and documents as one service group),
        // graceful drain, and the demo.
        .target(
            name: "BlobHubRealtimeServer",
            dependencies: [
                "BlobHubRealtimeProtocol",
                "BlobHubRealtimeIdentity",
                "BlobHubRealtimeSession",
                "BlobHubRealtimeAuth",
                "BlobHubRealtimeRegistry",
                "BlobHubRealtimeStore",
                "BlobHubRealtimeServices",
                "BlobHubRealtimeTransport",
                "BlobHubRealtimeHTTPAPI",
                "BlobHubRealtimeWeb",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Swift client library: connect, subscribe, events as an AsyncSequence, reconnect and resume.
        .target(
            name: "BlobHubRealtimeClient",
            dependencies: [
                "BlobHubRealtimeProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // Command-line commands (serve, token, ...): flag/env resolution into ServerConfiguration.
        .target(
            name: "BlobHubRealtimeCLI",
            dependencies: [
                "BlobHubRealtimeServer",
                "BlobHubRealtimeServices",
                "BlobHubRealtimeAuth",
                "BlobHubRealtimeClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "blobhub-realtime",
            dependencies: ["BlobHubRealtimeCLI"],
            swiftSettings: swiftSettings
        ),
        // Load tool (bench/ scenarios): SwiftNIO WebSocket subscribers + HTTP publisher, HdrHistogram latencies; our
        // protocol's requests from the Protocol target (pure, no I/O).
        .executableTarget(
            name: "blobhub-realtime-bench",
            dependencies: [
                "BlobHubRealtimeProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Swift example of docs/clients.md, compiled with the package (a test keeps the two byte-identical).
        .executableTarget(
            name: "blobhub-realtime-example",
            dependencies: ["BlobHubRealtimeClient"],
            path: "Examples/swift-client",
            swiftSettings: swiftSettings
        ),
        // libFuzzer harness over the JSON parser, the JSON-RPC decoder, the method params and the
        // connection state machine (Fuzz/README.md). Depends on the pure targets only (no NIO, no
        // jwt-kit; swift-crypto via Registry), so the sanitizer build stays small; without -DFUZZING it
        // is a corpus replayer. Built by scripts/ci/fuzz.sh into its own scratch path .build-fuzz.
        .executableTarget(
            name: "blobhub-realtime-fuzz",
            dependencies: ["BlobHubRealtimeProtocol", "BlobHubRealtimeIdentity", "BlobHubRealtimeRegistry", "BlobHubRealtimeSession"],
            swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
        ),
        .testTarget(
            name: "BlobHubRealtimeProtocolTests",
            dependencies: ["BlobHubRealtimeProtocol"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BlobHubRealtimeAuthTests",
            dependencies: [
                "BlobHubRealtimeAuth",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The connection state machine without I/O: messages in, actions out.
        .testTarget(
            name: "BlobHubRealtimeSessionTests",
            dependencies: ["BlobHubRealtimeSession", "BlobHubRealtimeProtocol", "BlobHubRealtimeIdentity", "BlobHubRealtimeRegistry"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BlobHubRealtimeRegistryTests",
            dependencies: ["BlobHubRealtimeRegistry"],
            swiftSettings: swiftSettings
        ),
        // Test support shared by the store and server tests: the throwaway PostgreSQL databases.
        .target(
            name: "BlobHubRealtimePostgresTesting",
            dependencies: [
                "BlobHubRealtimeStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Support/PostgresTesting",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BlobHubRealtimeStoreTests",
            dependencies: [
                "BlobHubRealtimeStore",
                "BlobHubRealtimeRegistry",
                "BlobHubRealtimePostgresTesting",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The served documents' routes, in process (HummingbirdTesting), against the repository's files.
        .testTarget(
            name: "BlobHubRealtimeWebTests",
            dependencies: [
                "BlobHubRealtimeWeb",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        // The node's services without a server: publish intake, bearer keys.
        .testTarget(
            name: "BlobHubRealtimeServicesTests",
            dependencies: [
                "BlobHubRealtimeServices",
                "BlobHubRealtimeProtocol",
                "BlobHubRealtimeRegistry",
                "BlobHubRealtimeStore",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BlobHubRealtimeCLITests",
            dependencies: [
                "BlobHubRealtimeCLI",
                "BlobHubRealtimeServer",
                "BlobHubRealtimeServices",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BlobHubRealtimeServerTests",
            dependencies: [
                "BlobHubRealtimeServer",
                "BlobHubRealtimeServices",
                "BlobHubRealtimeTransport",
                "BlobHubRealtimeHTTPAPI",
                "BlobHubRealtimeSession",
                "BlobHubRealtimeIdentity",
                "BlobHubRealtimeClient",
                "BlobHubRealtimeAuth",
                "BlobHubRealtimeRegistry",
                "BlobHubRealtimeStore",
                "BlobHubRealtimeProtocol",
                "BlobHubRealtimePostgresTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
