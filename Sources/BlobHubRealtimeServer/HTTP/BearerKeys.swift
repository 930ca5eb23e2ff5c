import Crypto
import Foundation
import Hummingbird

/// Checks `Authorization: Bearer <key>` against configured keys without leaking timing.
struct BearerKeys: Sendable {
    private let digests: [SHA256.Digest]

    init(_ keys: [String?]) {
        digests = keys.compactMap { $0 }.map { SHA256.hash(data: Data($0.utf8)) }
    }

    func accepts(_ request: Request) -> Bool {
        guard !digests.isEmpty, let header = request.headers[.authorization] else { return false }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return false }
        let presented = SHA256.hash(data: Data(parts[1].trimmingCharacters(in: .whitespaces).utf8))
        // Digests of equal length compared in full: no early exit on the first differing byte.
        return digests.reduce(false) { found, digest in found || constantTimeEqual(digest, presented) }
    }

    private func constantTimeEqual(_ a: SHA256.Digest, _ b: SHA256.Digest) -> Bool {
        zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func unauthorized() -> Response {
        OperationalRoutes.errorResponse(.unauthorized, message: "invalid or missing key", headers: [.wwwAuthenticate: "Bearer"])
    }
}
