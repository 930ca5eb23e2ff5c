@testable import BlobHubRealtimeServer
@testable import BlobHubRealtimeHTTPAPI
@testable import BlobHubRealtimeServices
@testable import BlobHubRealtimeTransport
import Foundation
import Synchronization
import Testing

/// SPEC §5.4 without a reconnect storm: a draining node closes its clients with 1001 in batches
/// spread over half of `--drain-timeout`, not all at once.
@Suite struct DrainBatchTests {
    @Test func planSpreadsClosesOverHalfTheDrainTimeout() {
        let large = DrainPlan(connections: 10_000, drainTimeout: .seconds(10))
        #expect(large.step == .milliseconds(100))
        #expect(large.batchSize == 200 && large.batches == 50)

        let uneven = DrainPlan(connections: 101, drainTimeout: .seconds(10))
        #expect(uneven.batchSize == 3 && uneven.batches == 34)
        #expect(uneven.split(Array(0..<101)).map(\.count) == Array(repeating: 3, count: 33) + [2])

        let small = DrainPlan(connections: 3, drainTimeout: .seconds(10))
        #expect(small.batchSize == 1 && small.batches == 3)

        let none = DrainPlan(connections: 0, drainTimeout: .seconds(10))
        #expect(none.batches == 0 && none.split([Int]()).isEmpty)

        // A drain timeout shorter than one step still closes everything, in one batch.
        let tiny = DrainPlan(connections: 50, drainTimeout: .milliseconds(100))
        #expect(tiny.batchSize == 50 && tiny.batches == 1)
    }

    @Test func sigtermClosesClientsInBatchesSpreadOverTheWindow() async throws {
        // 4 s drain → closes spread over 2 s in 100 ms steps: 40 clients go 2 per step over ~1.9 s.
        let child = try await ServerProcess(arguments: ["--store", "memory", "--jwt-secret", TestSecrets.jwtSecret, "--drain-timeout", "4s"])
        defer { child.terminate() }
        try await child.waitUntilHealthy()
        let remote = RemoteServer(port: child.port)
        var clients: [TestWebSocket] = []
        for _ in 0..<40 { clients.append(try await remote.connectInitialized()) }

        let signalledAt = ContinuousClock.now
        child.signal(SIGTERM)
        let closes = try await withThrowingTaskGroup(of: (UInt16?, Duration).self) { group in
            for client in clients {
                group.addTask {
                    let code = try await client.expectClose(timeout: .seconds(6))
                    return (code, ContinuousClock.now - signalledAt)
                }
            }
            var results: [(UInt16?, Duration)] = []
            for try await result in group { results.append(result) }
            return results
        }
        #expect(closes.count == 40)
        #expect(closes.allSatisfy { $0.0 == 1001 })
        let times = closes.map(\.1).sorted()
        let spread = times.last! - times.first!
        #expect(spread >= .milliseconds(1200), "closes arrived within \(spread)")
        #expect(spread <= .milliseconds(2600), "closes arrived within \(spread)")
        // No burst: the first 150 ms after the first close saw only the first batch or two, not everyone.
        let early = times.filter { $0 - times.first! < .milliseconds(150) }.count
        #expect(early <= 6, "\(early) closes in the first 150 ms")

        let status = try await child.waitForExit(timeout: .seconds(8))
        #expect(status == 0, "log: \(child.log)")
        for client in clients { await client.close() }
    }
}
