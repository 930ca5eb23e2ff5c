import BlobHubRealtimeProtocol
import Testing
@testable import BlobHubRealtimeRegistry

@Suite struct APIKeyTests {
    @Test func createStoresHashAndReturnsSecretOnce() {
        var s = world()
        let (id, secret) = APIKeySecrets.generate()
        let b = body(#"{"user_id":"alice","target":"orgs","target_id":"\#(orgA.lowercased())","role":"write","description":"CI","expires_at":5000}"#)
        let change = s.ok(.createAPIKey(body: b, keyID: id, secret: secret), now: 1_000)
        #expect(change.result == json(#"{"id":"\#(id)","key":"\#(secret)","user_id":"alice","target":"orgs","target_id":"\#(orgA.lowercased())","role":"write","description":"CI","expires_at":5000,"created_at":1000}"#))
        #expect(change.events.isEmpty)
        #expect(!change.accessReduced)
        #expect(change.rows.upserts.map(\.kind) == ["api_key"])
        #expect(change.rows.upserts.map(\.id) == [id])
        let rowText = String(decoding: change.rows.upserts[0].data, as: UTF8.self)
        #expect(!rowText.contains(secret), "the secret is never stored")
        #expect(rowText.contains(APIKeySecrets.hash(secret)))

        let stored = s.apiKey(id: id)
        #expect(stored?.secretHash == APIKeySecrets.hash(secret))
        #expect(stored?.description == "CI")
        #expect(stored?.expiresAt == 5000)
        #expect(s.apiKey(secretHash: APIKeySecrets.hash(secret))?.id == id)
        #expect(s.apiKey(secretHash: APIKeySecrets.hash(secret + "x")) == nil)
        #expect(s.apiKeys(target: .orgs, targetID: orgA).map(\.id) == [id])
        #expect(s.apiKeys(target: .blobs, targetID: orgA).isEmpty)
        #expect(s.counts.apiKeys == 1)

        let publicText = stored!.publicJSON().description
        #expect(!publicText.contains("secret"))
        #expect(!publicText.contains(stored!.secretHash))
        #expect(!publicText.contains(secret))
        #expect(stored!.isExpired(nowMs: 4_999) == false)
        #expect(stored!.isExpired(nowMs: 5_000))
    }

    @Test func optionalFieldsDefaultToNull() {
        var s = world()
        let change = s.ok(.createAPIKey(body: keyBody(target: "blobs", targetID: wfBlob), keyID: "key_1", secret: "bhk_a"), now: 7)
        #expect(change.result?.objectValue?["description"] == .null)
        #expect(change.result?.objectValue?["expires_at"] == .null)
        #expect(s.apiKey(id: "key_1")?.expiresAt == nil)
        let nulls = body(#"{"user_id":"u","target":"orgs","target_id":"org-b","role":"read","description":null,"expires_at":null}"#)
        s.ok(.createAPIKey(body: nulls, keyID: "key_2", secret: "bhk_b"))
        #expect(s.apiKey(id: "key_2")?.description == nil)
    }

    @Test func listByTargetIsOrderedByCreation() {
        var s = world()
        s.ok(.createAPIKey(body: keyBody(target: "blobs", targetID: wfBlob), keyID: "key_b", secret: "s1"), now: 10)
        s.ok(.createAPIKey(body: keyBody(target: "blobs", targetID: wfBlob.lowercased()), keyID: "key_a", secret: "s2"), now: 20)
        s.ok(.createAPIKey(body: keyBody(target: "blobs", targetID: pubBlob), keyID: "key_c", secret: "s3"), now: 5)
        #expect(s.apiKeys(target: .blobs, targetID: wfBlob.lowercased()).map(\.id) == ["key_b", "key_a"])
    }

    @Test func validation() {
        var s = world()
        func err(_ json: String, keyID: String = "key_x", secret: String = "sec") -> RegistryError? {
            s.failure(.createAPIKey(body: body(json), keyID: keyID, secret: secret), now: 1_000)
        }
        let good = #""user_id":"u","target":"orgs","target_id":"org-b","role":"read""#
        #expect(err("{\(good)}", keyID: "bad key")?.field == "id")
        #expect(err("{\(good)}", secret: "")?.field == "key")
        #expect(err(#"{"target":"orgs","target_id":"org-b","role":"read"}"#) == RegistryError(kind: .invalid, field: "user_id", message: "required"))
        #expect(err(#"{"user_id":"a/b","target":"orgs","target_id":"org-b","role":"read"}"#)?.field == "user_id")
        #expect(err(#"{"user_id":"u","target":"org","target_id":"org-b","role":"read"}"#)?.field == "target")
        #expect(err(#"{"user_id":"u","target_id":"org-b","role":"read"}"#)?.field == "target")
        #expect(err(#"{"user_id":"u","target":"orgs","role":"read"}"#)?.field == "target_id")
        #expect(err(#"{"user_id":"u","target":"orgs","target_id":"","role":"read"}"#)?.field == "target_id")
        #expect(err(#"{"user_id":"u","target":"orgs","target_id":"org-b","role":"admin"}"#)?.field == "role")
        #expect(err(#"{"user_id":"u","target":"orgs","target_id":"org-b"}"#)?.field == "role")
        #expect(err("{\(good),\"description\":5}")?.field == "description")
        #expect(err("{\(good),\"description\":\"\(String(repeating: "d", count: 257))\"}")?.field == "description")
        #expect(err("{\(good),\"expires_at\":\"soon\"}")?.field == "expires_at")
        #expect(err("{\(good),\"expires_at\":1500.5}")?.field == "expires_at")
        #expect(err("{\(good),\"expires_at\":9007199254740992}")?.field == "expires_at")  // beyond 2^53-1
        #expect(err("{\(good),\"expires_at\":-1}")?.field == "expires_at")
        #expect(err("{\(good),\"expires_at\":99999999999999999999}")?.field == "expires_at")
        #expect(s.counts.apiKeys == 0)
        s.ok(.createAPIKey(body: body("{\(good),\"expires_at\":1001}"), keyID: "key_x", secret: "sec"), now: 1_000)
        // A time already past stores an expired key (the registry mirrors the platform's keys).
        s.ok(.createAPIKey(body: body("{\(good),\"expires_at\":999}"), keyID: "key_past", secret: "sec-past"), now: 1_000)
        s.ok(.createAPIKey(body: body("{\(good),\"expires_at\":1000.0}"), keyID: "key_now", secret: "sec-now"), now: 1_000)
        #expect(err("{\(good)}", keyID: "key_x", secret: "other")?.field == "id", "duplicate key id")
        #expect(err("{\(good)}", keyID: "key_y", secret: "sec")?.field == "key", "duplicate secret")
    }

    @Test func unknownTargetIsNotFound() {
        var s = world()
        let org = s.failure(.createAPIKey(body: keyBody(target: "orgs", targetID: "ghost"), keyID: "k", secret: "s"))
        #expect(org?.kind == .notFound)
        #expect(org?.field == "target_id")
        // A blob id is not an organization id.
        #expect(s.failure(.createAPIKey(body: keyBody(target: "orgs", targetID: wfBlob), keyID: "k", secret: "s"))?.kind == .notFound)
        #expect(s.failure(.createAPIKey(body: keyBody(target: "blobs", targetID: orgA), keyID: "k", secret: "s"))?.kind == .notFound)
    }

    @Test func revoke() {
        var s = world()
        s.ok(.createAPIKey(body: keyBody(target: "orgs", targetID: orgA), keyID: "key_1", secret: "s1"))
        let change = s.ok(.revokeAPIKey(id: "key_1"))
        #expect(change.revokedAPIKeyIDs == ["key_1"])
        #expect(change.accessReduced)
        #expect(change.events.isEmpty)
        #expect(change.rows.deletes.map(\.kind) == ["api_key"])
        #expect(change.rows.deletes.map(\.id) == ["key_1"])
        #expect(s.apiKey(id: "key_1") == nil)
        #expect(s.apiKey(secretHash: APIKeySecrets.hash("s1")) == nil)
        #expect(s.apiKeys(target: .orgs, targetID: orgA).isEmpty)
        #expect(s.ok(.revokeAPIKey(id: "key_1")).isEmpty)
        #expect(s.failure(.revokeAPIKey(id: "a b"))?.field == "id")
    }
}

@Suite struct APIKeySecretsTests {
    @Test func generatedShapes() {
        let (id, secret) = APIKeySecrets.generate()
        #expect(id.hasPrefix("key_"))
        #expect(id.count == 20)
        #expect(id.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) })
        #expect(ResourceID.isValid(id))
        #expect(secret.hasPrefix("bhk_"))
        #expect(secret.count == 4 + 43)
        #expect(!secret.contains("="))
        #expect(secret.dropFirst(4).allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(APIKeySecrets.looksLikeSecret(secret))
        #expect(!APIKeySecrets.looksLikeSecret("bhk_short"))
    }

    @Test func generatedValuesDiffer() {
        var ids = Set<String>()
        var secrets = Set<String>()
        for _ in 0..<200 {
            let (id, secret) = APIKeySecrets.generate()
            ids.insert(id)
            secrets.insert(secret)
        }
        #expect(ids.count == 200)
        #expect(secrets.count == 200)
    }

    @Test func hashIsHexSHA256() {
        #expect(APIKeySecrets.hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(APIKeySecrets.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func base64URL() {
        #expect(APIKeySecrets.base64URL([]) == "")
        #expect(APIKeySecrets.base64URL(Array("f".utf8)) == "Zg")
        #expect(APIKeySecrets.base64URL(Array("fo".utf8)) == "Zm8")
        #expect(APIKeySecrets.base64URL(Array("foo".utf8)) == "Zm9v")
        #expect(APIKeySecrets.base64URL([0xfb, 0xff, 0xfe]) == "-__-")
    }
}
