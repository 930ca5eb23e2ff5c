import Foundation
import Histogram
import NIOCore
import NIOPosix
import Synchronization

/// Registry rows and a subscriber token via the admin API (blobhub only).
func setUpBlobHub(_ conn: HTTPConnection) throws -> String {
    let admin = config.adminKey
    let steps: [(String, String, String)] = [
        ("PUT", "/v1/admin/organizations/org-1", #"{"name":"bench"}"#),
        ("PUT", "/v1/admin/organizations/org-1/members/\(config.user)", #"{"role":"read"}"#),
        ("PUT", "/v1/admin/blobs/blob-1", #"{"organization_id":"org-1","type":"workflow","visibility":"private"}"#),
        ("PUT", "/v1/admin/revisions/\(config.revision)", #"{"blob_id":"blob-1","phase":"draft"}"#),
    ]
    for (method, path, body) in steps {
        let r = try conn.request(method, path, bearer: admin, json: body).wait()
        guard (200..<300).contains(r.status) else { throw BenchError("\(method) \(path): HTTP \(r.status) \(r.bodyText)") }
    }
    let r = try conn.request("POST", "/v1/admin/tokens", bearer: admin,
                             json: #"{"user_id":"\#(config.user)","ttl_seconds":3600}"#).wait()
    guard r.status == 200 || r.status == 201 else { throw BenchError("POST /v1/admin/tokens: HTTP \(r.status) \(r.bodyText)") }
    let text = r.bodyText
    guard let range = text.range(of: #""access_token":""#),
          let end = text[range.upperBound...].firstIndex(of: "\"") else { throw BenchError("no access_token in \(text)") }
    return String(text[range.upperBound..<end])
}

func percentiles(_ h: Histogram<UInt64>) -> (p50: Double, p90: Double, p99: Double, p999: Double, max: Double) {
    guard h.totalCount > 0 else { return (0, 0, 0, 0, 0) }
    return (ms(h.valueAtPercentile(50)), ms(h.valueAtPercentile(90)), ms(h.valueAtPercentile(99)),
            ms(h.valueAtPercentile(99.9)), ms(h.max))
}

/// The tool's event-loop threads (subscriber and publisher loops) and their CPU over a window.
struct ToolThreads {
    var names: [String] = []
    var tids: [Int32] = []

    mutating func add(_ prefix: String, _ loops: [any EventLoop]) throws {
        for (i, loop) in loops.enumerated() {
            names.append("\(prefix)\(i)")
            tids.append(try loop.submit { Proc.currentThreadID() }.wait())
        }
    }

    func sample() -> [Int] { Proc.threadTicks(tids) }

    /// % of a core per thread between two samples.
    func percents(_ a: [Int], _ b: [Int], seconds: Double) -> [Double] {
        guard seconds > 0 else { return a.map { _ in 0 } }
        return zip(a, b).map { Double($1 - $0) / Proc.ticksPerSecond / seconds * 100 }
    }

    /// Saturated: the busiest loop thread at >= 90 % of a core, or all of them at >= 90 % on average.
    static func bound(_ percents: [Double]) -> Bool {
        guard let busiest = percents.max() else { return false }
        return busiest >= 90 || percents.reduce(0, +) >= 90 * Double(percents.count)
    }
}

/// Adds the tool's CPU figures to the JSON line; returns whether the tool was the bottleneck.
func addToolCPU(_ json: inout JSONLine, threads: ToolThreads, start: [Int], end: [Int], selfStart: ProcSample,
                selfEnd: ProcSample, seconds: Double) -> Bool {
    let perThread = threads.percents(start, end, seconds: seconds)
    let total = Proc.cpuPercent(selfStart, selfEnd, seconds: seconds)
    let bound = ToolThreads.bound(perThread)
    json.add("tool_cpu_thread_names", threads.names)
    json.add("tool_cpu_threads", perThread)
    json.add("tool_cpu", total)
    json.add("tool_cpu_busiest", perThread.max() ?? 0)
    json.add("tool_bound", bound)
    let list = zip(threads.names, perThread).map { "\($0) \(fmt($1, 0))%" }.joined(separator: ", ")
    say("tool CPU \(fmt(total))% of a core (\(list))" + (bound ? " — TOOL-BOUND: the load tool, not the server, may set the pace" : ""))
    return bound
}

func run() throws -> Int32 {
    var json = JSONLine()
    json.add("tool", "blobhub-realtime-bench")
    json.add("scenario", config.scenario)
    json.add("target", config.target.rawValue)
    if !config.label.isEmpty { json.add("label", config.label) }
    json.add("subscribers", config.subscribers)
    json.add("sessions", config.sessions)
    json.add("rate", config.rate)
    json.add("batch", config.batch)
    json.add("publishers", config.publishers)
    json.add("threads", config.threads)
    json.add("publisher_threads", config.publisherThreads)

    let publisherGroup = MultiThreadedEventLoopGroup(numberOfThreads: config.publisherThreads)
    defer { try? publisherGroup.syncShutdownGracefully() }
    let pubLoops = Array(publisherGroup.makeIterator())
    let pubLoop = pubLoops[0]

    var token = ""
    if config.target == .blobhub {
        let setupConn = try HTTPConnection.connect(group: pubLoop, host: config.host, port: config.port).wait()
        token = try setUpBlobHub(setupConn)
        setupConn.close()
        // several nodes of a cluster: the others learn the registry rows through the database (≤ 250 ms poll)
        if Set(config.ports + config.publishPorts).count > 1 { Thread.sleep(forTimeInterval: 1.0) }
    }

    let shared = SharedCounters()
    let pool = SubscriberPool(config: config, token: token, shared: shared)
    defer { pool.shutdown() }
    var threads = ToolThreads()
    if config.subscribers > 0 { try threads.add("sub", pool.loops) }
    try threads.add("pub", pubLoops)

    let serverBefore = Proc.sample(config.serverPIDs)
    say("[\(config.scenario)/\(config.target.rawValue)] server RSS before: \(serverBefore.rssKiB) KiB; connecting \(config.subscribers) subscribers over \(config.sessions) sessions…")

    // connect phase
    let (connected, failed, firstError, connectSeconds) = pool.connectAll()
    json.add("connected", connected)
    json.add("connect_failed", failed)
    json.add("connect_seconds", connectSeconds)
    if let firstError { json.add("connect_error", firstError); say("first connect error: \(firstError)") }
    say("connected \(connected)/\(config.subscribers) in \(fmt(connectSeconds, 2)) s (\(failed) failed)")

    var exitCode: Int32 = failed > 0 ? 1 : 0

    if config.scenario == "idle" {
        let holdThreads = threads.sample()
        let holdSelf = Proc.selfSample()
        let holdStart = nowNs()
        let deadline = Date().addingTimeInterval(config.hold)
        while Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        let serverAfter = Proc.sample(config.serverPIDs)
        _ = addToolCPU(&json, threads: threads, start: holdThreads, end: threads.sample(), selfStart: holdSelf,
                       selfEnd: Proc.selfSample(), seconds: Double(nowNs() - holdStart) / 1e9)
        let summary = pool.summarize(acked: [])
        let c = percentiles(summary.connect)
        let perConn = connected > 0 ? Double(serverAfter.rssKiB - serverBefore.rssKiB) / Double(connected) : 0
        say("server RSS \(serverBefore.rssKiB) → \(serverAfter.rssKiB) KiB: \(fmt(perConn, 2)) KiB per connection; handshake p50 \(fmt(c.p50, 2)) ms p99 \(fmt(c.p99, 2)) ms; unexpected closes \(summary.unexpectedCloses)")
        json.add("hold_seconds", config.hold)
        json.add("connect_p50_ms", c.p50)
        json.add("connect_p99_ms", c.p99)
        json.add("server_rss_before_kib", serverBefore.rssKiB)
        json.add("server_rss_after_kib", serverAfter.rssKiB)
        json.add("server_rss_per_conn_kib", perConn)
        json.add("own_rss_kib", Proc.selfSample().rssKiB)
        json.add("unexpected_closes", summary.unexpectedCloses)
        if summary.unexpectedCloses > 0 { exitCode = 1 }
        json.add("ok", exitCode == 0)
        pool.closeAll()
        print(json.text)
        return exitCode
    }

    // publish phase: one publisher per publisher loop, each with its share of sessions, connections and rate
    let k = pubLoops.count
    let publishers: [Publisher] = pubLoops.enumerated().map { j, loop in
        Publisher(loop: loop, config: config, shared: shared, perSession: pool.perSession,
                  sessions: Array(stride(from: j, to: config.sessions, by: k)),
                  connections: config.publishers / k + (j < config.publishers % k ? 1 : 0),
                  rate: config.rate / Double(k), portOffset: j)
    }
    for publisher in publishers { try publisher.connect() }
    let serverStart = Proc.sample(config.serverPIDs)
    let serverStartByPID = config.serverPIDs.map { Proc.sample([$0]) }
    let selfStart = Proc.selfSample()
    let threadsStart = threads.sample()
    let wallStart = nowNs()
    let runFutures = publishers.map { $0.run() }
    let guardTasks = publishers.map { publisher in
        publisher.loop.scheduleTask(in: .milliseconds(Int64((config.duration + 30) * 1000))) {
            publisher.done.fail(BenchError("publisher did not finish within duration + 30 s"))
        }
    }
    defer { for t in guardTasks { t.cancel() } }
    var pub = PublishSummary()
    pub.acked = Array(repeating: BitSet(), count: config.sessions)
    for future in runFutures { pub.merge(try future.wait()) }
    // drain: wait until every acknowledged event has been delivered (or the drain bound)
    let expected = pub.ackedExpectedDeliveries
    let drainDeadline = nowNs() + UInt64(config.drain * 1e9)
    if config.subscribers > 0 {
        while shared.delivered.load(ordering: .relaxed) < expected && nowNs() < drainDeadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
    let wallEnd = nowNs()
    let serverEnd = Proc.sample(config.serverPIDs)
    let serverEndByPID = config.serverPIDs.map { Proc.sample([$0]) }
    let selfEnd = Proc.selfSample()
    let threadsEnd = threads.sample()
    let wallSeconds = Double(wallEnd - wallStart) / 1e9
    let publishSeconds = Double(pub.endNs - pub.startNs) / 1e9

    let summary = pool.summarize(acked: pub.acked)
    for publisher in publishers { publisher.close() }
    pool.closeAll()

    let eventsPerSecond = publishSeconds > 0 ? Double(pub.ackedEvents) / publishSeconds : 0
    let rq = percentiles(pub.requestLatency)
    json.add("duration_seconds", config.duration)
    json.add("published_events", pub.ackedEvents)
    json.add("publish_failed_events", pub.failedEvents)
    json.add("publish_requests", pub.requests)
    json.add("events_per_second", eventsPerSecond)
    json.add("publish_request_p50_ms", rq.p50)
    json.add("publish_request_p99_ms", rq.p99)
    if config.subscribers > 0 && config.rate == 0 && config.window > 0 {
        json.add("window", config.window)
        json.add("window_held_seconds", Double(pub.windowHeldNs) / 1e9)
    }
    if let e = pub.firstError { json.add("publish_error", e); say("first publish error: \(e)") }
    say("published \(pub.ackedEvents) events (\(pub.failedEvents) failed) in \(fmt(publishSeconds, 2)) s: \(fmt(eventsPerSecond, 0)) events/s accepted; request p50 \(fmt(rq.p50, 2)) ms p99 \(fmt(rq.p99, 2)) ms")
    if pub.failedEvents > 0 { exitCode = 1 }

    if config.subscribers > 0 {
        let deliverySpan = summary.lastDeliveryNs > pub.startNs ? Double(summary.lastDeliveryNs - pub.startNs) / 1e9 : 0
        let dps = deliverySpan > 0 ? Double(summary.deliveries) / deliverySpan : 0
        let l = percentiles(summary.latency)
        let c = percentiles(summary.connect)
        json.add("expected_deliveries", expected)
        json.add("deliveries", summary.deliveries)
        json.add("deliveries_per_second", dps)
        json.add("latency_p50_ms", l.p50)
        json.add("latency_p90_ms", l.p90)
        json.add("latency_p99_ms", l.p99)
        json.add("latency_p999_ms", l.p999)
        json.add("latency_max_ms", l.max)
        json.add("connect_p50_ms", c.p50)
        json.add("connect_p99_ms", c.p99)
        json.add("lost", summary.lost)
        json.add("duplicated", summary.duplicated)
        json.add("subscribers_with_loss", summary.subscribersWithLoss)
        json.add("unexpected_closes", summary.unexpectedCloses)
        json.add("parse_misses", summary.parseMisses)
        if config.resume {
            json.add("resumes", summary.resumes)
            json.add("resumes_not_recovered", summary.notRecovered)
            say("subscribers resumed on another port: \(summary.resumes) (recovered: false \(summary.notRecovered))")
            if summary.notRecovered > 0 { exitCode = 1 }
        }
        if config.target == .centrifuge { json.add("multi_event_frames", summary.multiEventFrames) }
        say("deliveries \(summary.deliveries)/\(expected) in \(fmt(deliverySpan, 2)) s: \(fmt(dps, 0)) deliveries/s")
        say("latency publish→delivery ms: p50 \(fmt(l.p50, 2)) p90 \(fmt(l.p90, 2)) p99 \(fmt(l.p99, 2)) p99.9 \(fmt(l.p999, 2)) max \(fmt(l.max, 2))")
        if config.subscribers > 0 && config.rate == 0 && config.window > 0 {
            say("publisher held by the --window \(config.window) bound for \(fmt(Double(pub.windowHeldNs) / 1e9, 2)) s of \(fmt(publishSeconds, 2)) s")
        }
        if config.target == .centrifuge { say("frames carrying several events: \(summary.multiEventFrames) (each line counted)") }
        say("lost \(summary.lost) (subscribers affected \(summary.subscribersWithLoss)), duplicated \(summary.duplicated), unexpected closes \(summary.unexpectedCloses), unparsed frames \(summary.parseMisses)")
        if summary.lost > 0 || summary.duplicated > 0 || summary.unexpectedCloses > 0 { exitCode = 1 }
    }
    let serverCPU = Proc.cpuPercent(serverStart, serverEnd, seconds: wallSeconds)
    let ownCPU = Proc.cpuPercent(selfStart, selfEnd, seconds: wallSeconds)
    json.add("server_cpu_percent", serverCPU)
    json.add("server_rss_kib", serverEnd.rssKiB)
    if config.serverPIDs.count > 1 {
        // per node; a node that died during the run reads 0 at the end
        let cpu = zip(serverStartByPID, serverEndByPID).map { a, b in
            b.cpuTicks >= a.cpuTicks ? Proc.cpuPercent(a, b, seconds: wallSeconds) : 0
        }
        json.add("server_cpu_percent_by_pid", cpu)
        json.add("server_rss_kib_by_pid", serverEndByPID.map { Double($0.rssKiB) })
        say("server CPU per process: " + cpu.map { fmt($0) + "%" }.joined(separator: ", "))
    }
    json.add("own_cpu_percent", ownCPU)
    json.add("own_rss_kib", selfEnd.rssKiB)
    say("server CPU \(fmt(serverCPU))% of a core, RSS \(serverEnd.rssKiB) KiB; tool CPU \(fmt(ownCPU))%, RSS \(selfEnd.rssKiB) KiB")
    _ = addToolCPU(&json, threads: threads, start: threadsStart, end: threadsEnd, selfStart: selfStart, selfEnd: selfEnd,
                   seconds: wallSeconds)
    json.add("ok", exitCode == 0)
    print(json.text)
    return exitCode
}

