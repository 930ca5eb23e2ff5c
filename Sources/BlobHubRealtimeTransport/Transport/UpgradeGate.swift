import BlobHubRealtimeAuth
import BlobHubRealtimeServices
import Foundation
import NIOHTTP1

/// An HTTP answer that refuses a WebSocket upgrade before the WebSocket exists.
struct UpgradeRejection: Error, Sendable, Equatable {
    var status: HTTPResponseStatus
    var message: String
    var extraHeaders: [(String, String)] = []

    static func == (lhs: UpgradeRejection, rhs: UpgradeRejection) -> Bool {
        lhs.status == rhs.status && lhs.message == rhs.message
    }
}

/// Decides whether an upgrade request may become a WebSocket (SPEC §3): path, capacity, drain,
/// origin, protocol version, then credentials.
package struct UpgradeGate: Sendable {
    let authenticator: Authenticator
    let connections: ConnectionRegistry
    let nodeState: NodeState
    let maxConnections: Int
    let allowedOrigins: Set<String>
    let metrics: ServerMetrics

    package init(authenticator: Authenticator, connections: ConnectionRegistry, nodeState: NodeState, maxConnections: Int, allowedOrigins: Set<String>, metrics: ServerMetrics) {
        self.authenticator = authenticator
        self.connections = connections
        self.nodeState = nodeState
        self.maxConnections = maxConnections
        self.allowedOrigins = allowedOrigins
        self.metrics = metrics
    }

    static func isRealtimePath(_ uri: String) -> Bool {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return path == "/v1" || path == "/v1/"
    }

    /// Checks that need no I/O; nil when the request may go on to authentication.
    func precheck(_ head: HTTPRequestHead) -> UpgradeRejection? {
        guard Self.isRealtimePath(head.uri) else { return .init(status: .notFound, message: "Not found") }
        guard head.method == .GET else { return .init(status: .methodNotAllowed, message: "Method not allowed") }
        guard !nodeState.isDraining else { return .init(status: .serviceUnavailable, message: "Server is draining") }
        guard connections.count < maxConnections else {
            return .init(status: .serviceUnavailable, message: "Too many connections", extraHeaders: [("Retry-After", "1")])
        }
        if !allowedOrigins.isEmpty, let origin = head.headers.first(name: "Origin"), !allowedOrigins.contains(origin) {
            return .init(status: .forbidden, message: "Origin not allowed")
        }
        guard head.headers.first(name: "Sec-WebSocket-Version") == "13" else {
            return .init(status: .badRequest, message: "Unsupported WebSocket version", extraHeaders: [("Sec-WebSocket-Version", "13")])
        }
        guard let key = head.headers.first(name: "Sec-WebSocket-Key"), Data(base64Encoded: key)?.count == 16 else {
            return .init(status: .badRequest, message: "Invalid Sec-WebSocket-Key")
        }
        return nil
    }

    /// The checks without I/O, counted in the handshake metrics when they refuse: run on the event loop so
    /// that a full or draining node turns upgrades away without starting a task for each.
    func refuseAtOnce(_ head: HTTPRequestHead) -> UpgradeRejection? {
        guard let rejection = precheck(head) else { return nil }
        metrics.handshake(HandshakeOutcome(rejection: Int(rejection.status.code)))
        return rejection
    }

    /// The rest of the decision, for a request ``refuseAtOnce(_:)`` let through: the authenticated client, or
    /// the HTTP answer that refuses the upgrade.
    func decide(_ head: HTTPRequestHead) async -> Result<AuthenticatedClient, UpgradeRejection> {
        let result = await authorize(head)
        switch result {
        case .success: metrics.handshake(.accepted)
        case .failure(let rejection): metrics.handshake(HandshakeOutcome(rejection: Int(rejection.status.code)))
        }
        return result
    }

    private func authorize(_ head: HTTPRequestHead) async -> Result<AuthenticatedClient, UpgradeRejection> {
        do {
            switch try await authenticator.authenticate(headers: head.headers) {
            case .success(let client):
                return .success(client)
            case .failure(let failure):
                return .failure(.init(status: .unauthorized, message: failure.message, extraHeaders: [("WWW-Authenticate", "Bearer")]))
            }
        } catch {
            // The credential store could not be asked: not the client's fault.
            return .failure(.init(status: .serviceUnavailable, message: "Authentication unavailable"))
        }
    }
}
