@testable import BlobHubRealtimeServer
@testable import BlobHubRealtimeHTTPAPI
@testable import BlobHubRealtimeServices
@testable import BlobHubRealtimeTransport
import Foundation
import Logging
import NIOSSL
import Testing

/// `--tls-cert` / `--tls-key`: https and wss with a certificate made in the test; bad files stop the start.
@Suite struct TLSTests {
    @Test func httpsServesHealthz() async throws {
        try await withTLSServer { server, _ in
            let response = try await server.http("GET", "/healthz")
            #expect(response.status == 200)
            #expect(response.bodyJSON?["status"] as? String == "ok")
        }
    }

    @Test func wssClientInitializesSubscribesAndReceivesAnEvent() async throws {
        try await withTLSServer { server, _ in
            try await server.seed()
            let socket = try await server.connect()
            let initialized = try await socket.initialize()
            #expect((initialized["result"] as? [String: Any])?["connection_id"] is String)
            let added = try await socket.subscribe(sessionParams())
            #expect(added["result"] != nil, "\(added)")
            let offsets = try await server.publishAccepted(sessionEvent("flow.entered", execution: "e-1"))
            let event = try await socket.nextEvent()
            #expect(event["offset"] as? Int == offsets.first)
            #expect((event["event"] as? [String: Any])?["type"] as? String == "flow.entered")
            await socket.close()
        }
    }

    @Test func plainHTTPAgainstTheTLSPortGetsNoHTTPAnswer() async throws {
        try await withTLSServer { server, _ in
            let plain = try await RawSocket.connect(port: server.port)
            try await plain.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try await plain.waitForEOF(timeout: .seconds(5))
            let received = (try? await plain.inbox.read("bytes", timeout: .milliseconds(50)) { $0.isEmpty ? nil : Array($0) }) ?? []
            #expect(!String(decoding: received, as: UTF8.self).hasPrefix("HTTP/"))
            // The refused peer hurt no one: TLS clients are still served.
            #expect(try await server.http("GET", "/healthz").status == 200)
        }
    }

    /// A peer that opens TCP to the TLS port and never starts the TLS handshake is dropped by the handshake timeout.
    @Test func peerThatNeverStartsTLSIsDropped() async throws {
        try await withTemporaryDirectory { directory in
            let certificate = try SelfSignedCertificate.make(in: directory)
            try await withTestServer({ configuration in
                configuration.tlsCertPath = certificate.certificatePath
                configuration.tlsKeyPath = certificate.keyPath
                configuration.handshakeTimeout = .milliseconds(300)
            }) { (server: TestServerHandle) async throws in
                // Timed from before the connect: the server is in this process, so under load the client's
                // connect may complete only after the server side already started its timer.
                let connectedAt = ContinuousClock.now
                let silent = try await RawSocket.connect(port: server.port)
                try await silent.waitForEOF(timeout: .seconds(5))
                #expect(ContinuousClock.now - connectedAt >= .milliseconds(250))
            }
        }
    }

    @Test func clientThatDoesNotTrustTheCertificateIsRefused() async throws {
        try await withTLSServer { server, _ in
            try await withTemporaryDirectory { other in
                let stranger = try SelfSignedCertificate.make(in: other, name: "stranger")
                let socket = try await RawSocket.connect(port: server.port, tls: try stranger.clientContext())
                try? await socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                try await socket.waitForEOF(timeout: .seconds(5))
            }
        }
    }

    /// Each unusable pair of files stops the node at start with a message naming the flag.
    @Test func badFilesFailAtStartNamingTheFlag() async throws {
        try await withTemporaryDirectory { directory in
            let good = try SelfSignedCertificate.make(in: directory)
            let other = try SelfSignedCertificate.make(in: directory, name: "other")
            let garbage = directory.appendingPathComponent("garbage.pem").path
            try Data("not a pem file".utf8).write(to: URL(fileURLWithPath: garbage))
            let missing = directory.appendingPathComponent("missing.pem").path
            let cases: [(cert: String?, key: String?, flag: String)] = [
                (missing, good.keyPath, "--tls-cert"),
                (garbage, good.keyPath, "--tls-cert"),
                (good.certificatePath, missing, "--tls-key"),
                (good.certificatePath, garbage, "--tls-key"),
                (good.certificatePath, other.keyPath, "--tls-key"),
                (good.certificatePath, nil, "--tls-key"),
                (nil, good.keyPath, "--tls-cert"),
            ]
            for item in cases {
                var configuration = ServerConfiguration()
                configuration.store = "memory"
                configuration.port = 0
                configuration.tlsCertPath = item.cert
                configuration.tlsKeyPath = item.key
                do {
                    _ = try await RealtimeServer(configuration: configuration, logger: Logger(label: "tls-test"))
                    Issue.record("started with cert \(item.cert ?? "nil") key \(item.key ?? "nil")")
                } catch let error as ServerStartError {
                    #expect(error.description.contains(item.flag), "\(error.description)")
                }
            }
        }
    }

    /// The executable exits non-zero and names the flag (a readable certificate, a key that is not one).
    @Test func executableRefusesAnUnreadableKey() async throws {
        try await withTemporaryDirectory { directory in
            let good = try SelfSignedCertificate.make(in: directory)
            let garbage = directory.appendingPathComponent("garbage.pem").path
            try Data("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".utf8).write(to: URL(fileURLWithPath: garbage))
            let child = try await ServerProcess(arguments: ["--store", "memory", "--tls-cert", good.certificatePath, "--tls-key", garbage])
            defer { child.terminate() }
            let status = try await child.waitForExit(timeout: .seconds(20))
            #expect(status != nil && status != 0, "\(child.log)")
            #expect(child.log.contains("--tls-key"), "\(child.log)")
        }
    }

    /// The executable serves https when both flags are given.
    @Test func executableServesHTTPS() async throws {
        try await withTemporaryDirectory { directory in
            let certificate = try SelfSignedCertificate.make(in: directory)
            let child = try await ServerProcess(arguments: [
                "--store", "memory", "--tls-cert", certificate.certificatePath, "--tls-key", certificate.keyPath,
            ])
            defer { child.terminate() }
            // Throws unless `/healthz` answers 200 over TLS (plain HTTP on that port is refused: the test above).
            try await child.waitUntilHealthy(tls: try certificate.clientContext())
        }
    }
}
