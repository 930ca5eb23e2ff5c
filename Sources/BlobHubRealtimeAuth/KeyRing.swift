import Foundation
import Synchronization

/// The keys a verifier may use: the static ones (`--jwt-secret`, every `--jwt-public-key`) and the
/// ones each JWKS source last published, plus keys a source stopped publishing within a grace period
/// (tokens signed just before a rotation keep working for a while).
///
/// Sendable: all state sits behind a `Mutex`.
public final class KeyRing: Sendable {
    private struct Fetched {
        var key: SigningKey
        var lastSeen: Date
        /// No longer in its source's document: usable until `lastSeen + grace`. Keys still published
        /// never expire, also while the source cannot be fetched (the last good set is kept).
        var dropped = false

        func usable(at now: Date, grace: TimeInterval) -> Bool { !dropped || now.timeIntervalSince(lastSeen) < grace }
    }
    private struct State {
        var bySource: [String: [Fetched]] = [:]
        var loadedOnce = false
        var refresher: (@Sendable () async -> Void)?
    }

    private let staticKeys: [SigningKey]
    /// How long a key stays usable after its source stopped publishing it.
    public let grace: Duration
    /// Whether JWKS sources are configured (then no key loaded yet means "not ready").
    public let hasSources: Bool
    private let state = Mutex(State())

    public init(staticKeys: [SigningKey], hasSources: Bool, grace: Duration = .seconds(600)) {
        self.staticKeys = staticKeys
        self.hasSources = hasSources
        self.grace = grace
    }

    /// Whether any key is configured or any source is: without either, bearer tokens are disabled.
    public var isConfigured: Bool { !staticKeys.isEmpty || hasSources }

    /// False while JWKS sources are configured and none has ever been loaded (`/readyz` reports it).
    public var isReady: Bool { !hasSources || state.withLock { $0.loadedOnce } }

    /// Every algorithm some current key serves.
    public var algorithms: Set<String> { Set(allKeys().map(\.algorithm)) }

    /// Installs what `source` publishes now (`now` for tests).
    public func replace(source: String, with keys: [SigningKey], now: Date = Date()) {
        state.withLock { state in
            let graceSeconds = grace.timeInterval
            var next = keys.map { Fetched(key: $0, lastSeen: now) }
            // Keys that left the document stay for the grace period (matched by kid and algorithm).
            for var old in state.bySource[source] ?? [] where old.usable(at: now, grace: graceSeconds) {
                if !keys.contains(where: { $0.kid == old.key.kid && $0.algorithm == old.key.algorithm }) {
                    if !old.dropped { old.lastSeen = now }  // dropped from the document now: the grace starts
                    old.dropped = true
                    next.append(old)
                }
            }
            state.bySource[source] = next
            state.loadedOnce = true
        }
    }

    /// Called when a token names a `kid` no key has (rate limiting is the refresher's job).
    public func setRefresher(_ refresher: @escaping @Sendable () async -> Void) {
        state.withLock { $0.refresher = refresher }
    }

    func refreshForUnknownKID() async {
        guard let refresher = state.withLock({ $0.refresher }) else { return }
        await refresher()
    }

    /// The keys to try for a token's `alg` and `kid`: a key with that exact `kid` first, then keys
    /// without a `kid` (static keys, or JWKS entries without one). `unknownKID` is true when the
    /// token names a kid that no key of the algorithm has.
    func candidates(algorithm: String, kid: String?, now: Date = Date()) -> (keys: [SigningKey], unknownKID: Bool) {
        let keys = allKeys(now: now).filter { $0.algorithm == algorithm }
        guard let kid else { return (keys, false) }
        let exact = keys.filter { $0.kid == kid }
        let unnamed = keys.filter { $0.kid == nil }
        return (exact + unnamed, exact.isEmpty)
    }

    private func allKeys(now: Date = Date()) -> [SigningKey] {
        let graceSeconds = grace.timeInterval
        let fetched = state.withLock { state in
            state.bySource.values.flatMap { $0 }.filter { $0.usable(at: now, grace: graceSeconds) }
        }
        return staticKeys + fetched.map(\.key)
    }
}
