import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Reads a JWKS document: `https://` and `http://` URLs with one HTTP/1.1 GET (TLS with the system's
/// trust roots), anything else as a file path. Bounded in size and time, so a slow or huge answer
/// cannot hold a refresh forever.
package struct JWKSFetcher: Sendable {
    static let maximumBytes = 1 << 20

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let timeout: Duration

    init(timeout: Duration = .seconds(10)) {
        self.timeout = timeout
    }

    func fetch(_ source: String) async throws -> [UInt8] {
        guard source.hasPrefix("http://") || source.hasPrefix("https://") else {
            let data = try Data(contentsOf: URL(fileURLWithPath: source))
            guard data.count <= Self.maximumBytes else { throw Failure(description: "larger than \(Self.maximumBytes) bytes") }
            return Array(data)
        }
        guard let url = URLComponents(string: source), let host = url.host, !host.isEmpty else {
            throw Failure(description: "not a URL")
        }
        let secure = url.scheme == "https"
        let port = url.port ?? (secure ? 443 : 80)
        let path = (url.percentEncodedPath.isEmpty ? "/" : url.percentEncodedPath) + (url.percentEncodedQuery.map { "?" + $0 } ?? "")
        let tls = secure ? try NIOSSLContext(configuration: .makeClientConfiguration()) : nil
        // An IP literal is no TLS server name (SNI carries host names only).
        let serverName: String? = TrustedProxies.parse(host) == nil ? host : nil
        let hostHeader = url.port.map { "\(host):\($0)" } ?? host

        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = eventLoop.makePromise(of: (UInt, [UInt8]).self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.init(timeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise, limit: Self.maximumBytes))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            promise.fail(error)  // a promise must be completed, also when there never was a connection
            throw error
        }
        let deadline = eventLoop.scheduleTask(in: .init(timeout)) {
            promise.fail(Failure(description: "no complete answer within \(timeout)"))
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: hostHeader)
        headers.add(name: "Accept", value: "application/jwk-set+json, application/json")
        headers.add(name: "User-Agent", value: "blobhub-realtime/\(ServerVersion.version)")
        headers.add(name: "Connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let (status, body) = try await promise.futureResult.get()
        guard status == 200 else { throw Failure(description: "HTTP \(status)") }
        return body
    }
}

/// Collects one response; completes its promise exactly once (answer, error or close).
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<(UInt, [UInt8])>
    private let limit: Int
    private var status: UInt = 0
    private var body: [UInt8] = []
    private var done = false

    init(promise: EventLoopPromise<(UInt, [UInt8])>, limit: Int) {
        self.promise = promise
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status.code
        case .body(let buffer):
            guard body.count + buffer.readableBytes <= limit else {
                finish(.failure(JWKSFetcher.Failure(description: "larger than \(limit) bytes")), context)
                return
            }
            body += buffer.readableBytesView
        case .end:
            finish(.success((status, body)), context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error), context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(JWKSFetcher.Failure(description: "connection closed before the answer ended")), context)
        context.fireChannelInactive()
    }

    private func finish(_ result: Result<(UInt, [UInt8]), any Error>, _ context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
        context.close(promise: nil)
    }
}
