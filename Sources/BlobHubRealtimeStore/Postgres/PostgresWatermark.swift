import Logging
import PostgresNIO

/// The watermark of the shared log: the highest offset at or below which no append can still commit
/// (``PostgresLogFunctions`` has the argument). Readers hand out events up to it, never beyond.
enum PostgresWatermark {
    /// The last offset taken when the probe ran, and this store's sessions whose transactions were running then.
    struct Probe: Sendable, Equatable {
        var taken: Int64
        var pids: [Int32]
        var xids: [String]

        /// Nothing was running: `taken` is a watermark already.
        var isSettled: Bool { pids.isEmpty }
    }

    static func probe(_ client: PostgresClient, logger: Logger) async throws -> Probe {
        let rows = try await client.query("SELECT taken, pids, xids FROM blobhub_probe_v3()", logger: logger)
        for try await (taken, pids, xids) in rows.decode((Int64, [Int32], [String]).self) {
            return Probe(taken: taken, pids: pids, xids: xids)
        }
        throw StoreError.corrupt("blobhub_probe_v3() returned no row")
    }

    /// True once none of the probe's transactions runs any more.
    static func isSettled(_ probe: Probe, _ client: PostgresClient, logger: Logger) async throws -> Bool {
        if probe.isSettled { return true }
        let rows = try await client.query("SELECT blobhub_settled_v3(\(probe.pids)::integer[], \(probe.xids)::text[])", logger: logger)
        for try await settled in rows.decode(Bool.self) { return settled }
        return false
    }

    /// Probes, then waits (polling every `interval`) until the probe settled: a watermark as of now.
    static func current(_ client: PostgresClient, interval: Duration = .milliseconds(1), logger: Logger) async throws -> Int64 {
        let probe = try await probe(client, logger: logger)
        try await waitUntilSettled(probe, client, interval: interval, logger: logger)
        return probe.taken
    }

    /// Appends in flight end within milliseconds; the poll backs off to `interval × 32` for one that does not
    /// (a node stopped mid-append), so a waiting reader does not load the database.
    static func waitUntilSettled(_ probe: Probe, _ client: PostgresClient, interval: Duration, logger: Logger) async throws {
        var wait = interval
        while try await !isSettled(probe, client, logger: logger) {
            try Task.checkCancellation()
            try await Task.sleep(for: wait)
            wait = min(wait * 2, interval * 32)
        }
    }
}
