import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Testing

/// SPEC §10 `--rate-limit`: 429 beyond the bucket, 4029 for a flood; other connections unaffected.
@Suite struct RateLimitTests {
    private func pings(_ count: Int, from start: Int = 0) -> String {
        "[" + (start..<(start + count)).map { #"{"jsonrpc":"2.0","id":\#($0),"method":"status/ping"}"# }.joined(separator: ",") + "]"
    }

    @Test func requestsBeyondTheBurstGet429() async throws {
        try await withTestServer({ $0.rateLimit = 5; $0.rateLimitBurst = 10 }) { (server: TestServerHandle) async throws in
            let socket = try await server.connect()
            try await socket.send(pings(15))
            let replies = try #require(try await socket.nextJSON() as? [[String: Any]])
            #expect(replies.count == 15)
            let limited = replies.filter { ($0["error"] as? [String: Any])?["code"] as? Int == 429 }
            #expect(replies.prefix(10).allSatisfy { $0["result"] != nil })
            #expect(limited.count == 5)
            #expect((limited.first?["error"] as? [String: Any])?["message"] as? String == "Too many requests")
            // The bucket refills: a second later requests pass again.
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await socket.call(#"{"jsonrpc":"2.0","id":"later","method":"status/ping"}"#)["result"] != nil)
        }
    }

    @Test func floodClosesWith4029() async throws {
        try await withTestServer({ $0.rateLimit = 5; $0.rateLimitBurst = 10 }) { (server: TestServerHandle) async throws in
            let bystander = try await server.connect()
            let socket = try await server.connect()
            try await socket.send(pings(60))
            #expect(try await socket.expectClose() == 4029)
            #expect(try await bystander.call(#"{"jsonrpc":"2.0","id":1,"method":"status/ping"}"#)["result"] != nil)
        }
    }
}
