import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Testing

/// SPEC §4 and §5.1 over a real connection: error codes, id echo, notifications, batches, initialization.
@Suite struct JSONRPCTests {
    @Test func initializeReturnsTheSpecifiedResult() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connect()
            let reply = try await socket.initialize()
            #expect(reply["jsonrpc"] as? String == "2.0")
            #expect(reply["id"] as? Int == 1)
            let result = try #require(reply["result"] as? [String: Any])
            let info = try #require(result["server_info"] as? [String: Any])
            #expect(info["name"] as? String == "BlobHub Realtime Server")
            #expect((info["version"] as? String)?.isEmpty == false)
            #expect(UUID(uuidString: result["connection_id"] as? String ?? "") != nil)
            #expect((result["epoch"] as? String)?.isEmpty == false)
            #expect(result["heartbeat_interval_ms"] as? Int == 25000)
            let limits = try #require(result["limits"] as? [String: Any])
            #expect(limits["max_message_bytes"] as? Int == 65536)
            #expect(limits["max_subscriptions"] as? Int == 1000)
            await socket.close()
        }
    }

    @Test func idsAreEchoedExactly() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            for id in ["12345678901234567890", "1.5", "-0", "1e3", #""abc""#, #""""#, "null"] {
                try await socket.send(#"{"jsonrpc":"2.0","id":\#(id),"method":"status/ping"}"#)
                let text = try await socket.nextText()
                #expect(text == #"{"jsonrpc":"2.0","id":\#(id),"result":{}}"#)
            }
            await socket.close()
        }
    }

    @Test func parseErrorsAnswerWithNullID() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connect()
            for text in [#"{"jsonrpc":"2.0","id":1,"method":"status/ping""#, "nonsense", #"{"id":1,}"#] {
                let reply = try await socket.call(text)
                #expect(reply["id"] is NSNull, "\(text)")
                let error = try #require(reply["error"] as? [String: Any])
                #expect(error["code"] as? Int == 400)
                #expect(error["message"] as? String == "Invalid syntax")
            }
            await socket.close()
        }
    }

    @Test func invalidRequestObjectsAre400() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            let cases: [(String, Any)] = [
                (#"{"jsonrpc":"1.0","id":7,"method":"status/ping"}"#, 7),
                (#"{"id":8,"method":"status/ping"}"#, 8),
                (#"{"jsonrpc":"2.0","id":9}"#, 9),
                (#"{"jsonrpc":"2.0","id":10,"method":42}"#, 10),
                (#"{"jsonrpc":"2.0","id":11,"method":"status/ping","params":[1]}"#, 11),
                (#"{"jsonrpc":"2.0","id":12,"method":"status/ping","params":"x"}"#, 12),
                (#"{"jsonrpc":"2.0","id":true,"method":"status/ping"}"#, NSNull()),
                (#"{"jsonrpc":"2.0","id":{"a":1},"method":"status/ping"}"#, NSNull()),
                ("42", NSNull()),
                (#""text""#, NSNull()),
            ]
            for (text, id) in cases {
                let reply = try await socket.call(text)
                if let id = id as? Int { #expect(reply["id"] as? Int == id, "\(text)") } else { #expect(reply["id"] is NSNull, "\(text)") }
                let error = try #require(reply["error"] as? [String: Any], "\(text)")
                #expect(error["code"] as? Int == 400, "\(text)")
                #expect(error["message"] as? String == "Invalid syntax", "\(text)")
            }
            await socket.close()
        }
    }

    @Test func unknownMethodIs405InEveryState() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connect()
            for _ in 0..<2 {
                let reply = try await socket.call(#"{"jsonrpc":"2.0","id":"x","method":"status/teleport"}"#)
                let error = try #require(reply["error"] as? [String: Any])
                #expect(error["code"] as? Int == 405)
                #expect(error["message"] as? String == "Method not supported")
                _ = try await socket.initialize()
            }
            await socket.close()
        }
    }

    @Test func knownMethodsBeforeInitializeAre400() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connect()
            let reply = try await socket.call(#"{"jsonrpc":"2.0","id":2,"method":"subscription/list"}"#)
            let error = try #require(reply["error"] as? [String: Any])
            #expect(error["code"] as? Int == 400)
            #expect((error["data"] as? [String: Any])?["reason"] as? String == "connection not initialized")
            let auth = try await socket.call(#"{"jsonrpc":"2.0","id":3,"method":"status/authenticate","params":{"token":"x"}}"#)
            #expect(((auth["error"] as? [String: Any])?["data"] as? [String: Any])?["reason"] as? String == "connection not initialized")
            await socket.close()
        }
    }

    @Test func pingWorksBeforeInitialize() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connect()
            #expect(try await socket.send(#"{"jsonrpc":"2.0","id":1,"method":"status/ping"}"#) == ())
            #expect(try await socket.nextText() == #"{"jsonrpc":"2.0","id":1,"result":{}}"#)
            #expect(try await socket.call(#"{"jsonrpc":"2.0","id":2,"method":"status/ping","params":{}}"#)["result"] != nil)
            await socket.close()
        }
    }

    @Test func secondInitializeIs400() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            let reply = try await socket.initialize()
            let error = try #require(reply["error"] as? [String: Any])
            #expect(error["code"] as? Int == 400)
            #expect((error["data"] as? [String: Any])?["reason"] as? String == "already initialized")
            await socket.close()
        }
    }

    @Test func failedInitializeLeavesConnectionUninitialized() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connect()
            for params in [#"{"client_info":5}"#, #"{"client_info":{"name":1}}"#, #"{"client_info":{"version":false}}"#] {
                let reply = try await socket.call(#"{"jsonrpc":"2.0","id":1,"method":"status/initialize","params":\#(params)}"#)
                let error = try #require(reply["error"] as? [String: Any], "\(params)")
                #expect(error["code"] as? Int == 400)
                let field = (error["data"] as? [String: Any])?["field"] as? String
                #expect(field?.hasPrefix("client_info") == true, "\(params)")
                #expect((error["data"] as? [String: Any])?["reason"] != nil)
            }
            let list = try await socket.call(#"{"jsonrpc":"2.0","id":2,"method":"subscription/list"}"#)
            #expect(((list["error"] as? [String: Any])?["data"] as? [String: Any])?["reason"] as? String == "connection not initialized")
            // Without params at all, initialize succeeds.
            let ok = try await socket.call(#"{"jsonrpc":"2.0","id":3,"method":"status/initialize"}"#)
            #expect(ok["result"] != nil)
            await socket.close()
        }
    }

    @Test func notificationsAreNeverAnswered() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connect()
            try await socket.send(#"{"jsonrpc":"2.0","method":"status/ping"}"#)
            try await socket.send(#"{"jsonrpc":"2.0","method":"status/teleport"}"#)
            try await socket.send(#"{"jsonrpc":"2.0","method":"subscription/list"}"#)
            try await socket.send(#"{"jsonrpc":"2.0","method":"status/initialize","params":{"client_info":5}}"#)
            // A notification initialize still initializes.
            try await socket.send(#"{"jsonrpc":"2.0","method":"status/initialize"}"#)
            #expect(try await socket.isSilent(for: .milliseconds(300)))
            let reply = try await socket.initialize()
            #expect(((reply["error"] as? [String: Any])?["data"] as? [String: Any])?["reason"] as? String == "already initialized")
            await socket.close()
        }
    }

    @Test func batchesFollowJSONRPC() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connectInitialized()
            try await socket.send(#"[{"jsonrpc":"2.0","id":1,"method":"status/ping"},{"jsonrpc":"2.0","method":"status/ping"},{"jsonrpc":"2.0","id":"b","method":"nope"},5]"#)
            let batch = try #require(try await socket.nextJSON() as? [[String: Any]])
            #expect(batch.count == 3)
            #expect(batch[0]["id"] as? Int == 1 && batch[0]["result"] != nil)
            #expect(batch[1]["id"] as? String == "b" && (batch[1]["error"] as? [String: Any])?["code"] as? Int == 405)
            #expect(batch[2]["id"] is NSNull && (batch[2]["error"] as? [String: Any])?["code"] as? Int == 400)

            let empty = try #require(try await socket.call("[]") as [String: Any]?)
            #expect(empty["id"] is NSNull && (empty["error"] as? [String: Any])?["code"] as? Int == 400)

            try await socket.send(#"[{"jsonrpc":"2.0","method":"status/ping"},{"jsonrpc":"2.0","method":"status/ping"}]"#)
            #expect(try await socket.isSilent(for: .milliseconds(300)))
            await socket.close()
        }
    }

    @Test func explicitNullIDIsAnswered() async throws {
        try await withTestServer { (server: TestServerHandle) async throws in
            let socket = try await server.connect()
            try await socket.send(#"{"jsonrpc":"2.0","id":null,"method":"status/ping"}"#)
            #expect(try await socket.nextText() == #"{"jsonrpc":"2.0","id":null,"result":{}}"#)
            await socket.close()
        }
    }
}
