import BlobHubRealtimeIdentity
import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import BlobHubRealtimeSession
import Foundation

/// Drives one `ConnectionSession` (the protocol state, SPEC §5–§6) through a sequence of WebSocket messages
/// request by request, and the transport's `ConnectionStateMachine` through the same messages, and traps when
/// an invariant breaks or the two disagree.
///
/// Input: lines separated by `\n`. The first line picks the principal by its first byte (mod 4):
/// `0` user-1 (a member of org-1), `1` user-2 (no organization; a member of blob-3), `2` an API key
/// of user-1 scoped to org-1, `3` an API key of user-1 scoped to blob-1. Every other line is one
/// WebSocket text message (decoded by the real `RPCDecoder`; a batch is answered as one array),
/// except a line starting with `!`: its next byte (mod 4) selects a registry variant, after which
/// the session is revalidated as on a registry change (SPEC §6.6). `status/authenticate` tokens are
/// simulated: `user-…` verifies as that user, anything else is invalid.
///
/// Invariants: the subscription count never exceeds `maxSubscriptions`; before `status/initialize`
/// only ping and initialize can succeed; failures change nothing; every `.subscribed` key is in
/// `subscriptions` afterwards (merged filters only widen) and every `.unsubscribed` key is gone;
/// every subscription is readable by the principal under the current registry; re-authentication
/// never changes the user or the principal's kind; every response and notification is valid JSON
/// (re-parsed with `JSONParser`) echoing the request id; batches answer one entry per request with an id.
enum SessionHarness {
    static let settings = ConnectionSession.Settings(
        serverName: "fuzz", serverVersion: "0", epoch: "epoch-1", heartbeatIntervalMs: 25_000, maxMessageBytes: 4096, maxSubscriptions: 4
    )
    static let principals: [Principal] = [
        .user(UserPrincipal(userID: "user-1", expiresAt: Date(timeIntervalSince1970: 2_000_000_000))),
        .user(UserPrincipal(userID: "user-2", expiresAt: Date(timeIntervalSince1970: 2_000_000_000))),
        .apiKey(APIKeyPrincipal(keyID: "key-1", userID: "user-1", target: .organization("org-1"), role: .read)),
        .apiKey(APIKeyPrincipal(keyID: "key-2", userID: "user-1", target: .blob("blob-1"), role: .read)),
    ]

    /// 0: the base registry; 1: user-1 left org-1; 2: blob-1 (and its revisions) deleted; 3: blob-2 made private.
    static let registries: [RegistrySnapshot] = {
        let base = build(from: RegistrySnapshot(), [
            .putOrganization(id: "org-1", body: ["name": "one"]),
            .putOrganization(id: "org-2", body: ["name": "two"]),
            .putOrganizationMember(organizationID: "org-1", userID: "user-1", body: ["role": "read"]),
            .putBlob(id: "blob-1", body: ["organization_id": "org-1", "type": "workflow", "visibility": "private"]),
            .putBlob(id: "blob-2", body: ["organization_id": "org-2", "type": "workflow", "visibility": "public"]),
            .putBlob(id: "blob-3", body: ["organization_id": "org-1", "type": "scheduler", "visibility": "private"]),
            .putBlobMember(blobID: "blob-3", userID: "user-2", body: ["role": "read"]),
            .putRevision(id: "rev-1", body: ["blob_id": "blob-1", "phase": "draft"]),
            .putRevision(id: "rev-2", body: ["blob_id": "blob-1", "phase": "draft"]),
            .putRevision(id: "rev-3", body: ["blob_id": "blob-2", "phase": "draft"]),
            .putRevision(id: "rev-4", body: ["blob_id": "blob-3", "phase": "draft"]),
        ])
        return [
            base,
            build(from: base, [.deleteOrganizationMember(organizationID: "org-1", userID: "user-1")]),
            build(from: base, [.deleteBlob(id: "blob-1")]),
            build(from: base, [.putBlob(id: "blob-2", body: ["organization_id": "org-2", "type": "workflow", "visibility": "private"])]),
        ]
    }()

    private static func build(from start: RegistrySnapshot, _ commands: [RegistryCommand]) -> RegistrySnapshot {
        var registry = start
        for command in commands {
            do {
                _ = try registry.apply(command, nowMs: 0)
            } catch {
                fatalError("fuzz setup: \(command) failed: \(error)")
            }
        }
        return registry
    }

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)[...]
        guard let header = lines.popFirst() else { return }
        let principal = principals[Int(header.first ?? 0) % principals.count]
        var session = ConnectionSession(connectionID: "conn-1", principal: principal, settings: settings)
        var machine = MachineDriver(principal: principal)
        var registry = registries[0]
        for line in lines {
            if line.first == UInt8(ascii: "!") {
                registry = registries[Int(line.dropFirst().first ?? 0) % registries.count]
                revalidate(&session, registry: registry)
                machine.revalidate(registry)
            } else {
                message(Array(line), &session, registry: registry)
                machine.receive(Array(line), registry: registry)
            }
            checkState(session, principal: principal, registry: registry)
            // The transport's state machine over the same input ends where the session stepped by hand does.
            require(machine.machine.session.isInitialized == session.isInitialized, "the state machine disagrees on initialization")
            require(machine.machine.session.principal == session.principal, "the state machine disagrees on the principal")
            require(sameSubscriptions(machine.machine.session, session), "the state machine disagrees on the subscriptions")
        }
    }

    /// Drives a ``ConnectionStateMachine`` as `WebSocketConnectionHandler` does, completing its async work at once
    /// (the simulated verifier; replays that find nothing, with a live event held meanwhile), and checks what it
    /// asks of the transport: every message is valid JSON, each request with an id is answered once and in order,
    /// a replay's result comes before its events, and the fan-out index follows the subscriptions.
    struct MachineDriver {
        var machine: ConnectionStateMachine<Int64>
        /// The fan-out index as the actions built it.
        var indexed: Set<SubscriptionKey> = []
        var offset: Int64 = 0

        init(principal: Principal) {
            machine = ConnectionStateMachine(session: ConnectionSession(connectionID: "conn-1", principal: principal, settings: settings),
                                             rate: 1_000_000, burst: 1_000_000, holdLimit: 8, now: 0)
        }

        mutating func receive(_ bytes: [UInt8], registry: RegistrySnapshot) {
            let expected = SessionHarness.answeredIDs(bytes)
            var answered: [String] = []
            var pending = machine.received(bytes, registry: registry, now: 0)
            while !pending.isEmpty {
                var next: [ConnectionStateMachine<Int64>.Action] = []
                for (index, action) in pending.enumerated() {
                    switch action {
                    case .send(let payload):
                        guard let parsed = try? JSONParser.parse(payload, maxDepth: RPCDecoder.maxDepth + 8) else {
                            fail("the state machine sent something that is not JSON: \(String(decoding: payload, as: UTF8.self))")
                        }
                        for answer in parsed.arrayValue ?? [parsed] { answered.append(SessionHarness.idText(answer.objectValue?["id"])) }
                    case .sendFrame, .sendReplayed:
                        break
                    case .verifyToken(let token):
                        next += machine.authenticationFinished(verify(token), registry: registry, now: 0)
                    case .loadReplay(let key, let since, _):
                        require(since >= 0, "a negative since reached the transport")
                        // A live event of the key arrives while the log is read: it is held, then sent.
                        offset += 1
                        require(machine.admission(of: key, type: "t", offset: offset, filtered: false) == .hold, "no hold during a replay")
                        require(machine.hold(offset, offset: offset, key: key), "one held event overflowed")
                        let after = machine.replayFinished(.success(Replay(result: .object(JSONObject()), events: [])), registry: registry, now: 0)
                        require(after.contains { if case .sendFrame(offset) = $0 { true } else { false } }, "the held event was not sent")
                        next += after
                    case .subscribe(let key, _, _):
                        // A batch may add a key and remove it again: the transport applies the actions in order,
                        // so an index entry for a key no longer subscribed must be taken out by a later action.
                        let removedLater = pending[(index + 1)...].contains { if case .unsubscribe(key) = $0 { true } else { false } }
                        require(machine.session.subscriptions[key] != nil || removedLater, "the fan-out was told of a key that is not subscribed")
                        indexed.insert(key)
                    case .unsubscribe(let key):
                        indexed.remove(key)
                    case .credentialChanged:
                        require(machine.session.principal.expiresAt != nil, "a credential change without an expiry")
                    case .close:
                        fail("the state machine closed a connection that is within its rate")
                    }
                }
                pending = next
            }
            require(answered == expected, "answers \(answered) for requests \(expected)")
            require(indexed == Set(machine.session.subscriptions.keys), "the fan-out index and the subscriptions differ")
        }

        mutating func revalidate(_ registry: RegistrySnapshot) {
            for action in machine.revalidate(registry) {
                if case .unsubscribe(let key) = action { indexed.remove(key) }
            }
            require(indexed == Set(machine.session.subscriptions.keys), "revalidation left the fan-out index behind")
        }
    }

    /// The ids a message's answer must carry, in order: every request with an id and every invalid entry.
    static func answeredIDs(_ bytes: [UInt8]) -> [String] {
        let entries: [RPCEntry] = switch RPCDecoder.decode(bytes) {
        case .single(let entry): [entry]
        case .batch(let batch): batch
        }
        return entries.compactMap { entry in
            switch entry {
            case .request(let request): request.id.map { idText($0.json) }
            case .invalid(let id, _): idText(id?.json ?? .null)
            }
        }
    }

    static func idText(_ value: JSONValue?) -> String {
        value.map { String(decoding: JSONWriter.serialize($0), as: UTF8.self) } ?? "none"
    }

    // MARK: One message, as WebSocketConnectionHandler processes it

    private static func message(_ bytes: [UInt8], _ session: inout ConnectionSession, registry: RegistrySnapshot) {
        let entries: [RPCEntry]
        let isBatch: Bool
        switch RPCDecoder.decode(bytes) {
        case .single(let entry): (entries, isBatch) = ([entry], false)
        case .batch(let batch): (entries, isBatch) = (batch, true)
        }
        var responses: [[UInt8]] = []
        for entry in entries {
            switch entry {
            case .invalid(let id, let error):
                let response = RPCEncoder.error(id: id, error: error)
                ProtocolHarness.checkResponse(response, id: id)
                responses.append(response)
            case .request(let request):
                let result = handle(request, &session, registry: registry)
                guard let id = request.id else { continue }  // notifications are never answered
                let response: [UInt8]
                switch result {
                case .success(let value): response = RPCEncoder.result(id: id, result: value)
                case .failure(let error): response = RPCEncoder.error(id: id, error: error)
                }
                ProtocolHarness.checkResponse(response, id: id)
                responses.append(response)
            }
        }
        guard !responses.isEmpty else { return }
        let payload = isBatch ? RPCEncoder.batch(responses) : responses[0]
        guard let parsed = try? JSONParser.parse(payload, maxDepth: RPCDecoder.maxDepth + 8) else {
            fail("the answer to a message is not JSON: \(String(decoding: payload, as: UTF8.self))")
        }
        if isBatch {
            require(parsed.arrayValue?.count == responses.count, "a batch answer lost or gained entries")
        } else {
            require(parsed.objectValue != nil, "a single answer is not an object")
        }
    }

    /// One request through `handle` and whatever the step asks of the transport; returns the answer.
    private static func handle(_ request: RPCRequest, _ session: inout ConnectionSession, registry: RegistrySnapshot) -> Result<JSONValue, RPCError> {
        let before = session
        let method = RPCMethod(rawValue: request.method)
        let step = session.handle(request, registry: registry)

        require(session.isInitialized == (before.isInitialized || (method == .initialize && step.isSuccess)), "initialization changed unexpectedly")
        require(session.principal == before.principal, "handle changed the principal")
        if method == nil { require(step.errorCode == .methodNotSupported, "an unknown method was not refused with methodNotSupported") }
        if method == .ping { require(step.isSuccess, "ping failed") }
        if method == .initialize && before.isInitialized { require(!step.isSuccess, "initialized twice") }
        if !before.isInitialized, method != .ping, method != .initialize {
            require(!step.isSuccess, "\(request.method) succeeded before initialize")
            require(sameSubscriptions(session, before), "a request before initialize changed subscriptions")
        }

        switch step {
        case .done(.failure(let error)):
            require(sameSubscriptions(session, before), "a failed request changed subscriptions")
            return .failure(error)

        case .done(.success(let value)):
            require(method != .subscriptionAdd && method != .authenticate, "\(request.method) answered without its step")
            if method == .subscriptionRemove {
                require(Set(session.subscriptions.keys).isSubset(of: Set(before.subscriptions.keys)), "a remove added a subscription")
            } else {
                require(sameSubscriptions(session, before), "\(request.method) changed subscriptions")
            }
            if method == .subscriptionList {
                let listed = value.objectValue?["subscriptions"]?.arrayValue
                require(listed?.count == session.subscriptions.count, "subscription/list does not list every subscription")
            }
            return .success(value)

        case .verifyToken(let token):
            require(method == .authenticate && before.isInitialized, "verifyToken outside status/authenticate")
            guard case .user(let current) = session.principal else { fail("an API-key connection was asked to re-authenticate") }
            require(sameSubscriptions(session, before), "authenticate changed subscriptions")
            let outcome = verify(token)
            let result = session.finishAuthentication(outcome)
            if case .success(let user) = outcome, user.userID == current.userID {
                require(result.isSuccess && session.principal == .user(user), "a valid token of the same user was refused")
            } else {
                require(!result.isSuccess && session.principal == before.principal, "re-authentication accepted another user or an invalid token")
            }
            require(session.principal.userID == before.principal.userID, "re-authentication changed the user")
            require(sameSubscriptions(session, before), "re-authentication changed subscriptions")
            return result

        case .subscribed(let key, let isNew, let since, let epoch):
            require(method == .subscriptionAdd && before.isInitialized, ".subscribed outside subscription/add")
            guard let subscription = session.subscriptions[key] else { fail(".subscribed key is not in subscriptions") }
            require(isNew == (before.subscriptions[key] == nil), "isNew disagrees with the previous subscriptions")
            require(Set(session.subscriptions.keys) == Set(before.subscriptions.keys).union([key]), "subscription/add touched other subscriptions")
            require(AccessPolicy.canRead(session.registryPrincipal, key, in: registry), "subscribed without read access")
            require((since ?? 0) >= 0, "a negative since reached the transport")
            if let old = before.subscriptions[key] {
                if let types = subscription.types {
                    require(Set(old.types ?? []).isSubset(of: Set(types)) && old.types != nil, "merging narrowed the type filter")
                }
            } else {
                checkPrefix(subscription)
            }
            // The transport replays from `since` and answers with the log position (ReplayResult.json).
            guard let since else { return .success(.object(JSONObject())) }
            let recovered = epoch == nil || epoch == settings.epoch
            return .success(.object(JSONObject([("offset", .integer(since)), ("recovered", .bool(recovered)), ("epoch", .string(settings.epoch))])))

        case .unsubscribed(let key):
            require(method == .subscriptionRemove && before.isInitialized, ".unsubscribed outside subscription/remove")
            require(before.subscriptions[key] != nil, ".unsubscribed for a key that was not subscribed")
            require(session.subscriptions[key] == nil, ".unsubscribed key is still in subscriptions")
            require(Set(session.subscriptions.keys) == Set(before.subscriptions.keys).subtracting([key]), "subscription/remove touched other subscriptions")
            return .success(.object(JSONObject()))
        }
    }

    /// The simulated token verifier: `user-…` is a valid token of that user, anything else is refused.
    private static func verify(_ token: String) -> Result<UserPrincipal, AuthenticationFailure> {
        guard token.hasPrefix("user-") else { return .failure(token.isEmpty ? .missingCredentials : .invalidCredentials) }
        return .success(UserPrincipal(userID: token, expiresAt: Date(timeIntervalSince1970: 2_100_000_000)))
    }

    /// A registry change: the lost subscriptions are exactly the unreadable ones (SPEC §6.6).
    private static func revalidate(_ session: inout ConnectionSession, registry: RegistrySnapshot) {
        let before = session
        let lost = session.revalidate(registry: registry)
        let lostKeys = Set(lost.map(\.key))
        require(lostKeys.count == lost.count, "revalidate reported a subscription twice")
        require(lostKeys.isDisjoint(with: Set(session.subscriptions.keys)), "a revoked subscription is still active")
        require(lostKeys.union(session.subscriptions.keys) == Set(before.subscriptions.keys), "revalidate lost track of subscriptions")
        for subscription in lost {
            require(!AccessPolicy.canRead(session.registryPrincipal, subscription.key, in: registry), "revalidate dropped a readable subscription")
            // The notification the transport sends for it.
            let params = JSONValue.object(JSONObject(subscription.identityFields + [("reason", .string("access revoked"))]))
            checkJSON(RPCEncoder.notification(method: RPCNotificationMethod.subscriptionRevoked.rawValue, params: params))
        }
    }

    /// After every line: the limits and the access policy hold for every subscription.
    private static func checkState(_ session: ConnectionSession, principal: Principal, registry: RegistrySnapshot) {
        require(session.subscriptions.count <= settings.maxSubscriptions, "more subscriptions than maxSubscriptions")
        require(session.isInitialized || session.subscriptions.isEmpty, "subscriptions before initialize")
        require(session.principal.userID == principal.userID, "the connection changed user")
        switch (session.principal, principal) {
        case (.user, .user), (.apiKey, .apiKey): break
        default: fail("the principal changed kind")
        }
        for (key, subscription) in session.subscriptions {
            require(subscription.key == key, "a subscription is stored under another key")
            require(AccessPolicy.canRead(session.registryPrincipal, key, in: registry), "an active subscription is not readable")
            if let types = subscription.types {
                require(!types.isEmpty && Set(types).count == types.count, "an active type filter is empty or repeats a type")
            }
        }
    }

    /// The notification prefix, completed as the fan-out does, is one valid `subscription/event`.
    private static func checkPrefix(_ subscription: ActiveSubscription) {
        let frame = subscription.prefix + Array(#"42,"event":{"type":"t"}}}"#.utf8)
        guard case .object(let object)? = try? JSONParser.parse(frame, maxDepth: RPCDecoder.maxDepth),
              let params = object["params"]?.objectValue
        else { fail("a notification prefix does not make valid JSON: \(String(decoding: frame, as: UTF8.self))") }
        require(object["method"] == .string(RPCNotificationMethod.subscriptionEvent.rawValue), "a notification prefix names another method")
        require(params["scope_id"] == (subscription.scopeID.map(JSONValue.string) ?? .null), "a notification does not echo scope_id")
        require(params["target_id"] == .string(subscription.targetID), "a notification does not echo target_id")
        require(params["offset"] == .integer(42), "a notification lost its offset")
    }

    private static func checkJSON(_ bytes: [UInt8]) {
        require((try? JSONParser.parse(bytes, maxDepth: RPCDecoder.maxDepth + 8)) != nil, "not JSON: \(String(decoding: bytes, as: UTF8.self))")
    }

    private static func sameSubscriptions(_ a: ConnectionSession, _ b: ConnectionSession) -> Bool {
        a.subscriptions.count == b.subscriptions.count
            && a.subscriptions.allSatisfy { key, subscription in b.subscriptions[key]?.types == subscription.types }
    }

    private static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fail(message()) }
    }

    private static func fail(_ message: String) -> Never {
        fatalError("fuzz invariant (session): \(message)")
    }
}

extension ConnectionSession.Step {
    fileprivate var isSuccess: Bool {
        if case .done(.failure) = self { return false }
        return true
    }

    fileprivate var errorCode: RPCErrorCode? {
        if case .done(.failure(let error)) = self { return error.code }
        return nil
    }
}

extension Result {
    fileprivate var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
