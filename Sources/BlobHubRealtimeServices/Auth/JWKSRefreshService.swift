import BlobHubRealtimeAuth
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps the verifier's JWKS keys current: every source is fetched at start, every `interval` after
/// (every few seconds until a first load succeeds), and when a token names an unknown `kid` (at most
/// once per `minimumOnDemandInterval`, concurrent callers share one fetch). A failed fetch keeps the
/// keys that source published last.
package final class JWKSRefreshService: Service, Sendable {
    private struct State {
        var lastOnDemand: ContinuousClock.Instant?
        var inFlight: Task<Void, Never>?
    }

    private let sources: [String]
    private let ring: KeyRing
    private let fetcher: JWKSFetcher
    private let interval: Duration
    private let minimumOnDemandInterval: Duration
    private let logger: Logger
    private let state = Mutex(State())
    /// Before a first load succeeds, fetching again after this long (not after a full `interval`).
    static let retryBeforeFirstLoad: Duration = .seconds(5)

    package init(sources: [String], ring: KeyRing, fetcher: JWKSFetcher = JWKSFetcher(), interval: Duration, minimumOnDemandInterval: Duration, logger: Logger) {
        self.sources = sources
        self.ring = ring
        self.fetcher = fetcher
        self.interval = interval
        self.minimumOnDemandInterval = minimumOnDemandInterval
        self.logger = logger
    }

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await refreshAll()
            let wait = ring.isReady ? interval : min(interval, Self.retryBeforeFirstLoad)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
        }
    }

    /// A token named a kid no key has: fetch again unless that happened just now.
    package func refreshForUnknownKID() async {
        let task: Task<Void, Never>? = state.withLock { state in
            if let running = state.inFlight { return running }
            let now = ContinuousClock.now
            if let last = state.lastOnDemand, now - last < minimumOnDemandInterval { return nil }
            state.lastOnDemand = now
            let task = Task { await self.refreshAll() }
            state.inFlight = task
            return task
        }
        guard let task else { return }
        await task.value
        state.withLock { state in
            if state.inFlight == task { state.inFlight = nil }
        }
    }

    private func refreshAll() async {
        for source in sources {
            do {
                let keys = try await SigningKey.fromJWKS(try await fetcher.fetch(source))
                guard !keys.isEmpty else {
                    logger.warning("JWKS has no usable signature key; keeping the previous keys", metadata: ["source": "\(source)"])
                    continue
                }
                ring.replace(source: source, with: keys)
                logger.debug("JWKS loaded", metadata: ["source": "\(source)", "keys": "\(keys.count)"])
            } catch {
                logger.warning("JWKS fetch failed; keeping the previous keys", metadata: ["source": "\(source)", "error": "\(error)"])
            }
        }
    }
}
