import NIOCore
import NIOPosix

struct HTTPResponse: Sendable {
    var status: Int
    var body: ByteBuffer
    var bodyText: String { String(buffer: body) }
}

/// A minimal keep-alive HTTP/1.1 client connection: one request at a time, Content-Length or chunked bodies.
/// The response head is scanned as bytes (status, Content-Length, Transfer-Encoding): no strings per response,
/// so the load tool's publisher costs little CPU per request.
final class HTTPClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias Callback = (Result<HTTPResponse, any Error>) -> Void

    /// Waiting requests, oldest first (`head` indexes the next one; compacted when drained).
    private var pending: [Callback] = []
    private var head = 0
    private var cumulation: ByteBuffer?

    func enqueue(_ callback: @escaping Callback) { pending.append(callback) }

    private func next() -> Callback? {
        guard head < pending.count else { return nil }
        let callback = pending[head]
        head += 1
        if head == pending.count { pending.removeAll(keepingCapacity: true); head = 0 }
        return callback
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if cumulation == nil { cumulation = incoming } else { cumulation!.writeBuffer(&incoming) }
        while let response = parseOne() {
            next()?(.success(response))
        }
        if cumulation?.readableBytes == 0 { cumulation = nil }
    }

    func channelInactive(context: ChannelHandlerContext) {
        var waiting: [Callback] = []
        while let callback = next() { waiting.append(callback) }
        for callback in waiting { callback(.failure(BenchError("HTTP connection closed"))) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// The head of a response: status, body framing, and where the head ends.
    private struct Head { var status: Int; var contentLength: Int?; var chunked: Bool; var length: Int }

    /// Scans the response head in `bytes` (nil: incomplete).
    private static func scanHead(_ bytes: UnsafeRawBufferPointer) -> Head? {
        let n = bytes.count
        guard n >= 16 else { return nil }
        var end = -1
        var i = 0
        while i + 3 < n {
            if bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 { end = i; break }
            i += 1
        }
        guard end >= 0 else { return nil }
        // "HTTP/1.1 202 ..."
        var status = 0
        var k = 9
        while k < 12 && k < end, bytes[k] >= 48, bytes[k] <= 57 { status = status * 10 + Int(bytes[k] - 48); k += 1 }
        var contentLength: Int? = nil
        var chunked = false
        // header lines: lower-case compare of the name's first bytes
        var line = 0
        while line < end && !(bytes[line] == 13 && bytes[line + 1] == 10) { line += 1 }
        line += 2
        while line < end {
            var lineEnd = line
            while lineEnd < end && !(bytes[lineEnd] == 13 && bytes[lineEnd + 1] == 10) { lineEnd += 1 }
            if matchesName(bytes, line, lineEnd, "content-length:") {
                var v = 0
                var j = line + 15
                while j < lineEnd && (bytes[j] == 32 || bytes[j] == 9) { j += 1 }
                while j < lineEnd, bytes[j] >= 48, bytes[j] <= 57 { v = v * 10 + Int(bytes[j] - 48); j += 1 }
                contentLength = v
            } else if matchesName(bytes, line, lineEnd, "transfer-encoding:") {
                // "chunked" anywhere in the value
                var j = line + 18
                while j + 7 <= lineEnd {
                    if bytes[j] | 0x20 == 99 && bytes[j + 1] | 0x20 == 104 && bytes[j + 2] | 0x20 == 117 && bytes[j + 3] | 0x20 == 110
                        && bytes[j + 4] | 0x20 == 107 && bytes[j + 5] | 0x20 == 101 && bytes[j + 6] | 0x20 == 100 { chunked = true; break }
                    j += 1
                }
            }
            line = lineEnd + 2
        }
        return Head(status: status, contentLength: contentLength, chunked: chunked, length: end + 4)
    }

    @inline(__always)
    private static func matchesName(_ bytes: UnsafeRawBufferPointer, _ from: Int, _ to: Int, _ name: StaticString) -> Bool {
        let count = name.utf8CodeUnitCount
        guard to - from >= count else { return false }
        let p = name.utf8Start
        for k in 0..<count where bytes[from + k] | 0x20 != p[k] | 0x20 { return false }
        return true
    }

    /// Parses one complete response off the cumulation buffer.
    private func parseOne() -> HTTPResponse? {
        guard var buf = cumulation, buf.readableBytes > 12 else { return nil }
        guard let head = buf.withUnsafeReadableBytes({ Self.scanHead($0) }) else { return nil }
        let headerLength = head.length
        let status = head.status
        if head.chunked {
            let view = buf.readableBytesView
            var index = headerLength
            var body = ByteBufferAllocator().buffer(capacity: 256)
            while true {
                guard let sizeEnd = view.dropFirst(index).firstRange(of: [13, 10]) else { return nil }
                let sizeLine = String(decoding: view[(view.startIndex + index)..<sizeEnd.lowerBound], as: UTF8.self)
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
        let length = head.contentLength ?? 0
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
            send(bytes) { promise.completeWith($0) }
        } else {
            channel.eventLoop.execute { self.send(bytes) { promise.completeWith($0) } }
        }
        return promise.futureResult
    }

    /// The publisher's path: on the connection's loop, no promise; `callback` runs on the loop.
    func send(_ bytes: ByteBuffer, callback: @escaping HTTPClientHandler.Callback) {
        channel.eventLoop.preconditionInEventLoop()
        handler.enqueue(callback)
        channel.writeAndFlush(bytes, promise: nil)
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
