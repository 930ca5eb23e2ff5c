import BlobHubRealtimeServices
import NIOSSL

/// Builds the server's TLS context from `--tls-cert` / `--tls-key` (PEM files), or nil for plain text.
///
/// Every failure names the flag: a node asked for TLS must not start without it.
package enum TLSContextLoader {
    package static func load(certificatePath: String?, keyPath: String?) throws(ServerStartError) -> NIOSSLContext? {
        switch (certificatePath, keyPath) {
        case (nil, nil):
            return nil
        case (let certificatePath?, let keyPath?):
            return try load(certificatePath: certificatePath, keyPath: keyPath)
        default:
            throw ServerStartError("--tls-cert and --tls-key must be given together")
        }
    }

    private static func load(certificatePath: String, keyPath: String) throws(ServerStartError) -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw ServerStartError("--tls-cert: cannot read a PEM certificate chain from \(certificatePath): \(error)")
        }
        guard !chain.isEmpty else {
            throw ServerStartError("--tls-cert: no PEM certificate in \(certificatePath)")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw ServerStartError("--tls-key: cannot read a PEM private key from \(keyPath): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.applicationProtocols = ["http/1.1"]
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ServerStartError("--tls-key: does not fit the certificate of --tls-cert: \(error)")
        }
    }
}
