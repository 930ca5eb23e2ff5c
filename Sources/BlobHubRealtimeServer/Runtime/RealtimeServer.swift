import BlobHubRealtimeAuth
import BlobHubRealtimeHTTPAPI
import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import BlobHubRealtimeServices
import BlobHubRealtimeSession
import BlobHubRealtimeStore
import BlobHubRealtimeTransport
import BlobHubRealtimeWeb
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization
import UnixSignals

/// One BlobHub Realtime node: the HTTP routes, the `/v1` WebSocket endpoint and graceful drain.
///
/// `run()` serves until graceful shutdown (SIGTERM/SIGINT through the surrounding `ServiceGroup`,
/// or `triggerGracefulShutdown()` in tests) and returns once drained.
public final class RealtimeServer: Sendable {
    public let configuration: ServerConfiguration
    public let nodeState = NodeState()
    public let connections = ConnectionRegistry()
    private let logger: Logger
    private let verifier: BearerTokenVerifier
    private let apiKeys: any APIKeyResolver
    let store: any RealtimeStore
    let registry: RegistryService
    let hub: Hub
    /// This node's metrics, served at `/metrics` (its own registry: no global state).
    public let metrics: ServerMetrics
    /// `--event-loops`: this node's own loops, shut down when `run` ends; nil = NIO's shared group.
    private let eventLoopGroup: MultiThreadedEventLoopGroup?
    private let tls: NIOSSLContext?
    /// Cluster mode: applies registry changes made on other nodes.
    private let registrySync: RegistrySyncService
    private let boundPort = Mutex<(port: Int?, waiters: [UUID: CheckedContinuation<Int, any Error>])>((nil, [:]))

    /// Builds the node; fails with a message naming the flag when a key or setting is unusable.
    /// `apiKeys` replaces the registry's API keys (tests of the handshake seam).
    public init(configuration: ServerConfiguration, logger: Logger, apiKeys: (any APIKeyResolver)? = nil) async throws {
        self.configuration = configuration
        self.logger = logger
        let metrics = ServerMetrics()
        self.metrics = metrics
        self.hub = Hub(metrics: metrics, connectionsPerRound: configuration.fanoutConnectionsPerRound)
        self.eventLoopGroup = configuration.eventLoops.map { MultiThreadedEventLoopGroup(numberOfThreads: $0) }
        self.tls = try TLSContextLoader.load(certificatePath: configuration.tlsCertPath, keyPath: configuration.tlsKeyPath)
        do {
            self.store = MeasuredStore(
                base: try await StoreFactory.open(configuration.store, liveness: configuration.nodeLiveness), metrics: metrics)
        } catch {
            // The message may quote the store URL: never print its password.
            throw ServerStartError(SecretRedaction.redactingURLPasswords("--store: \(error)"))
        }
        // Retention applies before the node listens, so no client resumes against events about to go.
        await RetentionService.pruneOnce(store: store, policy: configuration.retentionPolicy, logger: logger)
        self.registry = try await RegistryService(store: store)
        self.apiKeys = apiKeys ?? RegistryAPIKeys(registry: registry)
        let registrySync = RegistrySyncService(registry: registry, connections: connections, logger: logger)
        self.registrySync = registrySync
        store.setRegistryObserver { registrySync.changed() }
        var publicKeyPEMs: [String] = []
        for path in configuration.jwtPublicKeyPaths {
            do {
                publicKeyPEMs.append(try String(contentsOfFile: path, encoding: .utf8))
            } catch {
                throw ServerStartError("--jwt-public-key: cannot read \(path): \(error.localizedDescription)")
            }
        }
        do {
            self.verifier = try await BearerTokenVerifier(
                configuration: .init(
                    hmacSecret: configuration.jwtSecret,
                    publicKeyPEMs: publicKeyPEMs,
                    hasKeySources: !configuration.jwtJWKSSources.isEmpty,
                    keyGrace: configuration.jwtJWKSGrace,
                    issuer: configuration.jwtIssuer,
                    audience: configuration.jwtAudience,
                    leeway: configuration.jwtLeeway
                )
            )
        } catch let error as JWTConfigurationError {
            throw ServerStartError(error.description)
        }
        // Committed batches reach the fan-out in offset order.
        let hub = self.hub
        store.setCommitObserver { hub.dispatch($0) }
        // A cluster node without subscriptions leaves the other nodes' events unread.
        store.setFanoutInterest { hub.fanoutInterest }
        // Weak: the store lives as long as the server, and must not keep it alive.
        store.setNodeStatusProvider { [weak self] in
            guard let self else { return NodeStatus() }
            return NodeStatus(address: advertisedAddress, connections: connections.count,
                              subscriptions: await hub.subscriptionCount(), draining: nodeState.isDraining)
        }
    }

    /// `host:port` others would dial: the listen address, the machine's host name for a wildcard host
    /// (`0.0.0.0`, `::`), the bound port once listening (`--port 0`).
    var advertisedAddress: String {
        let port = boundPort.withLock { $0.port } ?? configuration.port
        var host = configuration.host
        if host.isEmpty || host == "0.0.0.0" || host == "::" || host == "[::]" { host = ProcessInfo.processInfo.hostName }
        if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }
        return "\(host):\(port)"
    }

    /// The port the server listens on, once it does (useful with `--port 0`).
    /// Cancellable: when the listener never binds (port taken), the service group cancels its services and a
    /// waiter (the demo) must end with them, or the process would never exit.
    public func waitUntilListening() async throws -> Int {
        let id = UUID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let port: Int? = boundPort.withLock { state in
                    if let port = state.port { return port }
                    state.waiters[id] = continuation
                    return nil
                }
                if let port { continuation.resume(returning: port) }
                // Cancelled before the waiter was registered: the handler below found nothing to resume.
                if Task.isCancelled, let waiter = boundPort.withLock({ $0.waiters.removeValue(forKey: id) }) {
                    waiter.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            boundPort.withLock { $0.waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    private func listening(on port: Int) {
        let waiters = boundPort.withLock { state in
            state.port = port
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    /// The services that make up a node, in start order (they stop in reverse: drain first).
    public func services() -> [any Service] {
        let services = ConnectionServices(
            configuration: configuration,
            verifier: verifier,
            connections: connections,
            settings: .init(
                serverName: ServerVersion.name,
                serverVersion: ServerVersion.version,
                epoch: store.epoch,
                heartbeatIntervalMs: Int(configuration.pingInterval.timeInterval * 1000),
                maxMessageBytes: configuration.maxMessageBytes,
                maxSubscriptions: configuration.maxSubscriptions
            ),
            logger: logger,
            hub: hub,
            registry: registry,
            store: store,
            metrics: metrics
        )
        let gate = UpgradeGate(
            authenticator: Authenticator(bearer: verifier, apiKeys: apiKeys),
            connections: connections,
            nodeState: nodeState,
            maxConnections: configuration.maxConnections,
            allowedOrigins: Set(configuration.allowedOrigins),
            metrics: metrics
        )
        let http = makeHTTP()

        let tls = self.tls
        let publishing = RealtimeChildChannel.Publishing(endpoint: http.publishEndpoint, dates: HTTPDateCache())
        let server = HTTPServerBuilder { responder in
            RealtimeChildChannel(
                responder: RealtimeChildChannel.closingAfterLateUpgrades(responder), gate: gate, services: services, publishing: publishing,
                idleTimeout: nil, tls: tls
            )
        }
        let application = Application(
            router: http.router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { [self] channel in
                listening(on: channel.localAddress?.port ?? configuration.port)
                logger.info("listening", metadata: [
                    "host": "\(configuration.host)", "port": "\(channel.localAddress?.port ?? 0)", "tls": "\(tls != nil)",
                ])
            },
            eventLoopGroupProvider: eventLoopGroup.map { .shared($0) } ?? .singleton,
            logger: logger
        )
        let drain = DrainService(nodeState: nodeState, registry: connections, drainTimeout: configuration.drainTimeout, logger: logger)
        let retention = RetentionService(
            store: store,
            policy: configuration.retentionPolicy,
            logger: logger
        )
        var all: [any Service] = [retention, registrySync, application, drain]
        if !configuration.jwtJWKSSources.isEmpty {
            let refresher = JWKSRefreshService(
                sources: configuration.jwtJWKSSources, ring: verifier.keyRing, interval: configuration.jwtJWKSRefresh,
                minimumOnDemandInterval: configuration.jwtJWKSMinRefreshInterval, logger: logger
            )
            verifier.keyRing.setRefresher { await refresher.refreshForUnknownKID() }
            all.insert(refresher, at: 0)
        }
        if configuration.demo, let secret = configuration.jwtSecret {
            all.append(DemoService(
                server: self, admin: http.admin, publisher: http.publisher, jwtSecret: secret, interval: .seconds(3), logger: logger,
                print: { text in FileHandle.standardOutput.write(Data((text + "\n").utf8)) }
            ))
        }
        return all
    }

    /// The node's HTTP side: the routes (everything but the `/v1` upgrade, which the child channel takes first),
    /// the publish endpoint the child channel also serves on the event loop, and the services behind them (the
    /// demo drives them too). Tests use the router in process.
    struct HTTPSurface {
        let router: Router<BasicRequestContext>
        let publishEndpoint: PublishEndpoint
        let admin: AdminService
        let publisher: PublishService
    }

    func makeHTTP() -> HTTPSurface {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        router.add(middleware: MethodNotAllowedMiddleware())
        OperationalRoutes.add(to: router, nodeState: nodeState, store: store, keyRing: verifier.keyRing)
        ConsolePage.add(to: router)
        ClientScriptRoute.add(to: router)
        MetricsRoute.add(to: router, metrics: metrics) { [self] in
            metrics.sample(connections: connections.count, subscriptions: await hub.subscriptionCount())
        }
        APIDocuments.add(to: router)
        let publisher = PublishService(store: store, registry: registry)
        let admin = AdminService(registry: registry, publisher: publisher, connections: connections)
        let publishEndpoint = PublishEndpoint(
            keys: BearerKeys([configuration.publisherKey, configuration.adminKey]), publisher: publisher, logger: logger
        )
        PublishRoutes.add(to: router, endpoint: publishEndpoint)
        AdminRoutes.add(
            to: router,
            .init(
                keys: BearerKeys([configuration.adminKey]),
                admin: admin,
                jwtSecret: configuration.jwtSecret,
                stats: { [self] in await stats() }
            )
        )
        return HTTPSurface(router: router, publishEndpoint: publishEndpoint, admin: admin, publisher: publisher)
    }

    /// `GET /v1/admin/stats` (fields: docs/operations.md, "Stats").
    func stats() async -> JSONValue {
        let head = (try? await store.headOffset()) ?? 0
        let pruned = (try? await store.prunedThrough()) ?? 0
        let registryCounts = registry.snapshot.counts
        let open = connections.count
        let subscriptions = await hub.subscriptionCount()
        let nodes = await store.nodes()
        let ownID = store.nodeID
        func entry(_ node: NodeRecord) -> JSONValue {
            .object(JSONObject([
                ("id", .string(node.id)),
                ("address", .string(node.address)),
                ("self", .bool(node.id == ownID)),
                ("connections", .integer(node.connections)),
                ("subscriptions", .integer(node.subscriptions)),
                ("draining", .bool(node.draining)),
                ("delivered_offset", .integer(Int(node.delivered))),
                ("lag", .integer(Int(max(0, nodes.headOffset - node.delivered)))),
                ("started_at_ms", .integer(Int(node.startedAtMs))),
                ("heartbeat_at_ms", .integer(Int(node.heartbeatAtMs))),
                ("heartbeat_age_ms", .integer(Int(max(0, nodes.nowMs - node.heartbeatAtMs)))),
            ]))
        }
        var nodeFields: [(String, JSONValue)] = [
            ("node", .string(ownID)),
            ("nodes", .array(nodes.live.map(entry))),
            ("stale_nodes", .array(nodes.stale.map(entry))),
        ]
        if let error = nodes.error { nodeFields.append(("nodes_error", .string(error))) }
        return .object(JSONObject([
            ("connections", .integer(open)),
            ("subscriptions", .integer(subscriptions)),
            ("events", .object(JSONObject([("head_offset", .integer(head)), ("pruned_through", .integer(pruned)), ("epoch", .string(store.epoch))]))),
            ("registry", .object(JSONObject([
                ("organizations", .integer(registryCounts.organizations)), ("blobs", .integer(registryCounts.blobs)),
                ("revisions", .integer(registryCounts.revisions)), ("members", .integer(registryCounts.members)),
                ("api_keys", .integer(registryCounts.apiKeys)),
            ]))),
        ] + nodeFields))
    }

    /// Runs the node under a service group that drains on SIGTERM/SIGINT.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        var groupConfiguration = ServiceGroupConfiguration(services: services(), gracefulShutdownSignals: signals, logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = configuration.drainTimeout
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch {
            try? await store.close()
            try? await eventLoopGroup?.shutdownGracefully()
            throw error
        }
        try? await store.close()
        try? await eventLoopGroup?.shutdownGracefully()
    }
}
