import NIOCore
import NIOPosix

struct HTTPResponse: Sendable {
    var status: Int
    var body: ByteBuffer
    var bodyText: String { String(buffer: body) }
}

/// A minimal keep-alive HTTP/1.1 client connection: one request at a time, Content-Length or chunked bodies.
final class HTTPClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    var pending: [EventLoopPromise<HTTPResponse>] = []
    private var cumulation: ByteBuffer?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if cumulation == nil { cumulation = incoming } else { cumulation!.writeBuffer(&incoming) }
        while let response = parseOne() {
            if pending.isEmpty { continue }
            pending.removeFirst().succeed(response)
        }
        if cumulation?.readableBytes == 0 { cumulation = nil }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let waiting = pending
        pending.removeAll()
        for p in waiting { p.fail(BenchError("HTTP connection closed")) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Parses one complete response off the cumulation buffer.
    private func parseOne() -> HTTPResponse? {
        guard var buf = cumulation, buf.readableBytes > 12 else { return nil }
        let view = buf.readableBytesView
        guard let headerEnd = view.firstRange(of: [13, 10, 13, 10]) else { return nil }
        let headerLength = headerEnd.upperBound - view.startIndex
        let head = String(decoding: view[view.startIndex..<headerEnd.lowerBound], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first else { return nil }
        let statusParts = statusLine.split(separator: " ")
        let status = statusParts.count > 1 ? Int(statusParts[1]) ?? 0 : 0
        var contentLength: Int? = nil
        var chunked = false
        for line in lines.dropFirst() {
            let lower = line.lowercased()
            if lower.hasPrefix("content-length:") {
                contentLength = Int(lower.dropFirst("content-length:".count).trimmedSpaces())
            } else if lower.hasPrefix("transfer-encoding:") && lower.contains("chunked") {
                chunked = true
            }
        }
        if chunked {
            var index = headerLength
            var body = ByteBufferAllocator().buffer(capacity: 256)
            while true {
                guard let sizeEnd = buf.readableBytesView.dropFirst(index).firstRange(of: [13, 10]) else { return nil }
                let sizeLine = String(decoding: buf.readableBytesView[(view.startIndex + index)..<sizeEnd.lowerBound], as: UTF8.self)
                let size = Int(sizeLine.split(separator: ";").first ?? "0", radix: 16) ?? 0
                let dataStart = sizeEnd.upperBound - view.startIndex
                guard buf.readableBytes >= dataStart + size + 2 else { return nil }
                if size == 0 {
                    // final chunk; assume no trailers
                    buf.moveReaderIndex(forwardBy: dataStart + 2)
                    cumulation = buf
                    return HTTPResponse(status: status, body: body)
                }
                var chunk = buf.getSlice(at: buf.readerIndex + dataStart, length: size)!
                body.writeBuffer(&chunk)
                index = dataStart + size + 2
            }
        }
        let length = contentLength ?? 0
        guard buf.readableBytes >= headerLength + length else { return nil }
        buf.moveReaderIndex(forwardBy: headerLength)
        let body = buf.readSlice(length: length)!
        cumulation = buf
        return HTTPResponse(status: status, body: body)
    }
}

extension StringProtocol {
    func trimmedSpaces() -> String {
        var s = Substring(String(self))
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// A connected HTTP client: `request` may be called from any thread.
final class HTTPConnection: @unchecked Sendable {
    let channel: any Channel
    let handler: HTTPClientHandler
    let hostHeader: String

    init(channel: any Channel, handler: HTTPClientHandler, hostHeader: String) {
        self.channel = channel
        self.handler = handler
        self.hostHeader = hostHeader
    }

    static func connect(group: any EventLoopGroup, host: String, port: Int) -> EventLoopFuture<HTTPConnection> {
        let handler = HTTPClientHandler()
        let address: SocketAddress
        do { address = try SocketAddress(ipAddress: host, port: port) } catch {
            return group.next().makeFailedFuture(error)
        }
        return ClientBootstrap(group: group)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .connect(to: address)
            .map { HTTPConnection(channel: $0, handler: handler, hostHeader: "\(host):\(port)") }
    }

    /// Builds the request bytes.
    func requestBytes(method: String, path: String, headers: [(String, String)], body: ByteBuffer?) -> ByteBuffer {
        var buf = channel.allocator.buffer(capacity: 256 + (body?.readableBytes ?? 0))
        buf.writeString("\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\n")
        for (name, value) in headers { buf.writeString("\(name): \(value)\r\n") }
        buf.writeString("Content-Length: \(body?.readableBytes ?? 0)\r\n\r\n")
        if var body { buf.writeBuffer(&body) }
        return buf
    }

    func send(_ bytes: ByteBuffer) -> EventLoopFuture<HTTPResponse> {
        let promise = channel.eventLoop.makePromise(of: HTTPResponse.self)
        if channel.eventLoop.inEventLoop {
            handler.pending.append(promise)
            channel.writeAndFlush(bytes, promise: nil)
        } else {
            channel.eventLoop.execute {
                self.handler.pending.append(promise)
                self.channel.writeAndFlush(bytes, promise: nil)
            }
        }
        return promise.futureResult
    }

    func request(_ method: String, _ path: String, bearer: String?, json: String?) -> EventLoopFuture<HTTPResponse> {
        var headers: [(String, String)] = []
        if let bearer { headers.append(("Authorization", "Bearer \(bearer)")) }
        var body: ByteBuffer? = nil
        if let json {
            headers.append(("Content-Type", "application/json"))
            body = channel.allocator.buffer(string: json)
        }
        return send(requestBytes(method: method, path: path, headers: headers, body: body))
    }

    func close() { channel.close(promise: nil) }
}
