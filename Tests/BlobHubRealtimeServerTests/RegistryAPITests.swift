import BlobHubRealtimeServer
import BlobHubRealtimeServices
import Foundation
import Testing

/// SPEC §9: the admin API's shapes, status codes and errors.
@Suite struct RegistryAPITests {
    @Test func adminKeyIsRequired() async throws {
        try await withPlatform(seed: false) { (server: TestServerHandle) async throws in
            #expect(try await server.admin("PUT", "/organizations/o1", "{}", key: nil).status == 401)
            #expect(try await server.admin("PUT", "/organizations/o1", "{}", key: TestKeys.publisher).status == 401)
            #expect(try await server.admin("PUT", "/organizations/o1", "{}").status == 200)
        }
    }

    @Test func putsAreIdempotentUpsertsReturningTheStoredObject() async throws {
        try await withPlatform(seed: false) { (server: TestServerHandle) async throws in
            let first = try await server.admin("PUT", "/organizations/ORG-A", #"{"name":"A"}"#)
            #expect(first.status == 200)
            #expect(first.bodyJSON?["id"] as? String == "ORG-A")
            #expect(first.bodyJSON?["name"] as? String == "A")
            let again = try await server.admin("PUT", "/organizations/ORG-A", #"{"name":"A"}"#)
            #expect(again.bodyJSON?["created_at"] as? Int == first.bodyJSON?["created_at"] as? Int)
            let blob = try await server.admin("PUT", "/blobs/b1", #"{"organization_id":"ORG-A","type":"workflow","visibility":"public"}"#)
            #expect(blob.status == 200)
            #expect(blob.bodyJSON?["organization_id"] as? String == "ORG-A")
            let revision = try await server.admin("PUT", "/revisions/r1", #"{"blob_id":"b1","phase":"snapshot"}"#)
            #expect(revision.bodyJSON?["phase"] as? String == "snapshot")
            let member = try await server.admin("PUT", "/blobs/b1/members/u9", #"{"role":"write"}"#)
            #expect(member.status == 200 && member.bodyJSON?["role"] as? String == "write")
        }
    }

    @Test func unknownParentsAre404AndInvalidFields400() async throws {
        try await withPlatform(seed: false) { (server: TestServerHandle) async throws in
            let notFound = [
                ("/organizations/none/members/u1", #"{"role":"read"}"#),
                ("/blobs/b1", #"{"organization_id":"none","type":"workflow","visibility":"private"}"#),
                ("/revisions/r1", #"{"blob_id":"none","phase":"draft"}"#),
                ("/blobs/none/members/u1", #"{"role":"read"}"#),
            ]
            for (path, body) in notFound {
                let response = try await server.admin("PUT", path, body)
                #expect(response.status == 404, "\(path)")
                #expect((response.bodyJSON?["error"] as? [String: Any])?["code"] as? Int == 404)
            }
            _ = try await server.admin("PUT", "/organizations/o1", "{}")
            let invalid: [(String, String, String)] = [
                ("/organizations/o1/members/u1", #"{"role":"owner"}"#, "role"),
                ("/blobs/b1", #"{"organization_id":"o1","type":"spreadsheet","visibility":"private"}"#, "type"),
                ("/blobs/b1", #"{"organization_id":"o1","type":"workflow","visibility":"secret"}"#, "visibility"),
                ("/organizations/o1", #"{"name":5}"#, "name"),
            ]
            for (path, body, field) in invalid {
                let response = try await server.admin("PUT", path, body)
                #expect(response.status == 400, "\(path) \(body)")
                #expect((response.bodyJSON?["error"] as? [String: Any])?["field"] as? String == field, "\(path) \(body)")
            }
            #expect(try await server.admin("PUT", "/organizations/o1", "[1]").status == 400)
        }
    }

    @Test func deletesAre204EvenWhenAbsent() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            #expect(try await server.admin("DELETE", "/revisions/\(Fixture.revision)").status == 204)
            #expect(try await server.admin("DELETE", "/revisions/\(Fixture.revision)").status == 204)
            #expect(try await server.admin("DELETE", "/organizations/never-existed").status == 204)
        }
    }

    @Test func apiKeysAreCreatedListedAndRevoked() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let created = try await server.admin("POST", "/api-keys", #"{"user_id":"\#(Fixture.user)","target":"orgs","target_id":"\#(Fixture.org)","role":"read","description":"ci"}"#)
            #expect(created.status == 201)
            let secret = try #require(created.bodyJSON?["key"] as? String)
            let id = try #require(created.bodyJSON?["id"] as? String)
            let listed = try await server.admin("GET", "/api-keys?target=orgs&target_id=\(Fixture.org)")
            let keys = try #require(listed.bodyJSON?["api_keys"] as? [[String: Any]])
            #expect(keys.count == 1 && keys[0]["id"] as? String == id)
            #expect(!listed.bodyText.contains(secret))
            #expect(keys[0]["key"] == nil)
            // The key authenticates until revoked.
            let socket = try await TestWebSocket.connect(port: server.port, headers: [("X-API-Key", secret)])
            await socket.close()
            #expect(try await server.admin("DELETE", "/api-keys/\(id)").status == 204)
            let (_, refused) = try await TestWebSocket.handshake(port: server.port, headers: [("X-API-Key", secret)])
            #expect(refused.status == 401)
            #expect(try await server.admin("POST", "/api-keys", #"{"user_id":"u","target":"orgs","target_id":"missing","role":"read"}"#).status == 404)
            #expect(try await server.admin("POST", "/api-keys", #"{"user_id":"u","target":"planets","target_id":"x","role":"read"}"#).status == 400)
        }
    }

    @Test func expiredAPIKeyFailsTheHandshake() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let expiresAt = Int(Date().timeIntervalSince1970 * 1000) + 6000
            let created = try await server.admin("POST", "/api-keys", #"{"user_id":"\#(Fixture.user)","target":"orgs","target_id":"\#(Fixture.org)","role":"read","expires_at":\#(expiresAt)}"#)
            let secret = try #require(created.bodyJSON?["key"] as? String)
            // No initialize: under load it could race the expiry; the expiry timer runs from the upgrade on.
            let socket = try await TestWebSocket.connect(port: server.port, headers: [("X-API-Key", secret)])
            // Expiry on an open connection closes it with 4001 (keys have no leeway).
            #expect(try await socket.expectClose(timeout: .seconds(15)) == 4001)
            let (_, refused) = try await TestWebSocket.handshake(port: server.port, headers: [("X-API-Key", secret)])
            #expect(refused.status == 401)
        }
    }

    @Test func devTokensAndStats() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let minted = try await server.admin("POST", "/tokens", #"{"user_id":"\#(Fixture.user)","ttl_seconds":120}"#)
            #expect(minted.status == 200)
            let token = try #require(minted.bodyJSON?["access_token"] as? String)
            #expect(minted.bodyJSON?["expires_at"] is Int)
            let socket = try await TestWebSocket.connect(port: server.port, headers: [("Authorization", "Bearer \(token)")])
            _ = try await socket.initialize()
            _ = try await socket.subscribe(sessionParams())
            let stats = try await server.admin("GET", "/stats")
            #expect(stats.status == 200)
            #expect(stats.bodyJSON?["connections"] as? Int == 1)
            #expect(stats.bodyJSON?["subscriptions"] as? Int == 1)
            #expect((stats.bodyJSON?["nodes"] as? [Any])?.count == 1)
            #expect(try await server.admin("POST", "/tokens", #"{"ttl_seconds":5}"#).status == 400)
        }
    }

    /// Found by schemathesis (issue 16): HTTP clients percent-encode `:` in a path segment.
    @Test func pathIDsArePercentDecoded() async throws {
        try await withPlatform(seed: false) { (server: TestServerHandle) async throws in
            let created = try await server.admin("PUT", "/organizations/org%3A1", #"{"name":"colon"}"#)
            #expect(created.status == 200)
            #expect(created.bodyJSON?["id"] as? String == "org:1")
            #expect(try await server.admin("PUT", "/organizations/org:1/members/u%2E1", #"{"role":"read"}"#).bodyJSON?["user_id"] as? String == "u.1")
            #expect(try await server.admin("PUT", "/blobs/b%3Ax", #"{"organization_id":"org:1","type":"workflow","visibility":"private"}"#).status == 200)
            #expect(try await server.admin("PUT", "/revisions/r%3Ax", #"{"blob_id":"b:x","phase":"draft"}"#).bodyJSON?["id"] as? String == "r:x")
            #expect(try await server.admin("DELETE", "/revisions/r%3Ax").status == 204)
            #expect(try await server.admin("PUT", "/revisions/r2", #"{"blob_id":"b:x","phase":"draft"}"#).status == 200)
            #expect(try await server.admin("DELETE", "/organizations/org%3a1").status == 204)
            // Gone: its blob went with it, so a revision under it has no parent.
            #expect(try await server.admin("PUT", "/revisions/r3", #"{"blob_id":"b:x","phase":"draft"}"#).status == 404)
            // Validated after decoding: an encoded "/" or space is still not an id; broken escapes stay invalid.
            for path in ["/organizations/a%2Fb", "/organizations/a%20b", "/organizations/a%zz", "/organizations/%"] {
                let response = try await server.admin("PUT", path, "{}")
                #expect(response.status == 400, "\(path)")
                #expect((response.bodyJSON?["error"] as? [String: Any])?["field"] as? String == "id", "\(path)")
            }
        }
    }

    /// JSON Schema (and many encoders) treat an integral number such as 464.0 as an integer.
    @Test func integralNumbersAreIntegers() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let minted = try await server.admin("POST", "/tokens", #"{"user_id":"\#(Fixture.user)","ttl_seconds":464.0}"#)
            #expect(minted.status == 200)
            let expiresAt = try #require(minted.bodyJSON?["expires_at"] as? Int)
            #expect(abs(expiresAt - Int(Date().timeIntervalSince1970 * 1000) - 464_000) < 5000)
            #expect(try await server.admin("POST", "/tokens", #"{"user_id":"\#(Fixture.user)","ttl_seconds":4.64e2}"#).status == 200)
            #expect(try await server.admin("POST", "/tokens", #"{"user_id":"\#(Fixture.user)","ttl_seconds":464.5}"#).status == 400)
        }
    }

    /// An expiry already past is stored (the registry mirrors the platform): listed, never authenticating.
    @Test func apiKeyCreatedAlreadyExpiredNeverAuthenticates() async throws {
        try await withPlatform { (server: TestServerHandle) async throws in
            let created = try await server.admin("POST", "/api-keys", #"{"user_id":"\#(Fixture.user)","target":"orgs","target_id":"\#(Fixture.org)","role":"read","expires_at":0}"#)
            #expect(created.status == 201)
            #expect(created.bodyJSON?["expires_at"] as? Int == 0)
            let secret = try #require(created.bodyJSON?["key"] as? String)
            let (_, refused) = try await TestWebSocket.handshake(port: server.port, headers: [("X-API-Key", secret)])
            #expect(refused.status == 401)
            let listed = try await server.admin("GET", "/api-keys?target=orgs&target_id=\(Fixture.org)")
            #expect((listed.bodyJSON?["api_keys"] as? [[String: Any]])?.count == 1)
            #expect(try await server.admin("POST", "/api-keys", #"{"user_id":"\#(Fixture.user)","target":"orgs","target_id":"\#(Fixture.org)","role":"read","expires_at":-1}"#).status == 400)
        }
    }

    @Test func devTokensNeedAJWTSecret() async throws {
        try await withPlatform({ $0.jwtSecret = nil }, seed: false) { (server: TestServerHandle) async throws in
            #expect(try await server.admin("POST", "/tokens", #"{"user_id":"u"}"#).status == 404)
        }
    }
}
