import Crypto
import Foundation
import Hummingbird

/// Checks `Authorization: Bearer <key>` against configured keys without leaking timing.
package struct BearerKeys: Sendable {
    private let digests: [SHA256.Digest]

    package init(_ keys: [String?]) {
        digests = keys.compactMap { $0 }.map { SHA256.hash(data: Data($0.utf8)) }
    }

    package func accepts(_ request: Request) -> Bool {
        accepts(authorization: request.headers[.authorization])
    }

    /// `header` is the request's `Authorization` value, if any.
    func accepts(authorization header: String?) -> Bool {
        guard !digests.isEmpty, let header, let token = Self.bearerToken(header) else { return false }
        let presented = SHA256.hash(data: token)
        // Digests of equal length compared in full: no early exit on the first differing byte.
        return digests.reduce(false) { found, digest in found || constantTimeEqual(digest, presented) }
    }

    /// The bytes after `Bearer ` (scheme case-insensitive), without surrounding spaces; on the UTF-8
    /// view, since this runs for every publish and admin request.
    static func bearerToken(_ header: String) -> ArraySlice<UInt8>? {
        let bytes = Array(header.utf8)
        let scheme = Array("bearer".utf8)
        guard bytes.count > scheme.count, bytes[scheme.count] == UInt8(ascii: " ") else { return nil }
        for (byte, expected) in zip(bytes, scheme) where byte | 0x20 != expected { return nil }
        var token = bytes[(scheme.count + 1)...]
        while token.first == UInt8(ascii: " ") || token.first == UInt8(ascii: "\t") { token = token.dropFirst() }
        while token.last == UInt8(ascii: " ") || token.last == UInt8(ascii: "\t") { token = token.dropLast() }
        return token
    }

    private func constantTimeEqual(_ a: SHA256.Digest, _ b: SHA256.Digest) -> Bool {
        a.withUnsafeBytes { a in
            b.withUnsafeBytes { b in
                var difference: UInt8 = 0
                for index in 0..<min(a.count, b.count) { difference |= a[index] ^ b[index] }
                return difference == 0 && a.count == b.count
            }
        }
    }
}
