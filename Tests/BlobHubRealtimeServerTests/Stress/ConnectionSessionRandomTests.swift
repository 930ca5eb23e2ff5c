@testable import BlobHubRealtimeServer
@testable import BlobHubRealtimeHTTPAPI
@testable import BlobHubRealtimeServices
@testable import BlobHubRealtimeTransport
import BlobHubRealtimeAuth
import BlobHubRealtimeProtocol
import BlobHubRealtimeRegistry
import BlobHubRealtimeSession
import Foundation
import NIOCore
import Testing

/// The connection state machine under random request sequences, in the normal suite (libFuzzer's
/// `session` target explores it further under the sanitizers, see Fuzz/README.md). Deterministic: a
/// failure names its seed.
/// Inputs mix well-formed requests over a small id pool with mutated seed-corpus messages.
@Suite struct ConnectionSessionRandomTests {
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func randomRequestSequencesKeepTheSessionConsistent(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let registry = try Self.registry()
        let corpus = try GarbageTests.corpus()
        let settings = ConnectionSession.Settings(
            serverName: "s", serverVersion: "1", epoch: "e", heartbeatIntervalMs: 1, maxMessageBytes: 1 << 16, maxSubscriptions: 5
        )
        var seen: [String: Int] = [:]
        for sessionNumber in 0..<200 {
            let principal: Principal = sessionNumber % 3 == 0
                ? .apiKey(APIKeyPrincipal(keyID: "k", userID: "user-1", target: .blob("blob-1"), role: .read))
                : .user(UserPrincipal(userID: sessionNumber % 3 == 1 ? "user-1" : "user-2", expiresAt: Date(timeIntervalSinceNow: 3600)))
            var session = ConnectionSession(connectionID: "c\(sessionNumber)", principal: principal, settings: settings)
            for step in 0..<Int.random(in: 1...60, using: &random) {
                let message = Self.message(&random, corpus: corpus)
                let context = "seed \(seed), session \(sessionNumber), step \(step): \(String(decoding: message, as: UTF8.self))"
                let entries: [RPCEntry]
                switch RPCDecoder.decode(message) {
                case .single(let entry): entries = [entry]
                case .batch(let batch): entries = batch
                }
                for case .request(let request) in entries {
                    let step = try Self.check(&session, request, registry: registry, context)
                    seen[step.kind, default: 0] += 1
                }
            }
        }
        // The sequences reach every kind of outcome, so the checks above were exercised.
        for kind in ["success", "failure", "subscribed", "merged", "unsubscribed", "verifyToken"] {
            #expect(seen[kind, default: 0] >= 30, "\(kind): \(seen)")
        }
    }

    /// The session target encodes each subscription's notification prefix; the fan-out completes it
    /// into a frame. The result is the SPEC §7.1 notification, ids echoed as written (escapes included).
    @Test func eventPrefixAndFrameMakeTheNotification() throws {
        for target in SubscriptionTarget.allCases {
            for scopeID in [nil, "rev-1", "R\u{e9}v \"1\"\\\n"] as [String?] {
                for targetID in ["s-1", "ÄBC-\u{1}", "0F8FAD5B-D9CB-469F-A165-70867728950E"] {
                    let prefix = ActiveSubscription.eventPrefix(scope: target.scope, scopeID: scopeID, target: target, targetID: targetID)
                    let frame = DeliveryFrame.make(prefix: prefix, offset: 42, json: Array(#"{"type":"t"}"#.utf8), allocator: ByteBufferAllocator())
                    let bytes = Array(frame.readableBytesView)
                    // A text frame (server frames are unmasked): 2, 4 or 10 header bytes, then the notification.
                    #expect(bytes[0] == 0x81)
                    let header = bytes[1] & 0x7F < 126 ? 2 : (bytes[1] & 0x7F == 126 ? 4 : 10)
                    let payload = Data(bytes[header...])
                    let message = try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
                    let params = try #require(message["params"] as? [String: Any])
                    #expect(message["method"] as? String == "subscription/event")
                    #expect(params["scope"] as? String == target.scope.rawValue)
                    #expect(params["scope_id"] as? String == scopeID)
                    #expect(params["target"] as? String == target.rawValue && params["target_id"] as? String == targetID)
                    #expect(params["offset"] as? Int == 42 && (params["event"] as? [String: Any])?["type"] as? String == "t")
                }
            }
        }
    }

    /// One request against the session, checked against what SPEC §5–§6 say must happen.
    @discardableResult
    static func check(_ session: inout ConnectionSession, _ request: RPCRequest, registry: RegistrySnapshot, _ context: String) throws -> ConnectionSession.Step {
        let before = session.subscriptions
        let wasInitialized = session.isInitialized
        let step = session.handle(request, registry: registry)
        let method = RPCMethod(rawValue: request.method)
        let unchanged = Set(session.subscriptions.keys) == Set(before.keys)

        #expect(session.subscriptions.count <= session.settings.maxSubscriptions, "\(context)")
        #expect(session.isInitialized == (wasInitialized || (method == .initialize && step.isSuccess)), "\(context)")
        if method == nil { #expect(step.errorCode == .methodNotSupported, "\(context)") }
        if !wasInitialized, let method, method != .ping, method != .initialize {
            #expect(step.errorCode == .invalidSyntax && unchanged, "uninitialized: \(context)")
        }
        switch step {
        case .done(.failure):
            #expect(unchanged, "a failed request changed subscriptions: \(context)")
        case .done(.success(let result)):
            if method == .subscriptionList {
                #expect(result.objectValue?["subscriptions"]?.arrayValue?.count == session.subscriptions.count, "\(context)")
            }
            if method == .subscriptionRemove { #expect(Set(session.subscriptions.keys).isSubset(of: Set(before.keys)), "\(context)") }
        case .subscribed(let key, let isNew, _, _):
            #expect(method == .subscriptionAdd, "\(context)")
            #expect(isNew == (before[key] == nil), "\(context)")
            #expect(session.subscriptions[key] != nil, "\(context)")
            #expect(AccessPolicy.canRead(session.registryPrincipal, key, in: registry), "subscribed without access: \(context)")
            #expect(Set(session.subscriptions.keys) == Set(before.keys).union([key]), "\(context)")
        case .unsubscribed(let key):
            #expect(method == .subscriptionRemove && before[key] != nil && session.subscriptions[key] == nil, "\(context)")
        case .verifyToken:
            #expect(method == .authenticate, "\(context)")
            if case .apiKey = session.principal { Issue.record("an API-key connection may not re-authenticate: \(context)") }
        }
        return step
    }

    /// A well-formed request over a small pool of ids (so adds, merges and removes collide), or a
    /// mutated corpus message.
    static func message(_ random: inout SplitMix64, corpus: [[UInt8]]) -> [UInt8] {
        if Int.random(in: 0..<4, using: &random) == 0 {
            var bytes = corpus.randomElement(using: &random)!
            GarbageTests.mutate(&bytes, corpus: corpus)
            return bytes
        }
        // Weighted towards add and remove, so subscriptions are created, merged and ended often.
        let methods = ["status/initialize", "status/initialize", "subscription/add", "subscription/add", "subscription/add",
                       "subscription/add", "subscription/remove", "subscription/remove", "subscription/remove", "subscription/list",
                       "status/ping", "status/authenticate", "nope/nope"]
        let method = methods.randomElement(using: &random)!
        let revisions = ["rev-1", "rev-1", "rev-1", "rev-2", "rev-x"]
        let sessions = ["s-1", "s-2"]
        let types = ["flow.entered", "flow.exited", "execution_started", "flow.entered", "flow.exited", "Bad Type"]
        var params: [String] = []
        if Int.random(in: 0..<5, using: &random) > 0 {
            params.append(#""scope":"revision","scope_id":"\#(revisions.randomElement(using: &random)!)""#)
            params.append(#""target":"\#(["session", "session", "execution"].randomElement(using: &random)!)","target_id":"\#(sessions.randomElement(using: &random)!)""#)
        } else {
            params.append(#""scope":"core","target":"\#(["user", "organization", "blob", "revision"].randomElement(using: &random)!)""#)
            params.append(#""target_id":"\#(["user-1", "org-1", "blob-1", "rev-1", "org-2"].randomElement(using: &random)!)""#)
        }
        if Int.random(in: 0..<3, using: &random) == 0 {
            let list = (0..<Int.random(in: 0...3, using: &random)).map { _ in #""\#(types.randomElement(using: &random)!)""# }
            params.append(#""types":[\#(list.joined(separator: ","))]"#)
        }
        if Int.random(in: 0..<4, using: &random) == 0 { params.append(#""since":\#(Int.random(in: -1...5, using: &random))"#) }
        if method == "status/authenticate" { params = [#""token":"t""#] }
        if method == "status/initialize" { params = Bool.random(using: &random) ? [] : [#""client_info":{"name":"n"}"#] }
        let id = Bool.random(using: &random) ? #""id":\#(Int.random(in: 0...9, using: &random)),"# : ""
        return Array(#"{"jsonrpc":"2.0",\#(id)"method":"\#(method)","params":{\#(params.joined(separator: ","))}}"#.utf8)
    }

    /// org-1 (member user-1) with workflow blob-1 and revisions rev-1, rev-2.
    static func registry() throws -> RegistrySnapshot {
        var registry = RegistrySnapshot()
        let commands: [RegistryCommand] = [
            .putOrganization(id: "org-1", body: JSONObject([("name", .string("o"))])),
            .putOrganizationMember(organizationID: "org-1", userID: "user-1", body: JSONObject([("role", .string("read"))])),
            .putBlob(id: "blob-1", body: JSONObject([("organization_id", .string("org-1")), ("type", .string("workflow")), ("visibility", .string("private"))])),
            .putRevision(id: "rev-1", body: JSONObject([("blob_id", .string("blob-1")), ("phase", .string("draft"))])),
            .putRevision(id: "rev-2", body: JSONObject([("blob_id", .string("blob-1")), ("phase", .string("draft"))])),
        ]
        for command in commands { _ = try registry.apply(command, nowMs: 0) }
        return registry
    }
}

extension ConnectionSession.Step {
    var kind: String {
        switch self {
        case .done(.success): "success"
        case .done(.failure): "failure"
        case .subscribed(_, let isNew, _, _): isNew ? "subscribed" : "merged"
        case .unsubscribed: "unsubscribed"
        case .verifyToken: "verifyToken"
        }
    }

    var isSuccess: Bool {
        if case .done(.failure) = self { return false }
        return true
    }

    var errorCode: RPCErrorCode? {
        if case .done(.failure(let error)) = self { return error.code }
        return nil
    }
}

/// A small seeded generator, so a failing sequence can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
