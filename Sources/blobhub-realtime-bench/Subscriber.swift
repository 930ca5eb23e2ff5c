import BlobHubRealtimeProtocol
import Foundation
import Histogram
import NIOCore
import NIOPosix
import Synchronization

/// Counters shared across threads (the publisher reads `delivered` for its flat-out window).
final class SharedCounters: Sendable {
    let delivered = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
}

func makeHistogram() -> Histogram<UInt64> {
    // 1 µs .. 60 s, in nanoseconds, 3 significant digits
    Histogram<UInt64>(lowestDiscernibleValue: 1_000, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
}

/// Per event loop statistics; only touched on its own loop.
final class LoopStats: @unchecked Sendable {
    var latency = makeHistogram()
    var connect = makeHistogram()
    var deliveries = 0
    var firstDeliveryNs: UInt64 = 0
    var lastDeliveryNs: UInt64 = 0
    var subscribers: [SubscriberProgress] = []
    var unexpectedCloses = 0
    /// Connections that dropped and were resumed on another port (`--resume`), and resumes answered
    /// `recovered: false` (the server could not replay everything after `since`).
    var resumes = 0
    var notRecovered = 0
    var parseMisses = 0
    /// Frames that carried more than one event (centrifuge writes several messages per frame).
    var multiEventFrames = 0
}

/// The figures gathered from one loop at the end of a run.
struct LoopSummary: Sendable {
    var latency: Histogram<UInt64>
    var connect: Histogram<UInt64>
    var deliveries: Int
    var firstDeliveryNs: UInt64
    var lastDeliveryNs: UInt64
    var lost: Int
    var duplicated: Int
    var subscribersWithLoss: Int
    var unexpectedCloses: Int
    var parseMisses: Int
    var connected: Int
    var multiEventFrames: Int
    var resumes: Int
    var notRecovered: Int
}

struct SubscriberSetup: Sendable {
    var target: Target
    var host: String
    var ports: [Int]
    var token: String
    var revision: String
    var resume: Bool
    var connectTimeout: Double
}

/// What one subscriber has received, across the connections it uses (one, or more with `--resume`).
/// Only touched on its loop.
final class SubscriberProgress: @unchecked Sendable {
    let session: String
    let sessionIndex: Int
    var seen = BitSet()
    var received = 0
    var duplicated = 0
    /// The highest offset delivered and the epoch of the initialize result: where a resume starts.
    var lastOffset: Int64 = 0
    var epoch = ""
    /// Index into `SubscriberSetup.ports` of the current connection.
    var portIndex: Int
    var current: SubscriberHandler?

    init(session: String, sessionIndex: Int, portIndex: Int) {
        self.session = session
        self.sessionIndex = sessionIndex
        self.portIndex = portIndex
    }
}

/// One WebSocket subscriber: upgrade, `status/initialize`, `subscription/add` (centrifuge: connect, subscribe),
/// then counts events. Frames are parsed straight from the ByteBuffers; events are recognised by scanning for
/// `"seq":` and `"sent_ns":`. A centrifuge frame may carry several messages separated by newlines: each line counts.
final class SubscriberHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum State { case upgrading, initializing, subscribing, ready, closed }

    let setup: SubscriberSetup
    let progress: SubscriberProgress
    var session: String { progress.session }
    let stats: LoopStats
    let shared: SharedCounters
    let ready: EventLoopPromise<Void>
    let startNs: UInt64
    /// Subscribe with `since`/`epoch` (this connection continues a dropped one).
    let resuming: Bool
    /// Called on the loop when a ready connection drops while the run goes on (`--resume`).
    let onDrop: (@Sendable (SubscriberProgress) -> Void)?
    var state = State.upgrading
    private var cumulation: ByteBuffer?
    private var fragments: ByteBuffer?
    private var fragmentOpcode: UInt8 = 0
    private var channelRef: (any Channel)?

    init(setup: SubscriberSetup, progress: SubscriberProgress, stats: LoopStats, shared: SharedCounters,
         ready: EventLoopPromise<Void>, resuming: Bool = false, onDrop: (@Sendable (SubscriberProgress) -> Void)? = nil) {
        self.setup = setup
        self.progress = progress
        self.resuming = resuming
        self.onDrop = onDrop
        self.stats = stats
        self.shared = shared
        self.ready = ready
        self.startNs = nowNs()
    }

    func channelActive(context: ChannelHandlerContext) {
        channelRef = context.channel
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        var request = "GET "
        switch setup.target {
        case .blobhub: request += "/v1"
        case .nchan: request += "/sub/\(session)"
        case .centrifuge: request += "/connection/websocket"
        }
        request += " HTTP/1.1\r\nHost: \(setup.host):\(setup.ports[progress.portIndex])\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        if setup.target == .blobhub { request += "Authorization: Bearer \(setup.token)\r\n" }
        request += "\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state != .ready {
            ready.fail(BenchError("connection closed during handshake (\(state))"))
        } else if !shared.stopping.load(ordering: .relaxed) {
            if let onDrop {
                state = .closed
                onDrop(progress)
                return
            }
            stats.unexpectedCloses += 1
        }
        state = .closed
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if state != .ready { ready.fail(error) }
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if cumulation != nil {
            cumulation!.writeBuffer(&incoming)
        } else {
            cumulation = incoming
        }
        if state == .upgrading {
            guard let upgraded = handleUpgradeResponse(context: context) else { return }
            if !upgraded { return }
        }
        var events = 0
        var buffer = cumulation!
        cumulation = nil
        while let frame = nextFrame(&buffer) {
            events += handleFrame(context: context, opcode: frame.0, fin: frame.1, payload: frame.2)
        }
        if buffer.readableBytes > 0 {
            buffer.discardReadBytes()
            cumulation = buffer
        }
        if events > 0 {
            _ = shared.delivered.wrappingAdd(events, ordering: .relaxed)
        }
    }

    /// nil: need more bytes; false: failed; true: upgraded (the rest of the cumulation are frames).
    private func handleUpgradeResponse(context: ChannelHandlerContext) -> Bool? {
        guard var buf = cumulation else { return nil }
        let view = buf.readableBytesView
        guard let end = view.firstRange(of: [13, 10, 13, 10]) else { return nil }
        let head = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
        buf.moveReaderIndex(to: end.upperBound)
        cumulation = buf
        guard head.hasPrefix("HTTP/1.1 101") else {
            let firstLine = head.split(separator: "\r\n").first.map(String.init) ?? head
            ready.fail(BenchError("upgrade refused: \(firstLine)"))
            state = .closed
            context.close(promise: nil)
            return false
        }
        switch setup.target {
        case .blobhub:
            state = .initializing
            sendText(context: context, RPCEncoder.request(id: 1, method: .initialize))
        case .nchan:
            becomeReady()
        case .centrifuge:
            state = .initializing
            sendText(context: context, #"{"id":1}"#)   // connect, no token
        }
        return true
    }

    private func becomeReady() {
        state = .ready
        stats.connect.record(nowNs() &- startNs)
        ready.succeed(())
    }

    /// Parses one complete frame; server frames are not masked (masked ones are unmasked anyway).
    private func nextFrame(_ buf: inout ByteBuffer) -> (UInt8, Bool, ByteBuffer)? {
        guard buf.readableBytes >= 2,
              let b0: UInt8 = buf.getInteger(at: buf.readerIndex),
              let b1: UInt8 = buf.getInteger(at: buf.readerIndex + 1) else { return nil }
        var header = 2
        var length = Int(b1 & 0x7F)
        if length == 126 {
            guard let l: UInt16 = buf.getInteger(at: buf.readerIndex + 2) else { return nil }
            length = Int(l)
            header = 4
        } else if length == 127 {
            guard let l: UInt64 = buf.getInteger(at: buf.readerIndex + 2) else { return nil }
            length = Int(l)
            header = 10
        }
        let masked = b1 & 0x80 != 0
        var maskKey: [UInt8] = []
        if masked {
            guard let k = buf.getBytes(at: buf.readerIndex + header, length: 4) else { return nil }
            maskKey = k
            header += 4
        }
        guard buf.readableBytes >= header + length else { return nil }
        buf.moveReaderIndex(forwardBy: header)
        var payload = buf.readSlice(length: length)!
        if masked {
            var bytes = payload.readBytes(length: length)!
            for i in 0..<bytes.count { bytes[i] ^= maskKey[i & 3] }
            payload = ByteBuffer(bytes: bytes)
        }
        return (b0 & 0x0F, b0 & 0x80 != 0, payload)
    }

    /// Returns the number of events counted.
    private func handleFrame(context: ChannelHandlerContext, opcode: UInt8, fin: Bool, payload: ByteBuffer) -> Int {
        switch opcode {
        case 0x1, 0x2, 0x0:
            var message = payload
            if opcode != 0 && fin {
                return handleMessage(context: context, message)
            }
            if opcode != 0 { fragmentOpcode = opcode; fragments = payload; return 0 }
            guard fragments != nil else { return 0 }
            fragments!.writeBuffer(&message)
            if fin {
                let whole = fragments!
                fragments = nil
                return handleMessage(context: context, whole)
            }
            return 0
        case 0x8:
            // close: echo it and let the channel go
            sendFrame(context: context, opcode: 0x8, payload: payload)
            context.close(promise: nil)
            return 0
        case 0x9:
            sendFrame(context: context, opcode: 0xA, payload: payload)
            return 0
        default:
            return 0
        }
    }

    /// One WebSocket message; returns the number of events counted.
    private func handleMessage(context: ChannelHandlerContext, _ message: ByteBuffer) -> Int {
        guard setup.target == .centrifuge else { return handleOne(context: context, message) }
        // centrifuge: newline-separated messages in one frame, every line counts
        if state == .ready {
            let now = nowNs()
            return message.withUnsafeReadableBytes { bytes in
                var events = 0
                var start = 0
                while start < bytes.count {
                    var end = start
                    while end < bytes.count && bytes[end] != 10 { end += 1 }
                    if end > start { events += countEvent(bytes, from: start, to: end, now: now) }
                    start = end + 1
                }
                if events > 1 { stats.multiEventFrames += 1 }
                return events
            }
        }
        var events = 0
        var start = 0
        let total = message.readableBytes
        while start < total {
            let end: Int = message.withUnsafeReadableBytes { bytes in
                var i = start
                while i < bytes.count && bytes[i] != 10 { i += 1 }
                return i
            }
            if end > start, let line = message.getSlice(at: message.readerIndex + start, length: end - start) {
                events += handleOne(context: context, line)   // the handshake reply may share a frame with events
            }
            start = end + 1
        }
        return events
    }

    /// Counts the event in `bytes[from..<to]` (seq, latency, duplicates); 0 and a parse miss when there is none.
    @inline(__always)
    private func countEvent(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int, now: UInt64) -> Int {
        guard let s = find(#""seq":"#, in: bytes, from: from, to: to), let seq = parseUInt(bytes, at: s + 6) else {
            stats.parseMisses += 1
            return 0
        }
        var sent: UInt64 = 0
        if let t = find(#""sent_ns":"#, in: bytes, from: s + 6, to: to), let v = parseUInt(bytes, at: t + 10) { sent = v }
        progress.received += 1
        if !progress.seen.insert(Int(seq)) { progress.duplicated += 1 }
        if setup.resume, let o = find(#""offset":"#, in: bytes, from: from, to: s), let offset = parseUInt(bytes, at: o + 9) {
            progress.lastOffset = max(progress.lastOffset, Int64(offset))
        }
        if sent > 0 && now > sent { stats.latency.record(now - sent) }
        stats.deliveries += 1
        if stats.firstDeliveryNs == 0 { stats.firstDeliveryNs = now }
        stats.lastDeliveryNs = now
        return 1
    }

    private func handleOne(context: ChannelHandlerContext, _ message: ByteBuffer) -> Int {
        switch state {
        case .ready:
            let now = nowNs()
            return message.withUnsafeReadableBytes { bytes in countEvent(bytes, from: 0, to: bytes.count, now: now) }
        case .initializing, .subscribing:
            let (isError, isResult) = message.withUnsafeReadableBytes { bytes in
                (find(#""error""#, in: bytes) != nil, find(#""result""#, in: bytes) != nil)
            }
            if isError {
                ready.fail(BenchError("handshake error: \(String(buffer: message))"))
                state = .closed
                context.close(promise: nil)
                return 0
            }
            guard isResult else { return 0 }
            if setup.resume {
                message.withUnsafeReadableBytes { bytes in
                    if state == .initializing, let e = find(#""epoch":""#, in: bytes) {
                        var end = e + 9
                        while end < bytes.count && bytes[end] != 34 { end += 1 }
                        progress.epoch = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(e + 9)..<end]), as: UTF8.self)
                    }
                    if state == .subscribing && find(#""recovered":false"#, in: bytes) != nil { stats.notRecovered += 1 }
                }
            }
            if setup.target == .centrifuge {
                // the reply to our command (connect id 1, subscribe id 2), not some other push
                let expectedID = state == .initializing ? 1 : 2
                let matches = message.withUnsafeReadableBytes { bytes in
                    expectedID == 1 ? find(#""id":1,"#, in: bytes) != nil || find(#""id":1}"#, in: bytes) != nil
                                    : find(#""id":2,"#, in: bytes) != nil || find(#""id":2}"#, in: bytes) != nil
                }
                guard matches else { return 0 }
            }
            if state == .initializing {
                state = .subscribing
                switch setup.target {
                case .centrifuge:
                    sendText(context: context, #"{"id":2,"method":1,"params":{"channel":""# + session + #""}}"#)
                default:
                    var params = JSONObject([
                        ("scope", .string(SubscriptionScope.revision.rawValue)), ("scope_id", .string(setup.revision)),
                        ("target", .string(SubscriptionTarget.session.rawValue)), ("target_id", .string(session)),
                    ])
                    if resuming {
                        params["since"] = .integer(progress.lastOffset)
                        params["epoch"] = .string(progress.epoch)
                    }
                    sendText(context: context, RPCEncoder.request(id: 2, method: .subscriptionAdd, params: .object(params)))
                }
            } else {
                becomeReady()
            }
            return 0
        default:
            return 0
        }
    }

    private func sendText(context: ChannelHandlerContext, _ text: String) {
        sendFrame(context: context, opcode: 0x1, payload: context.channel.allocator.buffer(string: text))
    }

    private func sendText(context: ChannelHandlerContext, _ bytes: [UInt8]) {
        sendFrame(context: context, opcode: 0x1, payload: context.channel.allocator.buffer(bytes: bytes))
    }

    /// Client frames are masked (RFC 6455 §5.3).
    private func sendFrame(context: ChannelHandlerContext, opcode: UInt8, payload: ByteBuffer) {
        let length = payload.readableBytes
        var out = context.channel.allocator.buffer(capacity: length + 14)
        out.writeInteger(UInt8(0x80 | opcode))
        if length < 126 {
            out.writeInteger(UInt8(0x80 | UInt8(length)))
        } else if length < 65536 {
            out.writeInteger(UInt8(0x80 | 126))
            out.writeInteger(UInt16(length))
        } else {
            out.writeInteger(UInt8(0x80 | 127))
            out.writeInteger(UInt64(length))
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        out.writeBytes(mask)
        var i = 0
        for byte in payload.readableBytesView {
            out.writeInteger(byte ^ mask[i & 3])
            i += 1
        }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    /// Sends a close frame and closes (called on the loop at the end of a run).
    func shutdown() {
        guard let channel = channelRef, state != .closed else { return }
        channel.close(promise: nil)
    }
}

/// The subscriber side: one event-loop group, one LoopStats per loop.
final class SubscriberPool: @unchecked Sendable {
    let group: MultiThreadedEventLoopGroup
    let loops: [any EventLoop]
    let stats: [ObjectIdentifier: LoopStats]
    let shared: SharedCounters
    let config: Config
    let setup: SubscriberSetup
    /// subscribers per session index (for expected deliveries)
    var perSession: [Int]

    init(config: Config, token: String, shared: SharedCounters) {
        self.config = config
        self.shared = shared
        group = MultiThreadedEventLoopGroup(numberOfThreads: config.threads)
        var loops: [any EventLoop] = []
        var stats: [ObjectIdentifier: LoopStats] = [:]
        for loop in group.makeIterator() {
            loops.append(loop)
            stats[ObjectIdentifier(loop)] = LoopStats()
        }
        self.loops = loops
        self.stats = stats
        setup = SubscriberSetup(target: config.target, host: config.host, ports: config.ports, token: token,
                                revision: config.revision, resume: config.resume, connectTimeout: config.connectTimeout)
        perSession = Array(repeating: 0, count: config.sessions)
        for i in 0..<config.subscribers { perSession[i % config.sessions] += 1 }
    }

    /// Opens one subscriber; the future completes when it is subscribed.
    func open(index: Int) -> EventLoopFuture<Void> {
        let loop = loops[index % loops.count]
        let sessionIndex = index % config.sessions
        let progress = SubscriberProgress(session: "s-\(sessionIndex)", sessionIndex: sessionIndex,
                                          portIndex: index % config.ports.count)
        return connect(progress, on: loop, resuming: false)
    }

    /// One connection for `progress` to `ports[progress.portIndex]`; the future completes when it is subscribed.
    private func connect(_ progress: SubscriberProgress, on loop: any EventLoop, resuming: Bool) -> EventLoopFuture<Void> {
        let loopStats = stats[ObjectIdentifier(loop)]!
        let ready = loop.makePromise(of: Void.self)
        let onDrop: (@Sendable (SubscriberProgress) -> Void)? = config.resume ? { @Sendable dropped in
            self.resume(dropped, on: loop, attempt: 1)
        } : nil
        let handler = SubscriberHandler(setup: setup, progress: progress, stats: loopStats, shared: shared,
                                        ready: ready, resuming: resuming, onDrop: onDrop)
        let address: SocketAddress
        do { address = try SocketAddress(ipAddress: config.host, port: config.ports[progress.portIndex]) } catch {
            return loop.makeFailedFuture(error)
        }
        let connect = ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(Int64(config.connectTimeout)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(handler)
                    if progress.current == nil { loopStats.subscribers.append(progress) }
                    progress.current = handler
                }
            }
            .connect(to: address)
        connect.whenFailure { ready.fail($0) }
        // bound the handshake
        let timeout = loop.scheduleTask(in: .milliseconds(Int64(config.connectTimeout * 1000))) {
            ready.fail(BenchError("handshake timeout"))
        }
        ready.futureResult.whenComplete { _ in timeout.cancel() }
        return ready.futureResult
    }

    /// A dropped subscriber (its node died or went away) reconnects to the next port after a short jittered
    /// pause and resumes after its last offset, as a client following docs/protocol.md would. Bounded: 20
    /// attempts, then it counts as an unexpected close.
    private func resume(_ progress: SubscriberProgress, on loop: any EventLoop, attempt: Int) {
        let loopStats = stats[ObjectIdentifier(loop)]!
        guard !shared.stopping.load(ordering: .relaxed) else { return }
        guard attempt <= 20 else { loopStats.unexpectedCloses += 1; return }
        progress.portIndex = (progress.portIndex + 1) % config.ports.count
        let pause = Int64.random(in: 50...250) * Int64(min(attempt, 4))
        loop.scheduleTask(in: .milliseconds(pause)) {
            self.connect(progress, on: loop, resuming: true).whenComplete { result in
                switch result {
                case .success: loopStats.resumes += 1
                case .failure: self.resume(progress, on: loop, attempt: attempt + 1)
                }
            }
        }
    }

    /// Connects every subscriber, at most `connectConcurrency` handshakes at a time.
    /// Returns (connected, failed, first error, seconds).
    func connectAll() -> (Int, Int, String?, Double) {
        let start = nowNs()
        let total = config.subscribers
        let concurrency = max(1, config.connectConcurrency)
        let state = ConnectState()
        let done = loops[0].makePromise(of: Void.self)
        let deadline = NIODeadline.now() + .milliseconds(Int64((config.connectTimeout + Double(total) / 200.0) * 1000))
        @Sendable func launchNext() {
            let index: Int? = state.lock.withLock { s in
                guard s.next < total else { return nil }
                s.next += 1
                return s.next - 1
            }
            guard let index else { return }
            open(index: index).whenComplete { result in
                let finished: Bool = state.lock.withLock { s in
                    switch result {
                    case .success: s.connected += 1
                    case .failure(let e): s.failed += 1; if s.firstError == nil { s.firstError = "\(e)" }
                    }
                    return s.connected + s.failed == total
                }
                if finished { done.succeed(()) } else { launchNext() }
            }
        }
        if total == 0 { done.succeed(()) }
        for _ in 0..<min(concurrency, total) { launchNext() }
        let guardTask = loops[0].scheduleTask(deadline: deadline) { done.fail(BenchError("connect phase timed out")) }
        _ = try? done.futureResult.wait()
        guardTask.cancel()
        let s = state.lock.withLock { $0 }
        return (s.connected, total - s.connected, s.firstError, Double(nowNs() - start) / 1e9)
    }

    func summarize(acked: [BitSet]) -> LoopSummary {
        var total: LoopSummary? = nil
        for loop in loops {
            let st = stats[ObjectIdentifier(loop)]!
            let summary = try! loop.submit { () -> LoopSummary in
                var lost = 0, dups = 0, withLoss = 0, connected = 0
                for sub in st.subscribers {
                    let state = sub.current?.state ?? .closed
                    if state == .ready || state == .closed && sub.received > 0 { connected += 1 }
                    guard state == .ready || sub.received > 0 else { continue }
                    let missing = sub.sessionIndex < acked.count ? sub.seen.missing(from: acked[sub.sessionIndex]) : 0
                    lost += missing
                    dups += sub.duplicated
                    if missing > 0 { withLoss += 1 }
                }
                return LoopSummary(latency: st.latency, connect: st.connect, deliveries: st.deliveries,
                                   firstDeliveryNs: st.firstDeliveryNs, lastDeliveryNs: st.lastDeliveryNs,
                                   lost: lost, duplicated: dups, subscribersWithLoss: withLoss,
                                   unexpectedCloses: st.unexpectedCloses, parseMisses: st.parseMisses, connected: connected,
                                   multiEventFrames: st.multiEventFrames, resumes: st.resumes, notRecovered: st.notRecovered)
            }.wait()
            if var t = total {
                t.latency.add(summary.latency)
                t.connect.add(summary.connect)
                t.deliveries += summary.deliveries
                t.firstDeliveryNs = t.firstDeliveryNs == 0 ? summary.firstDeliveryNs : min(t.firstDeliveryNs, max(summary.firstDeliveryNs, 1))
                t.lastDeliveryNs = max(t.lastDeliveryNs, summary.lastDeliveryNs)
                t.lost += summary.lost
                t.duplicated += summary.duplicated
                t.subscribersWithLoss += summary.subscribersWithLoss
                t.unexpectedCloses += summary.unexpectedCloses
                t.parseMisses += summary.parseMisses
                t.multiEventFrames += summary.multiEventFrames
                t.resumes += summary.resumes
                t.notRecovered += summary.notRecovered
                t.connected += summary.connected
                total = t
            } else {
                total = summary
            }
        }
        return total!
    }

    func closeAll() {
        shared.stopping.store(true, ordering: .relaxed)
        for loop in loops {
            let st = stats[ObjectIdentifier(loop)]!
            _ = try? loop.submit { for sub in st.subscribers { sub.current?.shutdown() } }.wait()
        }
        // give the closes a moment to go out
        Thread.sleep(forTimeInterval: 0.3)
    }

    func shutdown() {
        try? group.syncShutdownGracefully()
    }
}

final class ConnectState: Sendable {
    struct S { var next = 0; var connected = 0; var failed = 0; var firstError: String? }
    let lock = Mutex(S())
}
