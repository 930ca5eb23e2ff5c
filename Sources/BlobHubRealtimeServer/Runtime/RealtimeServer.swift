import BlobHubRealtimeAuth
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import Synchronization

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
    private let epoch: String
    private let boundPort = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, any Error>])>((nil, []))

    /// Builds the node; fails with a message naming the flag when a key or setting is unusable.
    public init(configuration: ServerConfiguration, logger: Logger, apiKeys: any APIKeyResolver = NoAPIKeys()) async throws {
        self.configuration = configuration
        self.logger = logger
        self.apiKeys = apiKeys
        var publicKeyPEM: String?
        if let path = configuration.jwtPublicKeyPath {
            do {
                publicKeyPEM = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ServerStartError("--jwt-public-key: cannot read \(path): \(error.localizedDescription)")
            }
        }
        do {
            self.verifier = try await BearerTokenVerifier(
                configuration: .init(
                    hmacSecret: configuration.jwtSecret,
                    publicKeyPEM: publicKeyPEM,
                    issuer: configuration.jwtIssuer,
                    audience: configuration.jwtAudience,
                    leeway: configuration.jwtLeeway
                )
            )
        } catch let error as JWTConfigurationError {
            throw ServerStartError(error.description)
        }
        // Names this node's event log; replaced by the store's epoch once a store exists.
        self.epoch = UUID().uuidString.lowercased()
    }

    /// The port the server listens on, once it does (useful with `--port 0`).
    public func waitUntilListening() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let port: Int? = boundPort.withLock { state in
                if let port = state.port { return port }
                state.waiters.append(continuation)
                return nil
            }
            if let port { continuation.resume(returning: port) }
        }
    }

    private func listening(on port: Int) {
        let waiters = boundPort.withLock { state in
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    /// The services that make up a node, in start order (they stop in reverse: drain first).
    public func services() -> [any Service] {
        let services = ConnectionServices(
            configuration: configuration,
            verifier: verifier,
            registry: connections,
            settings: .init(
                serverName: ServerVersion.name,
                serverVersion: ServerVersion.version,
                epoch: epoch,
                heartbeatIntervalMs: Int(configuration.pingInterval.seconds * 1000),
                maxMessageBytes: configuration.maxMessageBytes,
                maxSubscriptions: configuration.maxSubscriptions
            ),
            logger: logger
        )
        let gate = UpgradeGate(
            authenticator: Authenticator(bearer: verifier, apiKeys: apiKeys),
            registry: connections,
            nodeState: nodeState,
            maxConnections: configuration.maxConnections,
            allowedOrigins: Set(configuration.allowedOrigins)
        )
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        OperationalRoutes.add(to: router, nodeState: nodeState)

        let server = HTTPServerBuilder { responder in
            RealtimeChildChannel(responder: responder, gate: gate, services: services, idleTimeout: nil)
        }
        let application = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { [self] channel in
                listening(on: channel.localAddress?.port ?? configuration.port)
                logger.info("listening", metadata: ["host": "\(configuration.host)", "port": "\(channel.localAddress?.port ?? 0)"])
            },
            logger: logger
        )
        let drain = DrainService(nodeState: nodeState, registry: connections, drainTimeout: configuration.drainTimeout, logger: logger)
        return [application, drain]
    }

    /// Runs the node under a service group that drains on SIGTERM/SIGINT.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        var groupConfiguration = ServiceGroupConfiguration(services: services(), gracefulShutdownSignals: signals, logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = configuration.drainTimeout
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}

/// A start-up failure with a message meant for the operator.
public struct ServerStartError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
