import Logging
import PostgresNIO

/// The watermark of the shared log: the highest offset at or below which no append can still commit
/// (``PostgresLogFunctions`` has the argument). Readers hand out events up to it, never beyond.
enum PostgresWatermark {
    /// The last offset taken when the probe ran, and the store's writers whose transactions were running then.
    struct Probe: Sendable, Equatable {
        var taken: Int64
        /// `pid:xid` of each such writer (from the lock table, `blobhub_running_v3`).
        var pending: [String]

        /// Nothing was running: `taken` is a watermark already.
        var isSettled: Bool { pending.isEmpty }
    }

    static func probe(_ client: PostgresClient, logger: Logger) async throws -> Probe {
        let rows = try await client.query("SELECT taken, pending FROM blobhub_probe_v3()", logger: logger)
        for try await (taken, pending) in rows.decode((Int64, [String]).self) {
            return Probe(taken: taken, pending: pending)
        }
        throw StoreError.corrupt("blobhub_probe_v3() returned no row")
    }

    /// True once none of the probe's transactions runs any more.
    static func isSettled(_ probe: Probe, _ client: PostgresClient, logger: Logger) async throws -> Bool {
        if probe.isSettled { return true }
        let rows = try await client.query("SELECT blobhub_settled_v3(\(probe.pending)::text[])", logger: logger)
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

    /// One tailer round (`blobhub_tail_v6`: the notification, a new probe, the watermark now allowed) and the events
    /// after `after` up to it (at most `limit`), except those at the offsets `held` (this node has them in memory).
    struct Round: Sendable {
        var probe: Probe
        /// Nil when neither the new probe nor `previous` settled.
        var watermark: Int64?
        var registryVersion: Int64
        var events: [StoredEvent]
    }

    /// `announce`: a notification payload sent on the channel first (``CommitNotifier``), or nil.
    static func round(_ client: PostgresClient, after: Int64, previous: Probe?, limit: Int, announce: String? = nil,
                      held: [Int64] = [], logger: Logger) async throws -> Round {
        let rows = try await client.query("""
            SELECT watermark, taken, pending, registry_version, log_offset, id, type, created_at, keys, json
            FROM blobhub_tail_v6(\(after), \(previous?.taken), \(previous?.pending ?? [])::text[], \(Int32(limit)), \(announce),
                                 \(held)::bigint[])
            """, logger: logger)
        var round: Round?
        var events: [StoredEvent] = []
        for try await row in rows {
            var cells = PostgresRowCells(row)
            let (watermark, taken, pending) = (try cells.next(Int64?.self), try cells.next(Int64?.self), try cells.next([String]?.self))
            let (version, offset, id) = (try cells.next(Int64?.self), try cells.next(Int64?.self), try cells.next(String?.self))
            let (type, createdAt) = (try cells.next(String?.self), try cells.next(Int64?.self))
            let (keys, json) = (try cells.next(String?.self), try cells.next(ByteBuffer?.self))
            if let offset, let id, let type, let createdAt, let keys, let json {
                events.append(StoredEvent(offset: offset, id: id, type: type, createdAt: createdAt,
                                          keys: try KeyListCoding.decode(keys), json: Array(json.readableBytesView)))
            } else if let taken {
                guard let version else { throw StoreError.corrupt("blobhub_counters is missing rows") }
                round = Round(probe: Probe(taken: taken, pending: pending ?? []), watermark: watermark,
                              registryVersion: version, events: [])
            }
        }
        guard var round else { throw StoreError.corrupt("blobhub_tail_v6() returned no figures") }
        round.events = events
        return round
    }
}
