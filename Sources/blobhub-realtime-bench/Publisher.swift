import Histogram
import NIOCore
import NIOPosix
import Synchronization

struct PublishSummary: Sendable {
    var requests = 0
    var failedRequests = 0
    var ackedEvents = 0
    var failedEvents = 0
    var ackedExpectedDeliveries = 0
    var startNs: UInt64 = 0
    var endNs: UInt64 = 0
    var acked: [BitSet] = []
    var requestLatency = makeHistogram()
    var firstError: String?
    /// Time an idle connection waited because `--window` events were published and not yet delivered.
    var windowHeldNs: UInt64 = 0

    /// Combines the summaries of several publisher loops (disjoint sessions).
    mutating func merge(_ other: PublishSummary) {
        requests += other.requests
        failedRequests += other.failedRequests
        ackedEvents += other.ackedEvents
        failedEvents += other.failedEvents
        ackedExpectedDeliveries += other.ackedExpectedDeliveries
        startNs = startNs == 0 ? other.startNs : min(startNs, other.startNs)
        endNs = max(endNs, other.endNs)
        for i in acked.indices where i < other.acked.count { acked[i].formUnion(other.acked[i]) }
        requestLatency.add(other.requestLatency)
        if firstError == nil { firstError = other.firstError }
        windowHeldNs += other.windowHeldNs
    }
}

/// Publishes events over HTTP keep-alive connections at a target rate or flat out. Lives on one event loop;
/// several publishers (one per loop) split the sessions, connections and rate between them.
/// Each connection has at most one request in flight (closed loop).
final class Publisher: @unchecked Sendable {
    let loop: any EventLoop
    let config: Config
    let shared: SharedCounters
    let perSession: [Int]
    let subscribersPerEvent: Double
    var connections: [HTTPConnection] = []
    var idle: [Int] = []
    var nextSeq: [Int]
    /// The sessions this publisher publishes to (a disjoint share when there are several publishers).
    let ownSessions: [Int]
    let connectionCount: Int
    let rate: Double
    var roundRobin = 0
    var sentEvents = 0
    var sentExpectedDeliveries = 0
    var inFlight = 0
    var stopAtNs: UInt64 = 0
    var stopped = false
    var summary = PublishSummary()
    var ticker: RepeatedTask?
    private var heldSinceNs: UInt64 = 0
    let done: EventLoopPromise<PublishSummary>
    let hostHeader: String
    /// Where this publisher's connections start in `config.publishPorts`.
    let portOffset: Int

    init(loop: any EventLoop, config: Config, shared: SharedCounters, perSession: [Int],
         sessions: [Int]? = nil, connections: Int? = nil, rate: Double? = nil, portOffset: Int = 0) {
        self.portOffset = portOffset
        self.loop = loop
        self.config = config
        self.shared = shared
        self.perSession = perSession
        ownSessions = sessions ?? Array(0..<config.sessions)
        connectionCount = connections ?? config.publishers
        self.rate = rate ?? config.rate
        subscribersPerEvent = max(1, Double(config.subscribers) / Double(config.sessions))
        nextSeq = Array(repeating: 0, count: config.sessions)
        summary.acked = Array(repeating: BitSet(), count: config.sessions)
        done = loop.makePromise(of: PublishSummary.self)
        hostHeader = "\(config.host):\(config.port)"
    }

    func connect() throws {
        let ports = config.publishPorts
        for c in 0..<connectionCount {
            let port = ports[(portOffset + c) % ports.count]
            connections.append(try HTTPConnection.connect(group: loop, host: config.host, port: port).wait())
        }
        idle = Array(connections.indices)
    }

    /// Starts publishing; the future completes when the duration is over and every request has been answered.
    func run() -> EventLoopFuture<PublishSummary> {
        loop.execute {
            self.summary.startNs = nowNs()
            self.stopAtNs = self.summary.startNs + UInt64(self.config.duration * 1e9)
            self.ticker = self.loop.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) { _ in
                self.pump()
            }
            self.pump()
        }
        return done.futureResult
    }

    /// How many events may go out now.
    private func allowance(now: UInt64) -> Int {
        if rate > 0 {
            let due = Int(rate * Double(now - summary.startNs) / 1e9) + 1
            return due - sentEvents
        }
        if config.subscribers > 0 && config.window > 0 {
            let outstanding = Double(sentExpectedDeliveries - shared.delivered.load(ordering: .relaxed)) / subscribersPerEvent
            return Int(Double(config.window) - outstanding)
        }
        return Int.max
    }

    private func pump() {
        guard !stopped else { return }
        var now = nowNs()
        if now >= stopAtNs {
            stopped = true
            ticker?.cancel()
            finishIfIdle()
            return
        }
        while let connIndex = idle.last {
            let allowed = allowance(now: now)
            if allowed <= 0 {
                if rate == 0 && heldSinceNs == 0 { heldSinceNs = now }
                break
            }
            if heldSinceNs != 0 { summary.windowHeldNs += now &- heldSinceNs; heldSinceNs = 0 }
            idle.removeLast()
            send(on: connIndex, count: min(allowed, config.batch), now: now)
            now = nowNs()
        }
    }

    private func eventJSON(session: Int, seq: Int, sentNs: UInt64, into buf: inout ByteBuffer) {
        buf.writeString(#"{"type":"processor.output","revision_id":""#)
        buf.writeString(config.revision)
        buf.writeString(#"","session_id":"s-"#)
        buf.writeString(String(session))
        buf.writeString(#"","seq":"#)
        buf.writeString(String(seq))
        buf.writeString(#","sent_ns":"#)
        buf.writeString(String(sentNs))
        buf.writeString("}")
    }

    /// Request line and headers up to `Content-Length: ` for a session's publish path (built once per session).
    private var heads: [Int: [UInt8]] = [:]
    /// Reused for the body of each request (then copied behind the head into the request's one buffer).
    private var scratch = ByteBufferAllocator().buffer(capacity: 4096)

    private func head(session: Int) -> [UInt8] {
        if let h = heads[session] { return h }
        let path: String
        var text = ""
        switch config.target {
        case .blobhub: path = "/v1/events"
        case .nchan: path = "/pub/s-\(session)"
        case .centrifuge: path = "/publish?channel=s-\(session)"
        }
        text = "POST \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nContent-Type: application/json\r\n"
        if config.target == .blobhub { text += "Authorization: Bearer \(config.publisherKey)\r\n" }
        text += "Content-Length: "
        let h = Array(text.utf8)
        // blobhub: one path for every session
        heads[session] = h
        return h
    }

    private func send(on connIndex: Int, count: Int, now: UInt64) {
        let conn = connections[connIndex]
        scratch.clear()
        var events: [(Int, Int)] = []
        events.reserveCapacity(count)
        if count > 1 { scratch.writeString("[") }
        for i in 0..<count {
            let session = ownSessions[roundRobin % ownSessions.count]
            roundRobin += 1
            nextSeq[session] += 1
            let seq = nextSeq[session]
            if i > 0 { scratch.writeString(",") }
            eventJSON(session: session, seq: seq, sentNs: now, into: &scratch)
            events.append((session, seq))
            sentExpectedDeliveries += perSession[session]
        }
        if count > 1 { scratch.writeString("]") }
        sentEvents += count
        let prefix = head(session: config.target == .blobhub ? -1 : events[0].0)
        var request = conn.channel.allocator.buffer(capacity: prefix.count + 16 + scratch.readableBytes)
        request.writeBytes(prefix)
        request.writeString(String(scratch.readableBytes))
        request.writeStaticString("\r\n\r\n")
        request.writeImmutableBuffer(scratch)
        let sent = events
        inFlight += 1
        summary.requests += 1
        conn.send(request) { result in
            self.inFlight -= 1
            let end = nowNs()
            self.summary.requestLatency.record(end &- now)
            var ok = false
            switch result {
            case .success(let response):
                ok = (200..<300).contains(response.status)
                if !ok && self.summary.firstError == nil { self.summary.firstError = "HTTP \(response.status): \(response.bodyText.prefix(200))" }
            case .failure(let error):
                if self.summary.firstError == nil { self.summary.firstError = "\(error)" }
            }
            if ok {
                self.summary.ackedEvents += count
                for (session, seq) in sent {
                    _ = self.summary.acked[session].insert(seq)
                    self.summary.ackedExpectedDeliveries += self.perSession[session]
                }
            } else {
                self.summary.failedRequests += 1
                self.summary.failedEvents += count
            }
            if case .success = result { self.idle.append(connIndex) }
            if self.stopped { self.finishIfIdle() } else { self.pump() }
        }
    }

    private func finishIfIdle() {
        guard inFlight == 0 else { return }
        summary.endNs = nowNs()
        if heldSinceNs != 0 { summary.windowHeldNs += min(stopAtNs, summary.endNs) &- min(heldSinceNs, stopAtNs); heldSinceNs = 0 }
        done.succeed(summary)
    }

    func close() {
        for c in connections { c.close() }
    }
}
