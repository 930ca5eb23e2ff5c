import Crypto
import CryptoExtras
import Foundation
import Synchronization

/// Signing keys for the JWKS tests: each signs compact JWS tokens by hand (any `kid`) and describes its
/// public half as a JWK, the way an identity provider publishes it.
enum JWKSKey {
    case ec(P256.Signing.PrivateKey, kid: String)
    case ed25519(Curve25519.Signing.PrivateKey, kid: String)
    case rsa(_RSA.Signing.PrivateKey, kid: String)

    static func ec(_ kid: String) -> JWKSKey { .ec(P256.Signing.PrivateKey(), kid: kid) }
    static func ed25519(_ kid: String) -> JWKSKey { .ed25519(Curve25519.Signing.PrivateKey(), kid: kid) }

    var kid: String {
        switch self {
        case .ec(_, let kid), .ed25519(_, let kid), .rsa(_, let kid): kid
        }
    }

    var algorithm: String {
        switch self {
        case .ec: "ES256"
        case .ed25519: "EdDSA"
        case .rsa: "RS256"
        }
    }

    /// The public JWK.
    var jwk: [String: String] {
        switch self {
        case .ec(let key, let kid):
            let point = key.publicKey.x963Representation.dropFirst()  // 0x04 || x || y
            return ["kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                    "x": b64(point.prefix(32)), "y": b64(point.suffix(32))]
        case .ed25519(let key, let kid):
            return ["kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(key.publicKey.rawRepresentation)]
        case .rsa(let key, let kid):
            let primitives = try! key.publicKey.getKeyPrimitives()  // a generated key always has them
            return ["kty": "RSA", "kid": kid, "alg": "RS256", "n": b64(primitives.modulus), "e": b64(primitives.publicExponent)]
        }
    }

    var publicKeyPEM: String {
        switch self {
        case .ec(let key, _): key.publicKey.pemRepresentation
        case .ed25519(let key, _): ed25519PEM(key.publicKey.rawRepresentation)
        case .rsa(let key, _): key.publicKey.pemRepresentation
        }
    }

    /// A token for `user`, `kid` in the header unless `kid` is nil (`.some(nil)` leaves it out).
    func token(user: String = "user-1", ttl: Int = 3600, kid: String?? = .none) throws -> String {
        let headerKid = kid ?? self.kid
        var header = #"{"alg":"\#(algorithm)","typ":"JWT""#
        if let headerKid { header += #","kid":"\#(headerKid)""# }
        header += "}"
        let claims = #"{"sub":"\#(user)","exp":\#(JWTCrafter.now + ttl)}"#
        let input = b64(Data(header.utf8)) + "." + b64(Data(claims.utf8))
        let message = Data(input.utf8)
        let signature: Data
        switch self {
        case .ec(let key, _): signature = try key.signature(for: message).rawRepresentation
        case .ed25519(let key, _): signature = try key.signature(for: message)
        case .rsa(let key, _): signature = try key.signature(for: message, padding: .insecurePKCS1v1_5).rawRepresentation
        }
        return input + "." + b64(signature)
    }

    static func document(_ keys: [JWKSKey], extra: [[String: String]] = []) -> String {
        let entries = keys.map(\.jwk) + extra
        let data = try! JSONSerialization.data(withJSONObject: ["keys": entries], options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

private func b64(_ data: some DataProtocol) -> String {
    Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
}

/// SubjectPublicKeyInfo for Ed25519 (RFC 8410): a fixed 12-byte prefix, then the 32-byte key.
private func ed25519PEM(_ raw: Data) -> String {
    let der = Data([0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]) + raw
    return "-----BEGIN PUBLIC KEY-----\n\(der.base64EncodedString())\n-----END PUBLIC KEY-----\n"
}

/// A directory served over HTTP on loopback by `python3 -m http.server` (a real HTTP server, independent
/// of ours): the tests rotate keys by rewriting `jwks.json`.
final class JWKSHTTPServer: Sendable {
    let directory: URL
    let port: Int
    private let process = Mutex<Process?>(nil)

    var url: String { "http://127.0.0.1:\(port)/jwks.json" }

    init(document: String, port: Int? = nil) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if let port {
            self.port = port
        } else {
            self.port = try await ServerProcess.freePort()
        }
        try publish(document)
    }

    func publish(_ document: String) throws {
        // Write and rename: the server never serves a half-written file.
        let temporary = directory.appendingPathComponent(".jwks.json.tmp")
        try Data(document.utf8).write(to: temporary)
        guard rename(temporary.path, directory.appendingPathComponent("jwks.json").path) == 0 else {
            throw CocoaError(.fileWriteUnknown)
        }
    }

    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process.withLock { $0 = process }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let socket = try? await RawSocket.connect(port: port), let head = try? await socket.request("GET", "/jwks.json") {
                await socket.close()
                if head.status == 200 { return }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ByteInbox.Timeout(what: "the JWKS HTTP server")
    }

    func stop() {
        guard let running = process.withLock({ current -> Process? in defer { current = nil }; return current }) else { return }
        // SIGKILL, not terminate(): the test process ignores SIGTERM (service lifecycle's signal
        // handling), and an ignored signal stays ignored across exec, so the child would never end.
        kill(running.processIdentifier, SIGKILL)
        running.waitUntilExit()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
