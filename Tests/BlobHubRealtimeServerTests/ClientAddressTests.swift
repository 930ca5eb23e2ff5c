import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Testing

/// `--trusted-proxy`: which address the connection logs name as the client (`client_address`).
@Suite struct ClientAddressTests {
    @Test func entriesAreAddressesOrCIDRRanges() throws {
        let proxies = try TrustedProxies(["10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1", "0.0.0.0/0"])
        #expect(proxies.contains("10.255.1.2") && proxies.contains("192.168.1.7") && proxies.contains("fd12::5") && proxies.contains("::1"))
        #expect(proxies.contains("8.8.8.8"), "0.0.0.0/0 holds every IPv4 address")
        #expect(!proxies.contains("fe80::1") && !proxies.contains("not-an-ip"))
        let narrow = try TrustedProxies(["10.1.2.0/23"])
        #expect(narrow.contains("10.1.3.255") && !narrow.contains("10.1.4.0") && !narrow.contains("10.1.1.255"))
        #expect(!TrustedProxies.none.contains("127.0.0.1"))
        for bad in ["", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "::/129", "example.com", "10.0.0.1/8/8", "300.1.1.1"] {
            #expect(throws: TrustedProxies.Invalid.self, "\(bad)") { try TrustedProxies([bad]) }
        }
    }

    @Test func forwardedForIsBelievedOnlyFromTrustedProxies() throws {
        let proxies = try TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
        // Not through a trusted proxy: the peer, whatever the header claims.
        #expect(proxies.clientAddress(peer: "203.0.113.9", forwardedFor: ["198.51.100.1"]) == "203.0.113.9")
        #expect(TrustedProxies.none.clientAddress(peer: "127.0.0.1", forwardedFor: ["198.51.100.1"]) == "127.0.0.1")
        // Through proxies: the right-most hop that is not one of them (what the first proxy saw).
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: ["198.51.100.1"]) == "198.51.100.1")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: ["198.51.100.1, 10.0.0.4"]) == "198.51.100.1")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: ["1.2.3.4, 198.51.100.1", "10.0.0.4"]) == "198.51.100.1",
                "a client-made entry on the left is not believed; several header lines are one list")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: [" 2001:db8::7 "]) == "2001:db8::7")
        // Nothing usable: the peer.
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: []) == "127.0.0.1")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: ["<script>, 10.0.0.4"]) == "127.0.0.1", "a malformed hop is not logged")
        // Every hop a trusted proxy: the left-most.
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: ["10.0.0.9, 10.0.0.4"]) == "10.0.0.9")
        #expect(proxies.clientAddress(peer: nil, forwardedFor: ["198.51.100.1"]) == nil)
    }

    /// End to end: the connection's log lines carry the forwarded client address from a trusted proxy only.
    @Test(arguments: [true, false])
    func connectionLogsNameTheClient(trusted: Bool) async throws {
        var arguments = ["--store", "memory", "--log-format", "json", "--log-level", "debug", "--jwt-secret", TestSecrets.jwtSecret, "--init-timeout", "60s"]
        if trusted { arguments += ["--trusted-proxy", "127.0.0.1"] }
        let child = try await ServerProcess(arguments: arguments)
        defer { child.terminate() }
        try await child.waitUntilHealthy()
        let token = JWTCrafter.hs256(claims: #"{"sub":"\#(Fixture.user)","exp":\#(JWTCrafter.now + 3600)}"#)
        let socket = try await TestWebSocket.connect(port: child.port, headers: [
            ("Authorization", "Bearer \(token)"), ("X-Forwarded-For", "1.2.3.4, 198.51.100.23"),
        ])
        _ = try await socket.initialize()
        await socket.close()
        child.signal(SIGTERM)
        #expect(try await child.waitForExit(timeout: .seconds(15)) == 0)
        let opened = child.log.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }.filter { $0["msg"] as? String == "connection opened" }
        #expect(opened.count == 1, "\(child.log)")
        #expect(opened.first?["client_address"] as? String == (trusted ? "198.51.100.23" : "127.0.0.1"))
    }
}
