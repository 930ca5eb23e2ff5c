import Foundation
import BlobHubRealtimeServer
import BlobHubRealtimeServices
import NIOSSL

/// A throwaway self-signed certificate for `localhost`, made by the `openssl` command in a temp directory.
struct SelfSignedCertificate {
    let certificatePath: String
    let keyPath: String

    struct OpenSSLFailed: Error { let status: Int32; let output: String }

    /// Writes `cert.pem` and `key.pem` (EC P-256, valid one day) into `directory`.
    /// `withIPAddress: false` leaves 127.0.0.1 out of the names (NIOSSL accepts a certificate whose IP entry
    /// matches the peer's address whatever name was asked for, so a test of name checking needs one without).
    static func make(in directory: URL, name: String = "server", withIPAddress: Bool = true) throws -> SelfSignedCertificate {
        let certificate = directory.appendingPathComponent("\(name)-cert.pem").path
        let key = directory.appendingPathComponent("\(name)-key.pem").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=localhost", "-addext", withIPAddress ? "subjectAltName=DNS:localhost,IP:127.0.0.1" : "subjectAltName=DNS:localhost", "-days", "1",
            "-keyout", key, "-out", certificate,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OpenSSLFailed(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self))
        }
        return SelfSignedCertificate(certificatePath: certificate, keyPath: key)
    }

    /// A client context that trusts only this certificate (and checks the host name).
    func clientContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificatePath))
        return try NIOSSLContext(configuration: configuration)
    }
}

/// A platform server started with `--tls-cert/--tls-key` (a certificate made here for localhost and 127.0.0.1);
/// the handle's own HTTP and WebSocket helpers trust that certificate. Not seeded.
func withTLSServer(certificateWithIPAddress: Bool = true, _ body: (TestServerHandle, SelfSignedCertificate) async throws -> Void) async throws {
    try await withTemporaryDirectory { directory in
        let certificate = try SelfSignedCertificate.make(in: directory, withIPAddress: certificateWithIPAddress)
        try await withPlatform({ configuration in
            configuration.tlsCertPath = certificate.certificatePath
            configuration.tlsKeyPath = certificate.keyPath
        }, seed: false) { plain in
            var server = plain
            server.clientTLS = try certificate.clientContext()
            try await body(server, certificate)
        }
    }
}
