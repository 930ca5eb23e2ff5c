import BlobHubRealtimeClient
import BlobHubRealtimeProtocol
import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Testing

/// The Swift client library against the real server: variants, events, resume without gaps.
@Suite struct ClientLibraryTests {
    private func client(_ server: TestServerHandle, _ credential: ClientCredential, subprotocol: Bool = false) -> RealtimeClient {
        RealtimeClient(.init(port: server.port, credential: credential, viaSubprotocol: subprotocol, initialBackoff: .milliseconds(50), maxBackoff: .milliseconds(500)))
    }

    /// Collects `count` events from the client, bounded in time.
    private func collect(_ client: RealtimeClient, _ count: Int, timeout: Duration = .seconds(15)) async throws -> [ClientEvent] {
        try await collectNotices(client, events: count, timeout: timeout).compactMap { if case .event(let event) = $0 { event } else { nil } }
    }

    /// `body`'s result, or `ByteInbox.Timeout` naming `what` when it takes longer than `timeout`.
    private func bounded<T: Sendable>(_ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw ByteInbox.Timeout(what: what)
            }
            let result = try await group.next()!
            group.cancelAll()
            return result
        }
    }

    /// Publishes 40 events of 30 kB each to the fixture session, more than a client can take from a server run with
    /// `sendQueueLimit = 1` and a 4 KiB send buffer: the server closes it as a slow consumer (4013). The offsets accepted.
    private func publishPastTheSendQueue(_ server: TestServerHandle) async throws -> [Int] {
        let payload = String(repeating: "y", count: 30_000)
        var published: [Int] = []
        for _ in 0..<4 {
            let batch = (0..<10).map { _ in sessionEvent("processor.output", extra: #""data":"\#(payload)""#) }
            published += try await server.publishAccepted("[" + batch.joined(separator: ",") + "]")
        }
        return published
    }

    /// `listSubscriptions()`, asked again while the connection is closed under it (a reconnect in progress), bounded.
    private func listAfterReconnects(_ client: RealtimeClient) async throws -> [ClientSubscription] {
        for _ in 0..<50 {
            do {
                return try await client.listSubscriptions()
            } catch RealtimeClientError.closed {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        return try await client.listSubscriptions()
    }

    /// Collects notices until `events` events arrived, bounded in time.
    private func collectNotices(_ client: RealtimeClient, events count: Int, timeout: Duration = .seconds(15)) async throws -> [ClientNotice] {
        try await bounded(timeout, "\(count) client events") {
            var notices: [ClientNotice] = []
            var events = 0
            for await notice in client.notices {
                notices.append(notice)
                if case .event = notice { events += 1 }
                if events == count { break }
            }
            return notices
        }
    }

    /// The first event of `events` (the events-only view of `notices`), bounded in time.
    private func firstEvent(_ client: RealtimeClient, timeout: Duration = .seconds(15)) async throws -> ClientEvent {
        let event: ClientEvent? = try await bounded(timeout, "an event on client.events") {
            for await event in client.events { return event }
            return nil
        }
        guard let event else { throw ByteInbox.Timeout(what: "an event before client.events ended") }
        return event
    }

    @Test(arguments: [false, true])
    func everyCredentialVariantReceivesEvents(subprotocol: Bool) async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let key = try await server.createAPIKey(target: "orgs", targetID: Fixture.org)
            let clients = [client(server, .bearer(try await server.token()), subprotocol: subprotocol), client(server, .apiKey(key.secret), subprotocol: subprotocol)]
            for client in clients {
                try await client.connect()
                try await client.subscribe(.session(revision: Fixture.revision, session: Fixture.session))
            }
            let offsets = try await server.publishAccepted(sessionEvent("flow.entered", execution: "e1"))
            for client in clients {
                let events = try await collect(client, 2)
                #expect(events.map(\.offset) == [Int64(offsets[0]), Int64(offsets[0] + 1)])
                #expect(events.map(\.type) == ["flow.entered", "execution_started"])
                await client.close()
            }
        }
    }

    @Test func refusedCredentialIsReportedNotRetried() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let client = client(server, .bearer("not-a-token"))
            await #expect(throws: RealtimeClientError.refused(status: 401, message: "invalid credentials")) { try await client.connect() }
            let forbidden = self.client(server, .bearer(try await server.token(user: Fixture.outsider)))
            try await forbidden.connect()
            await #expect(throws: RealtimeClientError.rpc(code: 403, message: "Access forbidden", reason: nil)) {
                try await forbidden.subscribe(.session(revision: Fixture.revision, session: Fixture.session))
            }
            await forbidden.close()
        }
    }

    @Test func authenticateRefreshesInBand() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let client = client(server, .bearer(try await server.token()))
            try await client.connect()
            try await client.authenticate(token: try await server.token(ttl: .seconds(7200)))
            await #expect(throws: RealtimeClientError.self) { try await client.authenticate(token: try await server.token(user: "someone-else")) }
            await client.close()
        }
    }

    /// A slow-consumer close (4013) is followed by a reconnect that resumes exactly where delivery stopped.
    @Test func resumesAfterSlowConsumerClose() async throws {
        try await withPlatform({ $0.sendQueueLimit = 1; $0.socketSendBufferBytes = 4096 }) { (server: TestServerHandle) async throws in
            let client = client(server, .bearer(try await server.token()))
            try await client.connect()
            try await client.subscribe(.session(revision: Fixture.revision, session: Fixture.session))
            let published = try await publishPastTheSendQueue(server)
            let notices = try await collectNotices(client, events: published.count, timeout: .seconds(30))
            let events = notices.compactMap { if case .event(let event) = $0 { event } else { nil } }
            #expect(events.map(\.offset) == published.map(Int64.init))
            // The server really dropped the client as a slow consumer, and it came back.
            #expect(notices.contains { if case .disconnected(code: 4013) = $0 { true } else { false } })
            #expect(notices.contains { if case .reconnected = $0 { true } else { false } })
            await client.close()
        }
    }

    /// The client resumes across a server restart on the same SQLite file without gap or duplicate.
    @Test func resumesAcrossServerRestart() async throws {
        try await withTemporaryDirectory { directory in
            let store = "sqlite:" + directory.appendingPathComponent("log.sqlite").path
            let port = try await ServerProcess.freePort()
            let configure: (inout ServerConfiguration) -> Void = { $0.store = store; $0.port = port }
            let token = JWTCrafter.hs256(claims: #"{"sub":"\#(Fixture.user)","exp":\#(JWTCrafter.now + 3600)}"#)
            let client = RealtimeClient(.init(port: port, credential: .bearer(token), initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(300)))
            var published: [Int] = []
            try await withPlatform(configure) { (server: TestServerHandle) async throws in
                try await client.connect()
                try await client.subscribe(.session(revision: Fixture.revision, session: Fixture.session))
                published += try await server.publishAccepted("[" + [sessionEvent("a"), sessionEvent("b")].joined(separator: ",") + "]")
                #expect(try await collect(client, 2).map(\.offset) == published.map(Int64.init))
            }
            try await withPlatform(configure, seed: false) { (server: TestServerHandle) async throws in
                // Published before the client is back: it must replay them.
                let later = try await server.publishAccepted("[" + [sessionEvent("c"), sessionEvent("d")].joined(separator: ",") + "]")
                let events = try await collect(client, 2)
                #expect(events.map(\.offset) == later.map(Int64.init))
                let live = try await server.publishAccepted(sessionEvent("e"))
                #expect(try await collect(client, 1).map(\.offset) == live.map(Int64.init))
            }
            await client.close()
        }
    }

    // MARK: Subscriptions API

    @Test func listAndUnsubscribeFollowTheServer() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let client = client(server, .bearer(try await server.token()))
            try await client.connect()
            let session = ClientSubscription.session(revision: Fixture.revision, session: Fixture.session)
            let filtered = ClientSubscription(scope: .revision, scopeID: Fixture.revision, target: .execution, targetID: "e-list", types: ["flow.entered"])
            let start = try await client.subscribe(session)
            #expect(start.recovered == nil)
            try await client.subscribe(filtered)
            let listed = try await client.listSubscriptions()
            #expect(Set(listed) == [session, filtered])
            try await client.unsubscribe(session)
            #expect(try await client.listSubscriptions() == [filtered])
            // Nothing of the removed subscription arrives; the remaining one still delivers.
            _ = try await server.publishAccepted(sessionEvent("processor.output"))
            let offsets = try await server.publishAccepted(sessionEvent("flow.entered", execution: "e-list"))
            let event = try await firstEvent(client)
            #expect(event.offset == Int64(offsets[0]))
            #expect(event.subscription == filtered)
            #expect(await client.lastOffset(of: filtered) == Int64(offsets[0]))
            #expect(await client.lastOffset(of: session) == nil)
            await client.close()
        }
    }

    /// A refused `subscribe` changes nothing the client tracks: widening a subscription with a bad type filter
    /// leaves it delivering, and a refused one is not added again after a reconnect (where it would be refused
    /// again and the reconnect would never complete).
    @Test func refusedSubscribeChangesNothing() async throws {
        try await withPlatform({ $0.sendQueueLimit = 1; $0.socketSendBufferBytes = 4096 }) { (server: TestServerHandle) async throws in
            let client = client(server, .bearer(try await server.token()))
            try await client.connect()
            let session = ClientSubscription.session(revision: Fixture.revision, session: Fixture.session)
            try await client.subscribe(session)
            await #expect(throws: RealtimeClientError.self) {
                try await client.subscribe(.session(revision: Fixture.revision, session: Fixture.session, types: ["Not A Type"]))
            }
            await #expect(throws: RealtimeClientError.self) {
                try await client.subscribe(.session(revision: "unknown-revision", session: Fixture.session))
            }
            let first = try await server.publishAccepted(sessionEvent("processor.output"))
            #expect(try await collect(client, 1).map(\.offset) == [Int64(first[0])])
            // A slow-consumer close, then the reconnect adds back only what the server accepted.
            let published = try await publishPastTheSendQueue(server)
            let notices = try await collectNotices(client, events: published.count, timeout: .seconds(30))
            #expect(notices.compactMap { if case .event(let event) = $0 { event.offset } else { nil } } == published.map(Int64.init))
            #expect(notices.contains { if case .reconnected = $0 { true } else { false } })
            // The replay after the reconnect can overflow the one-frame send queue again (a loaded machine reads
            // slowly): then the list request meets a closed connection, and the client reconnects once more.
            #expect(try await listAfterReconnects(client) == [session])
            await client.close()
        }
    }

    /// A request made while the client reconnects fails `.closed` until the subscriptions are added back: one
    /// answered in between would describe a connection without them (the race behind a flaky list above).
    @Test func requestsDuringAReconnectWaitForTheRestoredSubscriptions() async throws {
        try await withPlatform({ $0.sendQueueLimit = 1; $0.socketSendBufferBytes = 4096 }) { (server: TestServerHandle) async throws in
            let client = client(server, .bearer(try await server.token()))
            try await client.connect()
            let session = ClientSubscription.session(revision: Fixture.revision, session: Fixture.session)
            try await client.subscribe(session)
            _ = try await publishPastTheSendQueue(server)
            let disconnected = try await bounded(.seconds(30), "a slow-consumer disconnect") {
                for await notice in client.notices { if case .disconnected = notice { return true } }
                return false
            }
            #expect(disconnected)
            // Ask every millisecond, so a request lands in every phase of the reconnect: the first one answered must
            // already list the subscription. (Not a busy loop: one spinning on the client's actor starves the
            // reconnect it waits for on a loaded machine.)
            let deadline = ContinuousClock.now + .seconds(30)
            var answer: [ClientSubscription]?
            while answer == nil && ContinuousClock.now < deadline {
                do {
                    answer = try await client.listSubscriptions()
                } catch RealtimeClientError.closed {
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            #expect(answer == [session])
            await client.close()
        }
    }

    /// Runs `operation` while `server` is stopped (SIGSTOP: the kernel still accepts connections and takes the
    /// bytes); the error it failed with and how long it took. Bounded: the server resumes after 10 s regardless, so
    /// a client without its timeout is answered then — and the caller's checks fail.
    private func whileStopped(_ server: ServerProcess, _ operation: () async throws -> Void) async -> (RealtimeClientError?, Duration) {
        server.signal(SIGSTOP)
        let started = ContinuousClock.now
        let resume = Task {
            try await Task.sleep(for: .seconds(10))
            server.signal(SIGCONT)
        }
        var failure: RealtimeClientError?
        do {
            try await operation()
        } catch {
            failure = error as? RealtimeClientError
        }
        let waited = ContinuousClock.now - started
        resume.cancel()
        server.signal(SIGCONT)
        return (failure, waited)
    }

    private func stallableServer() async throws -> (ServerProcess, String) {
        let server = try await ServerProcess(arguments: ["--store", "memory", "--jwt-secret", TestSecrets.jwtSecret])
        try await server.waitUntilHealthy()
        return (server, JWTCrafter.hs256(claims: #"{"sub":"u1","exp":\#(JWTCrafter.now + 3600)}"#))
    }

    /// A request to a server that stopped answering fails `.timedOut` after `requestTimeout` instead of waiting
    /// forever; once the server runs again the connection answers.
    @Test func aStalledServerTimesARequestOut() async throws {
        let (server, token) = try await stallableServer()
        defer { server.terminate() }
        let client = RealtimeClient(.init(port: server.port, credential: .bearer(token), requestTimeout: .seconds(1)))
        try await client.connect()
        #expect(try await client.listSubscriptions() == [])
        let (failure, waited) = await whileStopped(server) { _ = try await client.listSubscriptions() }
        #expect(failure == .timedOut)
        #expect(waited >= .milliseconds(900) && waited < .seconds(10))
        #expect(try await client.listSubscriptions() == [])
        await client.close()
    }

    /// A server that accepts the connection and never answers the upgrade: the dial fails `.timedOut` (a reconnect
    /// then tries again) instead of waiting forever.
    @Test func aStalledServerTimesTheConnectOut() async throws {
        let (server, token) = try await stallableServer()
        defer { server.terminate() }
        let client = RealtimeClient(.init(port: server.port, credential: .bearer(token), connectTimeout: .seconds(1)))
        let (failure, waited) = await whileStopped(server) { try await client.connect() }
        #expect(failure == .timedOut)
        #expect(waited >= .milliseconds(900) && waited < .seconds(10))
        // Resumed, the server is dialled again as usual.
        try await client.connect()
        #expect(try await client.listSubscriptions() == [])
        await client.close()
    }

    /// A reconnect attempt whose connection closes (4013) in the same write as its re-subscription's answer: the
    /// client may read the close before the reconnect loop resumes from that answer. The loop must then try
    /// again rather than report `.reconnected` over a dead connection (CI saw a client stop there for good).
    @Test func aCloseTogetherWithTheResubscribeAnswerIsNotMissed() async throws {
        let droppingAttempts = 50
        let server = try await ScriptedWebSocketServer.start { request in
            guard let id = request.id else { return [] }
            switch request.method {
            case RPCMethod.initialize.rawValue:
                return [.text(#"{"jsonrpc":"2.0","id":\#(id),"result":{"epoch":"e1"}}"#)]
            case RPCMethod.subscriptionAdd.rawValue where request.connection <= droppingAttempts:
                // The answer, a few replayed events (the client reads on while the loop waits to resume), the close.
                let events = (1...3).map { n in
                    ScriptedWebSocketServer.Reply.text(#"{"jsonrpc":"2.0","method":"subscription/event","params":{"scope":"revision","scope_id":"\#(Fixture.revision)","target":"session","target_id":"\#(Fixture.session)","offset":\#(request.connection * 10 + n),"event":{"type":"t"}}}"#)
                }
                return [.text(#"{"jsonrpc":"2.0","id":\#(id),"result":{}}"#)] + events + [.close(CloseCode.slowConsumer.rawValue)]
            case RPCMethod.subscriptionList.rawValue:
                return [.text(#"{"jsonrpc":"2.0","id":\#(id),"result":{"subscriptions":[]}}"#)]
            default:
                return [.text(#"{"jsonrpc":"2.0","id":\#(id),"result":{}}"#)]
            }
        }
        let client = RealtimeClient(.init(port: server.port, credential: .apiKey("k"), initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(10)))
        try await client.connect()
        try await client.subscribe(.session(revision: Fixture.revision, session: Fixture.session))
        // Every attempt up to `droppingAttempts` drops; the next one stays open and must be reached. A client that
        // stopped reconnecting opens no connection any more: fail after 10 s without one (a loaded machine is
        // slow, not stuck), within 120 s in all.
        var reached = server.connections, lastProgress = ContinuousClock.now
        let start = ContinuousClock.now
        while reached <= droppingAttempts {
            try #require(ContinuousClock.now - lastProgress < .seconds(10), "no reconnect attempt after connection \(reached) for 10 s")
            try #require(ContinuousClock.now - start < .seconds(120), "only \(reached) connections in 120 s")
            try await Task.sleep(for: .milliseconds(10))
            if server.connections != reached { (reached, lastProgress) = (server.connections, .now) }
        }
        #expect(try await listAfterReconnects(client) == [])
        #expect(server.connections == droppingAttempts + 1)
        await client.close()
        await server.stop()
    }

    @Test func subscribeWithSinceReportsTheReplay() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let offsets = try await server.publishAccepted("[" + [sessionEvent("a"), sessionEvent("b")].joined(separator: ",") + "]")
            let client = client(server, .bearer(try await server.token()))
            try await client.connect()
            let start = try await client.subscribe(.session(revision: Fixture.revision, session: Fixture.session), since: Int64(offsets[0]) - 1)
            #expect(start.recovered == true)
            #expect(start.headOffset == Int64(offsets[1]))
            #expect(start.epoch?.isEmpty == false)
            #expect(try await collect(client, 2).map(\.offset) == offsets.map(Int64.init))
            await client.close()
        }
    }

    // MARK: URLs and TLS

    @Test func urlsPickTheTransportAndDefaultPort() throws {
        let secure = try RealtimeClient.Configuration(url: "wss://realtime.blobhub.io/v1", credential: .apiKey("k"))
        #expect(secure.host == "realtime.blobhub.io" && secure.port == 443 && secure.path == "/v1" && secure.tls == ClientTLS())
        let plain = try RealtimeClient.Configuration(url: "ws://127.0.0.1:8080", credential: .apiKey("k"))
        #expect(plain.port == 8080 && plain.path == "/v1" && plain.tls == nil)
        let custom = try RealtimeClient.Configuration(url: "WSS://h:8443/v1", credential: .apiKey("k"), tls: ClientTLS(trustedCAFile: "/ca.pem"))
        #expect(custom.port == 8443 && custom.tls?.trustedCAFile == "/ca.pem")
        for bad in ["http://h/v1", "realtime.blobhub.io/v1", "wss:///v1"] {
            #expect(throws: RealtimeClientError.invalidURL(bad)) { try RealtimeClient.Configuration(url: bad, credential: .apiKey("k")) }
        }
    }

    /// `wss://` to a server started with `--tls-cert/--tls-key`, by name and by IP address (the certificate
    /// carries both), trusting that certificate as the CA.
    @Test(arguments: ["localhost", "127.0.0.1"])
    func wssConnectsToATLSServer(host: String) async throws {
        try await withTLSServer { server, certificate in
            try await server.seed()
            var configuration = try RealtimeClient.Configuration(
                url: "wss://\(host):\(server.port)/v1", credential: .bearer(try await server.token()),
                tls: ClientTLS(trustedCAFile: certificate.certificatePath)
            )
            configuration.initialBackoff = .milliseconds(50)
            let client = RealtimeClient(configuration)
            try await client.connect()
            try await client.subscribe(.session(revision: Fixture.revision, session: Fixture.session))
            let offsets = try await server.publishAccepted(sessionEvent("processor.output"))
            #expect(try await collect(client, 1).map(\.offset) == [Int64(offsets[0])])
            await client.close()
        }
    }

    /// The server's certificate is verified: not trusted by the system store, or issued for another name,
    /// the connection fails; an unreadable CA file is reported as a TLS error.
    @Test func wssVerifiesTheServer() async throws {
        try await withTLSServer(certificateWithIPAddress: false) { server, certificate in
            let token = try await server.token()
            let url = "wss://localhost:\(server.port)/v1"
            let untrusted = RealtimeClient(try .init(url: url, credential: .bearer(token)))
            await #expect(throws: (any Error).self) { try await untrusted.connect() }
            let wrongName = RealtimeClient(try .init(url: url, credential: .bearer(token),
                                                     tls: ClientTLS(trustedCAFile: certificate.certificatePath, serverName: "realtime.example.org")))
            await #expect(throws: (any Error).self) { try await wrongName.connect() }
            let missing = RealtimeClient(try .init(url: url, credential: .bearer(token), tls: ClientTLS(trustedCAFile: "/nonexistent/ca.pem")))
            do {
                try await missing.connect()
                Issue.record("connected with a CA file that does not exist")
            } catch let error as RealtimeClientError {
                guard case .tls(let message) = error else { Issue.record("expected .tls, got \(error)"); return }
                #expect(message.contains("/nonexistent/ca.pem"))
            }
            // And the same server accepts the client that trusts its certificate.
            let trusting = RealtimeClient(try .init(url: url, credential: .bearer(token), tls: ClientTLS(trustedCAFile: certificate.certificatePath)))
            try await trusting.connect()
            await trusting.close()
            await untrusted.close()
            await wrongName.close()
            await missing.close()
        }
    }
}
