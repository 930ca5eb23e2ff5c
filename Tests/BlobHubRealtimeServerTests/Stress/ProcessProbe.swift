import Foundation

/// What a process holds, read from /proc (Linux).
struct ProcessProbe {
    let pid: Int32

    /// Open descriptors, split into sockets and the rest (files, pipes, eventfds, epoll).
    func descriptors() throws -> (sockets: Int, others: Int) {
        let directory = "/proc/\(pid)/fd"
        var sockets = 0
        var others = 0
        for entry in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(entry)")) ?? ""
            if target.hasPrefix("socket:") { sockets += 1 } else { others += 1 }
        }
        return (sockets, others)
    }

    /// The socket count once it has not changed for half a second (closes finish asynchronously).
    func settledSocketCount(timeout: Duration = .seconds(5)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        var last = try descriptors().sockets
        var unchangedSince = ContinuousClock.now
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            let current = try descriptors().sockets
            if current != last {
                last = current
                unchangedSince = ContinuousClock.now
            } else if ContinuousClock.now - unchangedSince >= .milliseconds(500) {
                return current
            }
        }
        throw StressFailure("socket count of \(pid) never settled (last \(last))")
    }

    /// Resident set size in KiB (VmRSS).
    func residentKiB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { throw StressFailure("no VmRSS for \(pid)") }
        return kib
    }
}
