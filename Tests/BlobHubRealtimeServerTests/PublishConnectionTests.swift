import BlobHubRealtimeServices
import Foundation
import NIOCore
import Testing

/// `POST /v1/events` is answered on the connection's event loop (`PublishRequestHandler`), beside the
/// router on the same keep-alive connection: these tests speak raw HTTP/1.1 to pin down what a client
/// sees on one connection (order, framing, headers, refusals that leave the connection usable).
@Suite struct PublishConnectionTests {
    private static let auth = [("Authorization", "Bearer \(TestKeys.publisher)"), ("Content-Type", "application/json")]

    private func offsets(_ response: HTTPResponseHead) -> [Int] {
        ((response.bodyJSON?["events"] as? [[String: Any]]) ?? []).compactMap { $0["offset"] as? Int }
    }

    @Test func publishAndRouterRequestsShareOneKeepAliveConnection() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await RawSocket.connect(port: server.port)
            defer { Task { await socket.close() } }
            let first = try await socket.request("POST", "/v1/events", headers: Self.auth, body: Array(sessionEvent("a").utf8))
            #expect(first.status == 202)
            #expect(first.header("Content-Type") == "application/json")
            #expect(first.header("Date")?.hasSuffix(" GMT") == true)
            #expect(try await socket.request("GET", "/healthz").status == 200)
            // Refusals read (and drop) the whole body: the next request on the connection is intact.
            let refused = try await socket.request("POST", "/v1/events", headers: [("Authorization", "Bearer wrong")], body: Array(sessionEvent("b").utf8))
            #expect(refused.status == 401)
            #expect(refused.header("WWW-Authenticate") == "Bearer")
            let invalid = try await socket.request("POST", "/v1/events", headers: Self.auth, body: Array(#"{"type":"x"}"#.utf8))
            #expect(invalid.status == 400)
            #expect((invalid.bodyJSON?["error"] as? [String: Any])?["field"] as? String == "event")
            let last = try await socket.request("POST", "/v1/events", headers: Self.auth, body: Array(sessionEvent("c").utf8))
            #expect(last.status == 202)
            #expect(offsets(last).first == offsets(first).first.map { $0 + 1 })
        }
    }

    /// Requests written back to back are answered in request order, whichever part of the server answers.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await RawSocket.connect(port: server.port)
            defer { Task { await socket.close() } }
            func post(_ body: String) -> String {
                "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestKeys.publisher)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            }
            let batch = "[" + sessionEvent("p2") + "," + sessionEvent("p3") + "]"
            try await socket.write(post(sessionEvent("p1")) + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + post(batch)
                + "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n" + post(sessionEvent("p4")))
            var responses: [HTTPResponseHead] = []
            for _ in 0..<5 {
                responses.append(try await socket.inbox.read("response", timeout: .seconds(10)) { HTTPResponseHead.parse(&$0) })
            }
            #expect(responses.map(\.status) == [202, 200, 202, 404, 202])
            let all = responses.flatMap(offsets)
            #expect(all.count == 4)
            #expect(all == all.sorted() && Set(all).count == 4)
        }
    }

    /// Hundreds of publishes in one write: the connection reads on while a publish is with the store, stops
    /// reading once later requests are held, and resumes after each answer; every request is answered, in order.
    /// SQLite: each answer comes back from the store's writer, so later requests arrive while one is pending.
    @Test func aPipelinedBurstIsAnsweredCompletelyInOrder() async throws {
        try await withTemporaryDirectory { directory in
        try await withPlatform({ $0.store = "sqlite:" + directory.appendingPathComponent("log.sqlite").path }) { (server: TestServerHandle) async throws in
            let socket = try await RawSocket.connect(port: server.port)
            defer { Task { await socket.close() } }
            let count = 300
            var burst = ""
            for index in 0..<count {
                let body = sessionEvent("burst.\(index)", id: "burst-\(index)")
                burst += "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestKeys.publisher)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            }
            try await socket.write(burst)
            var answered: [Int] = []
            for _ in 0..<count {
                let response = try await socket.inbox.read("response", timeout: .seconds(20)) { HTTPResponseHead.parse(&$0) }
                #expect(response.status == 202)
                answered += offsets(response)
            }
            #expect(answered.count == count)
            #expect(answered == answered.sorted() && Set(answered).count == count)
            // The connection is still usable afterwards.
            #expect(try await socket.request("GET", "/healthz").status == 200)
        }
        }
    }

    /// A client that ends its side of TCP right after its request still gets the answer (the store answers
    /// after the end of input arrived), then the connection closes.
    @Test func aHalfClosedPublisherIsAnsweredBeforeTheClose() async throws {
        try await withTemporaryDirectory { directory in
        try await withPlatform({ $0.store = "sqlite:" + directory.appendingPathComponent("log.sqlite").path }) { (server: TestServerHandle) async throws in
            for index in 0..<20 {
                let socket = try await RawSocket.connect(port: server.port)
                let body = sessionEvent("half.\(index)")
                try await socket.write("POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestKeys.publisher)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                try await socket.channel.close(mode: .output)
                let response = try await socket.inbox.read("response", timeout: .seconds(10)) { HTTPResponseHead.parse(&$0) }
                #expect(response.status == 202)
                try await socket.waitForEOF()
                await socket.close()
            }
        }
        }
    }

    @Test func chunkedQueriedAndSlashedRequestsArePublished() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await RawSocket.connect(port: server.port)
            defer { Task { await socket.close() } }
            let event = sessionEvent("chunked")
            let split = event.index(event.startIndex, offsetBy: 10)
            let head = "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestKeys.publisher)\r\nTransfer-Encoding: chunked\r\n\r\n"
            let first = String(event[..<split]), second = String(event[split...])
            try await socket.write(head + String(first.utf8.count, radix: 16) + "\r\n" + first + "\r\n")
            try await Task.sleep(for: .milliseconds(50))  // the body arrives in two reads
            try await socket.write(String(second.utf8.count, radix: 16) + "\r\n" + second + "\r\n0\r\n\r\n")
            let chunked = try await socket.inbox.read("response", timeout: .seconds(10)) { HTTPResponseHead.parse(&$0) }
            #expect(chunked.status == 202)
            #expect(try await socket.request("POST", "/v1/events?source=test", headers: Self.auth, body: Array(sessionEvent("q").utf8)).status == 202)
            #expect(try await socket.request("POST", "/v1/events/", headers: Self.auth, body: Array(sessionEvent("s").utf8)).status == 202)
            #expect(try await socket.request("GET", "/v1/events").status == 405)
            #expect(try await socket.request("POST", "/v1/eventsx", headers: Self.auth, body: Array(sessionEvent("n").utf8)).status == 404)
        }
    }

    @Test func oversizeBodyIs413AndTheConnectionStaysUsable() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await RawSocket.connect(port: server.port)
            defer { Task { await socket.close() } }
            let big = [UInt8](repeating: UInt8(ascii: "a"), count: 32 * 1024 * 1024 + 1)
            let response = try await socket.request("POST", "/v1/events", headers: Self.auth, body: big, timeout: .seconds(30))
            #expect(response.status == 413)
            #expect((response.bodyJSON?["error"] as? [String: Any])?["message"] as? String == "Request body too large")
            #expect(try await socket.request("POST", "/v1/events", headers: Self.auth, body: Array(sessionEvent("after").utf8)).status == 202)
        }
    }

    @Test func connectionCloseIsHonouredAfterTheAnswer() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await RawSocket.connect(port: server.port)
            let response = try await socket.request("POST", "/v1/events", headers: Self.auth + [("Connection", "close")], body: Array(sessionEvent("bye").utf8))
            #expect(response.status == 202)
            try await socket.waitForEOF()
        }
    }

    @Test func http10WithoutKeepAliveIsClosedAfterTheAnswer() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let socket = try await RawSocket.connect(port: server.port)
            let body = sessionEvent("old.client")
            try await socket.write("POST /v1/events HTTP/1.0\r\nAuthorization: Bearer \(TestKeys.publisher)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let response = try await socket.inbox.read("response", timeout: .seconds(10)) { HTTPResponseHead.parse(&$0) }
            #expect(response.status == 202, "\(response.bodyText)")
            #expect(response.header("Connection")?.lowercased() == "close")
            try await socket.waitForEOF()
        }
    }

    /// A publish answered by the loop still reaches subscribers: durable first, then fanned out.
    @Test func publishedEventsReachSubscribers() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let subscriber = try await server.connectInitialized()
            _ = try await subscriber.subscribe(sessionParams())
            let socket = try await RawSocket.connect(port: server.port)
            defer { Task { await socket.close() } }
            let response = try await socket.request("POST", "/v1/events", headers: Self.auth, body: Array(sessionEvent("seen", id: "loop-1").utf8))
            #expect(response.status == 202)
            let text = try await subscriber.nextText()
            #expect(text.contains(#""id":"loop-1""#))
        }
    }
}
