import ArgumentParser
import BlobHubRealtimeClient
import BlobHubRealtimeProtocol
import UnixSignals
import Foundation

/// `blobhub-realtime listen`: subscribe and print each event as one JSON line; reconnect and resume.
struct ListenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Subscribe and print each event as one JSON line; reconnects and resumes without gaps.",
        discussion: "Exits 0 on SIGINT/SIGTERM, 1 when the credential is refused or revoked."
    )

    @Option(help: "WebSocket URL: ws://127.0.0.1:8080/v1, or wss://realtime.blobhub.io/v1 (TLS, verified against the system trust store).") var url: String
    @Option(help: "wss: trust the CA certificates in this PEM file instead of the system trust store.") var caFile: String?
    @Option(help: "Bearer access token.") var token: String?
    @Option(help: "API key.") var apiKey: String?
    @Option(help: "core or revision.") var scope: String
    @Option(help: "The revision id (scope revision only).") var scopeId: String?
    @Option(help: "user, organization, blob, revision (core) or session, execution (revision).") var target: String
    @Option(help: "The target id.") var targetId: String
    @Option(help: "Comma-separated event types; all when omitted.") var types: String?
    @Option(help: "Replay retained events after this offset first.") var since: Int64?
    @Flag(help: "Send the credential as a subprotocol (as browsers do).") var subprotocol = false

    func validate() throws {
        guard (token == nil) != (apiKey == nil) else { throw ValidationError("give exactly one of --token and --api-key") }
        if caFile != nil, !url.lowercased().hasPrefix("wss://") { throw ValidationError("--ca-file applies to wss:// URLs only") }
        guard SubscriptionScope(rawValue: scope) != nil else { throw ValidationError("--scope: core or revision") }
        guard SubscriptionTarget(rawValue: target) != nil else { throw ValidationError("--target: unknown target '\(target)'") }
    }

    func run() async throws {
        let credential: ClientCredential = token.map(ClientCredential.bearer) ?? .apiKey(apiKey ?? "")
        var configuration = try RealtimeClient.Configuration(url: url, credential: credential, tls: ClientTLS(trustedCAFile: caFile))
        configuration.viaSubprotocol = subprotocol
        let client = RealtimeClient(configuration)
        let subscription = ClientSubscription(
            scope: SubscriptionScope(rawValue: scope)!, scopeID: scopeId, target: SubscriptionTarget(rawValue: target)!, targetID: targetId,
            types: types.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        )
        // SIGINT/SIGTERM close the client, which ends the notice stream and the command.
        let signals = Task {
            for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
                await client.close()
                break
            }
        }
        defer { signals.cancel() }
        do {
            try await client.connect()
            try await client.subscribe(subscription, since: since)
        } catch {
            FileHandle.standardError.write(Data("listen: \(error)\n".utf8))
            throw ExitCode(1)
        }
        var revoked = false
        for await notice in client.notices {
            switch notice {
            case .event(let event):
                let line = JSONObject([
                    ("offset", .number(String(event.offset))), ("scope", .string(event.subscription.scope.rawValue)),
                    ("target", .string(event.subscription.target.rawValue)), ("target_id", .string(event.subscription.targetID)),
                    ("event", event.event),
                ])
                FileHandle.standardOutput.write(Data((JSONWriter.string(.object(line)) + "\n").utf8))
            case .revoked(_, let reason):
                FileHandle.standardError.write(Data("listen: subscription revoked (\(reason))\n".utf8))
                revoked = true
                await client.close()
            case .gap:
                FileHandle.standardError.write(Data("listen: some events could not be recovered\n".utf8))
            case .disconnected(let code):
                FileHandle.standardError.write(Data("listen: disconnected\(code.map { " (\($0))" } ?? ""), reconnecting\n".utf8))
                if code == CloseCode.authenticationExpired.rawValue { revoked = true }
            case .reconnected:
                FileHandle.standardError.write(Data("listen: reconnected\n".utf8))
            }
        }
        if revoked { throw ExitCode(1) }
    }
}

