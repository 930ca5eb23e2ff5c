import BlobHubRealtimeAuth
import BlobHubRealtimeHTTPAPI
import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import BlobHubRealtimeServices
import BlobHubRealtimeTransport
import Foundation
import Logging
import ServiceLifecycle

/// `serve --demo`: seeds a registry, prints credentials and the console link, then runs a workflow
/// execution step by step (one publish per step) every few seconds until shutdown.
struct DemoService: Service {
    static let organizationID = "demo-org"
    static let userID = "demo-user"
    static let blobID = "5F0C6A57-2B8E-4C1E-9A0B-6E1D2C3B4A59"
    static let revisionID = "0A06AB3A-DD72-4D42-939A-61DC4EF69418"
    static let sessionID = "28E70055-DBB4-4CA8-88BC-133D6CEA68E6"

    let server: RealtimeServer
    let admin: AdminService
    let publisher: PublishService
    let jwtSecret: String
    let interval: Duration
    let logger: Logger
    /// Where the banner goes (stdout for people; tests read it).
    let print: @Sendable (String) -> Void

    func run() async throws {
        let port = try await server.waitUntilListening()
        let apiKey = try await seed()
        let token = try await TokenMinter.mintHS256(secret: jwtSecret, userID: Self.userID, ttl: .seconds(24 * 3600))
        let host = server.configuration.host == "0.0.0.0" ? "127.0.0.1" : server.configuration.host
        // With --tls-cert/--tls-key the same port speaks only TLS.
        let secure = server.configuration.tlsCertPath != nil
        let base = "\(secure ? "https" : "http")://\(host):\(port)"
        let link = "\(base)/console#token=\(token)&scope=revision&scope_id=\(Self.revisionID)&target=session&target_id=\(Self.sessionID)&since=0"
        print("""

            BlobHub Realtime demo is running.
              WebSocket:     \(secure ? "wss" : "ws")://\(host):\(port)/v1
              Console:       \(link)
              Bearer token:  \(token)
              API key:       \(apiKey)
              Organization:  \(Self.organizationID)   user: \(Self.userID)
              Blob:          \(Self.blobID)
              Revision:      \(Self.revisionID)
              Session:       \(Self.sessionID)
            Workflow executions run in the session above one step at a time (one publish per
            step), \(interval) apart: open the console link to watch them.

            """)
        var workflow = DemoWorkflow(revisionID: Self.revisionID, sessionID: Self.sessionID)
        while running {
            // One publish per step, as the platform does: the console sees each execution progress.
            for step in workflow.nextExecution() {
                guard await pause(step.pause) else { return }
                do {
                    _ = try await publisher.publish(step.events)
                } catch {
                    logger.warning("demo publish failed", metadata: ["error": "\(error)"])
                }
            }
            guard await pause(interval) else { return }
        }
    }

    private var running: Bool { !Task.isShuttingDownGracefully && !Task.isCancelled }

    /// Sleeps for `duration`; false once the service is shutting down (the sleep ends early then).
    private func pause(_ duration: Duration) async -> Bool {
        if duration > .zero { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) } }
        return running
    }

    /// Registers the demo objects (idempotent upserts) and returns a fresh org-scoped API key.
    private func seed() async throws -> String {
        let commands: [RegistryCommand] = [
            .putOrganization(id: Self.organizationID, body: ["name": "Demo Organization"]),
            .putOrganizationMember(organizationID: Self.organizationID, userID: Self.userID, body: ["role": "admin"]),
            .putBlob(id: Self.blobID, body: ["organization_id": .string(Self.organizationID), "type": "workflow", "visibility": "private"]),
            .putRevision(id: Self.revisionID, body: ["blob_id": .string(Self.blobID), "phase": "draft"]),
        ]
        for command in commands { _ = try await admin.apply(command) }
        let generated = APIKeySecrets.generate()
        _ = try await admin.apply(.createAPIKey(
            body: ["user_id": .string(Self.userID), "target": "orgs", "target_id": .string(Self.organizationID), "role": "read", "description": "demo"],
            keyID: generated.id,
            secret: generated.secret
        ))
        return generated.secret
    }
}
