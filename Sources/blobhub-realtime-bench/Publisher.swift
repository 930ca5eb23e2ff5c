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
}

/// Publishes events over HTTP keep-alive connections at a target rate or flat out. Lives on one event loop.
final class Publisher: @unchecked Sendable {
    let loop: any EventLoop
    let config: Config
    let shared: SharedCounters
    let perSession: [Int]
    let subscribersPerEvent: Double
    var connections: [HTTPConnection] = []
    var idle: [Int] = []
    var nextSeq: [Int]
    var roundRobin = 0
    var sentEvents = 0
    var sentExpectedDeliveries = 0
    var inFlight = 0
    var stopAtNs: UInt64 = 0
    var stopped = false
    var summary = PublishSummary()
    var ticker: RepeatedTask?
    let done: EventLoopPromise<PublishSummary>
    let hostHeader: String

    init(loop: any EventLoop, config: Config, shared: SharedCounters, perSession: [Int]) {
        self.loop = loop
        self.config = config
        self.shared = shared
        self.perSession = perSession
        subscribersPerEvent = max(1, Double(config.subscribers) / Double(config.sessions))
        nextSeq = Array(repeating: 0, count: config.sessions)
        summary.acked = Array(repeating: BitSet(), count: config.sessions)
        done = loop.makePromise(of: PublishSummary.self)
        hostHeader = "\(config.host):\(config.port)"
    }

    func connect() throws {
        for _ in 0..<config.publishers {
            connections.append(try HTTPConnection.connect(group: loop, host: config.host, port: config.port).wait())
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
        if config.rate > 0 {
            let due = Int(config.rate * Double(now - summary.startNs) / 1e9) + 1
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
            if allowed <= 0 { break }
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

    private func send(on connIndex: Int, count: Int, now: UInt64) {
        let conn = connections[connIndex]
        var body = conn.channel.allocator.buffer(capacity: 128 * count + 2)
        var events: [(Int, Int)] = []
        events.reserveCapacity(count)
        if count > 1 { body.writeString("[") }
        for i in 0..<count {
            let session = roundRobin % config.sessions
            roundRobin += 1
            nextSeq[session] += 1
            let seq = nextSeq[session]
            if i > 0 { body.writeString(",") }
            eventJSON(session: session, seq: seq, sentNs: now, into: &body)
            events.append((session, seq))
            sentExpectedDeliveries += perSession[session]
        }
        if count > 1 { body.writeString("]") }
        sentEvents += count
        let path: String
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        switch config.target {
        case .blobhub:
            path = "/v1/events"
            headers.append(("Authorization", "Bearer \(config.publisherKey)"))
        case .nchan:
            path = "/pub/s-\(events[0].0)"
        }
        let sent = events
        let request = conn.requestBytes(method: "POST", path: path, headers: headers, body: body)
        inFlight += 1
        summary.requests += 1
        conn.send(request).whenComplete { result in
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
        done.succeed(summary)
    }

    func close() {
        for c in connections { c.close() }
    }
}
