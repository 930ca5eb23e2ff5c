#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore

/// The parsed command line (a lazily initialised global: Sendable, read everywhere).
let config: Config = {
    do {
        return try Config.parse(Array(CommandLine.arguments.dropFirst()))
    } catch {
        say("\(error)")
        exit(2)
    }
}()

/// Hard stop: whatever happens, the process ends (duration + drain + hold + connect bounds + slack).
func installHardLimit() {
    let limit = config.duration + config.drain + config.hold + config.connectTimeout * 2 + Double(config.subscribers) / 100.0 + 60
    Thread.detachNewThread {
        Thread.sleep(forTimeInterval: limit)
        say("hard time limit (\(Int(limit)) s) reached; exiting")
        exit(3)
    }
}

/// Which server the tool drives.
enum Target: String, Sendable {
    case blobhub
    case nchan
    /// The centrifuge-library peer (`../shared/peers/centrifuge/`): JSON protocol v1, several messages per frame.
    case centrifuge

    var defaultPort: Int {
        switch self {
        case .blobhub: 18080
        case .nchan: 8090
        case .centrifuge: 8095
        }
    }
}

/// Everything a run needs, parsed from the command line.
struct Config: Sendable {
    var scenario = "fanout"
    var target = Target.blobhub
    var host = "127.0.0.1"
    var port = 18080
    /// Subscriber ports (subscriber i connects to `ports[i % count]`); `--port` when not given. Cluster runs.
    var ports: [Int] = []
    /// Publisher ports (connection c of publisher loop j goes to `publishPorts[(j + c) % count]`).
    var publishPorts: [Int] = []
    /// A subscriber whose connection drops resumes on the next port with `since` and `epoch` (blobhub only).
    var resume = false
    var adminKey = "bench-admin-key"
    var publisherKey = "bench-publisher-key"
    var user = "bench-user"
    var revision = "rev-1"
    var subscribers = 1000
    var sessions = 1
    var duration = 10.0
    var rate = 0.0
    var batch = 1
    var publishers = 2
    var window = 100
    /// Subscriber event loops: one per core, so the subscriber side is never a single saturated thread.
    var threads = System.coreCount
    /// Publisher event loops; 0 = automatic (1 with subscribers, else up to one per core).
    var publisherThreads = 0
    var serverPIDs: [Int32] = []
    var hold = 5.0
    var connectConcurrency = 256
    var drain = 5.0
    var connectTimeout = 30.0
    var label = ""

    var sessionNames: [String] { (0..<sessions).map { "s-\($0)" } }

    static let usage = """
        usage: blobhub-realtime-bench <fanout|fanout-closed|latency|streams|idle|publish|publish-single> [options]
          fanout   N subscribers over C sessions, events published flat out (or at --rate)
          fanout-closed  1 publisher, 1 event per request, the next one after the previous 2xx; 1 session × 1000
          latency  same as fanout with defaults 1000 subscribers / 10 sessions / 100 events/s
          streams  one subscriber per session (10000 by default), events round-robin
          idle     N initialized, subscribed connections held for --hold; server RSS per connection
          publish  no subscribers; batched POSTs flat out, events/s accepted
          publish-single  no subscribers; 1 event per POST, 32 keep-alive connections, one request in flight each
        options:
          --target blobhub|nchan|centrifuge (blobhub)  --host 127.0.0.1 only
          --port N (18080; nchan 8090; centrifuge 8095)
          --ports P1,P2,.. (subscribers round-robin)  --publish-ports P1,P2,.. (publisher connections round-robin)
          --resume (a dropped subscriber reconnects to the next port and resumes with since + epoch)
          --admin-key K --publisher-key K              --user ID (bench-user)  --revision ID (rev-1)
          --subscribers N  --sessions C  --duration 10s  --rate EV/S (0 = flat out)  --batch B (1)
          --publishers P (2)  --window EVENTS (100; flat out keeps at most this many events undelivered)
          --threads T (cores; subscriber event loops)  --publisher-threads T (auto: 1 with subscribers, else cores)
          --server-pid PID[,PID...]  --hold 5s  --drain 5s
          --connect-concurrency K (256)  --connect-timeout 30s  --label TEXT
        Every run is bounded: duration + drain + connect timeout; it prints human lines, then one JSON line.
        The JSON line records the CPU of each of the tool's event-loop threads (tool_cpu_threads, % of a core)
        and tool_bound: true when the busiest loop thread used >= 90 % of a core or all of them >= 90 % on average.
        """

    static func parse(_ arguments: [String]) throws -> Config {
        var config = Config()
        var args = arguments[...]
        guard let scenario = args.popFirst(), !scenario.hasPrefix("-") else { throw UsageError(message: usage) }
        config.scenario = scenario
        switch scenario {
        case "fanout": config.subscribers = 1000; config.sessions = 1; config.rate = 0
        case "fanout-closed":
            config.subscribers = 1000; config.sessions = 1; config.rate = 0; config.publishers = 1; config.batch = 1
        case "latency": config.subscribers = 1000; config.sessions = 10; config.rate = 100; config.publishers = 1
        case "streams": config.subscribers = 10000; config.sessions = 10000; config.rate = 0; config.window = 1000
        case "idle": config.subscribers = 10000; config.sessions = 1
        case "publish": config.subscribers = 0; config.sessions = 10; config.batch = 500; config.publishers = 4
        case "publish-single": config.subscribers = 0; config.sessions = 32; config.batch = 1; config.publishers = 32
        default: throw UsageError(message: "unknown scenario \(scenario)\n" + usage)
        }
        var portGiven = false
        while let flag = args.popFirst() {
            if flag == "-h" || flag == "--help" { throw UsageError(message: usage) }
            if flag == "--resume" { config.resume = true; continue }
            guard let value = args.popFirst() else { throw UsageError(message: "missing value for \(flag)") }
            func int() throws -> Int {
                guard let v = Int(value) else { throw UsageError(message: "\(flag): not an integer: \(value)") }
                return v
            }
            switch flag {
            case "--target":
                guard let t = Target(rawValue: value) else { throw UsageError(message: "--target blobhub|nchan|centrifuge") }
                config.target = t
            case "--host": config.host = value
            case "--port": config.port = try int(); portGiven = true
            case "--ports", "--publish-ports":
                let list = value.split(separator: ",").compactMap { Int($0) }
                guard !list.isEmpty else { throw UsageError(message: "\(flag): a comma-separated list of ports") }
                if flag == "--ports" { config.ports = list } else { config.publishPorts = list }
            case "--admin-key": config.adminKey = value
            case "--publisher-key": config.publisherKey = value
            case "--user": config.user = value
            case "--revision": config.revision = value
            case "--subscribers", "--connections": config.subscribers = try int()
            case "--sessions": config.sessions = try int()
            case "--duration": config.duration = try parseDuration(value)
            case "--rate": guard let r = Double(value) else { throw UsageError(message: "--rate: \(value)") }; config.rate = r
            case "--batch": config.batch = try int()
            case "--publishers": config.publishers = try int()
            case "--window": config.window = try int()
            case "--threads": config.threads = try int()
            case "--publisher-threads": config.publisherThreads = try int()
            case "--server-pid":
                config.serverPIDs = value.split(whereSeparator: { $0 == "," || $0 == " " }).compactMap { Int32($0) }
            case "--hold": config.hold = try parseDuration(value)
            case "--drain": config.drain = try parseDuration(value)
            case "--connect-concurrency": config.connectConcurrency = try int()
            case "--connect-timeout": config.connectTimeout = try parseDuration(value)
            case "--label": config.label = value
            default: throw UsageError(message: "unknown option \(flag)\n" + usage)
            }
        }
        if !portGiven { config.port = config.ports.first ?? config.publishPorts.first ?? config.target.defaultPort }
        if config.ports.isEmpty { config.ports = [config.port] }
        if config.publishPorts.isEmpty { config.publishPorts = [config.port] }
        if config.resume && config.target != .blobhub { throw UsageError(message: "--resume: blobhub only") }
        guard config.host == "127.0.0.1" || config.host == "localhost" else {
            throw UsageError(message: "--host must be 127.0.0.1 (loopback only)")
        }
        config.host = "127.0.0.1"
        if config.target != .blobhub { config.batch = 1 }   // the peers take one message per POST
        config.sessions = max(1, config.sessions)
        config.batch = max(1, min(1000, config.batch))
        config.publishers = max(1, config.publishers)
        config.threads = max(1, config.threads)
        if config.scenario == "fanout-closed" || config.scenario == "publish-single" { config.batch = 1 }
        if config.scenario == "fanout-closed" { config.publishers = 1 }
        // Several publisher loops only without subscribers: the flat-out window and the per-session
        // sequence numbers of a delivery run are kept by one loop.
        if config.subscribers > 0 {
            config.publisherThreads = 1
        } else if config.publisherThreads <= 0 {
            config.publisherThreads = min(System.coreCount, config.publishers, config.sessions)
        }
        config.publisherThreads = max(1, min(config.publisherThreads, config.publishers, config.sessions))
        if config.scenario == "streams" && config.sessions < config.subscribers { config.sessions = config.subscribers }
        return config
    }
}

struct UsageError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

struct BenchError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

func parseDuration(_ text: String) throws -> Double {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        if let v = Double(text.dropLast(suffix.count)) { return v * scale }
    }
    if let v = Double(text) { return v }
    throw UsageError(message: "bad duration \(text) (e.g. 500ms, 10s, 1m)")
}

/// CLOCK_MONOTONIC in nanoseconds (the same clock stamps `sent_ns` and measures receipt).
@inline(__always) func nowNs() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

// MARK: - /proc readings

struct ProcSample: Sendable {
    var cpuTicks: Int = 0
    var rssKiB: Int = 0
}

enum Proc {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    static func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    /// utime + stime in clock ticks, from /proc/<pid>/stat.
    static func cpuTicks(_ pid: String) -> Int {
        guard let stat = read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12 else { return 0 }
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    static func rssKiB(_ pid: String) -> Int {
        guard let status = read("/proc/\(pid)/status") else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    static func sample(_ pids: [Int32]) -> ProcSample {
        var s = ProcSample()
        for pid in pids {
            s.cpuTicks += cpuTicks(String(pid))
            s.rssKiB += rssKiB(String(pid))
        }
        return s
    }

    static func selfSample() -> ProcSample { ProcSample(cpuTicks: cpuTicks("self"), rssKiB: rssKiB("self")) }

    /// The kernel thread id of the calling thread (`/proc/thread-self` → `<pid>/task/<tid>`).
    static func currentThreadID() -> Int32 {
        guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self"),
              let last = link.split(separator: "/").last, let tid = Int32(last) else { return 0 }
        return tid
    }

    /// utime + stime of each of this process's threads `tids`, in clock ticks.
    static func threadTicks(_ tids: [Int32]) -> [Int] {
        tids.map { $0 > 0 ? cpuTicks("self/task/\($0)") : 0 }
    }

    /// CPU use between two samples as a percentage of one core.
    static func cpuPercent(_ a: ProcSample, _ b: ProcSample, seconds: Double) -> Double {
        guard seconds > 0 else { return 0 }
        return Double(b.cpuTicks - a.cpuTicks) / ticksPerSecond / seconds * 100
    }
}

// MARK: - Output

/// An ordered JSON object written by hand (one summary line).
struct JSONLine {
    private var parts: [String] = []
    mutating func add(_ key: String, _ value: String) { parts.append("\"\(key)\":\"\(Self.escaped(value))\"") }
    mutating func add(_ key: String, _ value: Int) { parts.append("\"\(key)\":\(value)") }
    mutating func add(_ key: String, _ value: UInt64) { parts.append("\"\(key)\":\(value)") }
    mutating func add(_ key: String, _ value: Double) {
        parts.append("\"\(key)\":\(value.isFinite ? String(format: "%.3f", value) : "null")")
    }
    mutating func add(_ key: String, _ value: Bool) { parts.append("\"\(key)\":\(value)") }
    mutating func add(_ key: String, _ values: [Double]) {
        parts.append("\"\(key)\":[" + values.map { $0.isFinite ? String(format: "%.1f", $0) : "null" }.joined(separator: ",") + "]")
    }
    mutating func add(_ key: String, _ values: [String]) {
        parts.append("\"\(key)\":[" + values.map { "\"\(Self.escaped($0))\"" }.joined(separator: ",") + "]")
    }
    /// JSON string content: an error text may hold quotes, backslashes and newlines (a peer's HTML error
    /// page once split the summary line in two, and bench/run keeps only the last line).
    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
    var text: String { "{" + parts.joined(separator: ",") + "}" }
}

func fmt(_ v: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", v) }
func ms(_ ns: UInt64) -> Double { Double(ns) / 1_000_000 }

func say(_ line: String) {
    FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
}

// MARK: - Bytes

/// Position of `needle` in `bytes[from...]`, or nil.
@inline(__always)
func find(_ needle: StaticString, in bytes: UnsafeRawBufferPointer, from: Int = 0, to: Int? = nil) -> Int? {
    let n = needle.utf8CodeUnitCount
    let first = needle.utf8Start.pointee
    let limit = min(to ?? bytes.count, bytes.count)
    guard limit >= n else { return nil }
    var i = from
    let last = limit - n
    while i <= last {
        if bytes[i] == first {
            var j = 1
            while j < n && bytes[i + j] == needle.utf8Start[j] { j += 1 }
            if j == n { return i }
        }
        i += 1
    }
    return nil
}

/// Unsigned decimal at `at`, or nil when there is no digit.
@inline(__always)
func parseUInt(_ bytes: UnsafeRawBufferPointer, at: Int) -> UInt64? {
    // (a number ends at its first non-digit, so a line bound is not needed here)
    var i = at
    var v: UInt64 = 0
    var any = false
    while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
        v = v &* 10 &+ UInt64(bytes[i] - 48)
        i += 1
        any = true
    }
    return any ? v : nil
}

/// A growable bit set of sequence numbers.
struct BitSet: Sendable {
    var words: [UInt64] = []
    /// Sets `index`; returns false when it was already set.
    @inline(__always) mutating func insert(_ index: Int) -> Bool {
        let w = index >> 6
        if w >= words.count { words.append(contentsOf: repeatElement(0, count: w - words.count + 1 + words.count / 2)) }
        let bit = UInt64(1) << UInt64(index & 63)
        if words[w] & bit != 0 { return false }
        words[w] |= bit
        return true
    }
    var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }
    /// Adds every member of `other`.
    mutating func formUnion(_ other: BitSet) {
        if other.words.count > words.count { words.append(contentsOf: repeatElement(0, count: other.words.count - words.count)) }
        for (i, w) in other.words.enumerated() { words[i] |= w }
    }
    /// How many members of `other` are not in self.
    func missing(from other: BitSet) -> Int {
        var n = 0
        for (i, w) in other.words.enumerated() {
            let mine = i < words.count ? words[i] : 0
            n += (w & ~mine).nonzeroBitCount
        }
        return n
    }
}
