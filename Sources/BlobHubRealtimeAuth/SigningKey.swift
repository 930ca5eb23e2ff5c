import Foundation
import JWTKit

/// One key that can verify access tokens: the JWS algorithm it serves, its `kid` when it has one, and
/// a one-key `JWTKeyCollection` holding it as the default key (so jwt-kit never picks another one).
///
/// The algorithm follows from the key's type, never from the token: HS256 for a secret, RS256 for an
/// RSA key, ES256 for an EC P-256 key, EdDSA for an Ed25519 key.
///
/// Sendable: every stored property is a `let` of a Sendable type (`JWTKeyCollection` is an actor).
public struct SigningKey: Sendable {
    public let algorithm: String
    public let kid: String?
    let keys: JWTKeyCollection

    /// The algorithms a key can be configured for (`alg: none`, HS384, PS256 … never are).
    public static let supportedAlgorithms: Set<String> = ["HS256", "RS256", "ES256", "EdDSA"]

    /// `--jwt-secret`.
    static func hmac(secret: String) async throws -> SigningKey {
        guard secret.utf8.count >= JWTVerifierConfiguration.minimumHMACSecretBytes else {
            throw JWTConfigurationError(
                "--jwt-secret must be at least \(JWTVerifierConfiguration.minimumHMACSecretBytes) bytes")
        }
        return SigningKey(algorithm: "HS256", kid: nil, keys: await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256))
    }

    /// `--jwt-public-key`: an RSA (2048 bits or more), EC P-256 or Ed25519 public key in PEM.
    static func publicKey(pem: String) async throws -> SigningKey {
        if let rsa = try? Insecure.RSA.PublicKey(pem: pem) {
            return SigningKey(algorithm: "RS256", kid: nil, keys: await JWTKeyCollection().add(rsa: rsa, digestAlgorithm: .sha256))
        }
        if let ec = try? ES256PublicKey(pem: pem) {
            return SigningKey(algorithm: "ES256", kid: nil, keys: await JWTKeyCollection().add(ecdsa: ec))
        }
        if let ed = try? EdDSA.PublicKey(pem: pem) {
            return SigningKey(algorithm: "EdDSA", kid: nil, keys: await JWTKeyCollection().add(eddsa: ed))
        }
        if pem.contains("PRIVATE KEY") {
            throw JWTConfigurationError(
                "--jwt-public-key must be a public key in PEM (BEGIN PUBLIC KEY), not a private key")
        }
        throw JWTConfigurationError(
            "--jwt-public-key must be an RSA (2048 bits or more), EC P-256 or Ed25519 public key in PEM format")
    }

    /// The signature keys of a JWKS document (RFC 7517). Keys this verifier cannot or must not use are
    /// skipped, not errors, so one exotic key does not hide the others: symmetric (`oct`) keys (a
    /// published document must never hand out HMAC secrets), `use` other than `sig`, an `alg` that
    /// does not match the key type, other curves, RSA under 2048 bits, private keys.
    ///
    /// - Throws: ``JWTConfigurationError`` when the document is not a JSON object with a `keys` array.
    public static func fromJWKS(_ document: [UInt8]) async throws -> [SigningKey] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(document)) as? [String: Any],
              let entries = object["keys"] as? [Any]
        else {
            throw JWTConfigurationError("not a JWKS document (a JSON object with a \"keys\" array)")
        }
        var keys: [SigningKey] = []
        for case let entry as [String: Any] in entries {
            if let key = await jwk(entry) { keys.append(key) }
        }
        return keys
    }

    private static func jwk(_ entry: [String: Any]) async -> SigningKey? {
        if let use = entry["use"] as? String, use != "sig" { return nil }
        // A private member means someone published a private key: refuse to use that entry at all.
        if entry["d"] != nil { return nil }
        let kid = entry["kid"] as? String
        let alg = entry["alg"] as? String
        func string(_ name: String) -> String? { entry[name] as? String }
        switch entry["kty"] as? String {
        case "RSA":
            guard alg == nil || alg == "RS256", let n = string("n"), let e = string("e"),
                  let key = try? Insecure.RSA.PublicKey(modulus: n, exponent: e)
            else { return nil }
            return SigningKey(algorithm: "RS256", kid: kid, keys: await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256))
        case "EC":
            guard alg == nil || alg == "ES256", string("crv") == "P-256", let x = string("x"), let y = string("y"),
                  let key = try? ES256PublicKey(parameters: (x: x, y: y))
            else { return nil }
            return SigningKey(algorithm: "ES256", kid: kid, keys: await JWTKeyCollection().add(ecdsa: key))
        case "OKP":
            guard alg == nil || alg == "EdDSA" || alg == "Ed25519", string("crv") == "Ed25519", let x = string("x"),
                  let key = try? EdDSA.PublicKey(x: x, curve: .ed25519)
            else { return nil }
            return SigningKey(algorithm: "EdDSA", kid: kid, keys: await JWTKeyCollection().add(eddsa: key))
        default:
            return nil
        }
    }
}
