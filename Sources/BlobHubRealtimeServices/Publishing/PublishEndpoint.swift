import BlobHubRealtimeProtocol
import BlobHubRealtimeStore
import HTTPTypes
import Logging
import NIOCore

/// `POST /v1/events` (SPEC §8) without an HTTP stack: the request's credential and body in, the status
/// and JSON body of the answer out. Served on the event loop by `PublishRequestHandler` (no task per
/// request) and by the router's route (`PublishRoutes`), so both answer byte for byte alike.
package struct PublishEndpoint: Sendable {
    package static let path = "/v1/events"
    static let maxEventsPerRequest = 1000
    /// 1,000 events of at most 256 KiB each would be 250 MiB; a request is capped well below that.
    package static let maxBodyBytes = 32 * 1024 * 1024

    let keys: BearerKeys
    let publisher: PublishService
    let logger: Logger

    package init(keys: BearerKeys, publisher: PublishService, logger: Logger) {
        self.keys = keys
        self.publisher = publisher
        self.logger = logger
    }

    package struct Reply: Sendable {
        package var status: HTTPResponse.Status
        package var body: [UInt8]
        package var headers: HTTPFields = [:]

        static func error(_ status: HTTPResponse.Status, _ message: String, extra: [(String, JSONValue)] = [], headers: HTTPFields = [:]) -> Reply {
            Reply(status: status, body: ErrorBody.json(code: status.code, message: message, extra: extra), headers: headers)
        }

        package static let unauthorized = Reply.error(.unauthorized, "invalid or missing key", headers: [.wwwAuthenticate: "Bearer"])
        /// The same words as the router's 413 (`JSONErrorMiddleware`).
        package static let tooLarge = Reply.error(.contentTooLarge, "Request body too large")
    }

    /// Whether the request's `Authorization` value carries a publisher or admin key (checked before the
    /// body is read).
    package func authorizes(_ authorization: String?) -> Bool {
        keys.accepts(authorization: authorization)
    }

    /// Answers an authorized request's body. `reply` is called exactly once: at once for a refused body,
    /// else when the events are durable or the append failed (on the store's writer, or before this returns).
    package func handle(body: ByteBuffer, reply: @escaping @Sendable (Reply) -> Void) {
        let value: JSONValue
        do {
            value = try body.withUnsafeReadableBytes { try JSONParser.parse($0, maxDepth: 128) }
        } catch {
            return reply(.error(.badRequest, "body is not valid JSON"))
        }
        let objects: [JSONValue]
        if case .array(let array) = value {
            guard !array.isEmpty else { return reply(.error(.badRequest, "empty batch")) }
            guard array.count <= Self.maxEventsPerRequest else {
                return reply(.error(.contentTooLarge, "at most \(Self.maxEventsPerRequest) events per request"))
            }
            objects = array
        } else {
            objects = [value]
        }
        let logger = logger
        publisher.publish(objects) { outcome in
            switch outcome {
            case .success(let accepted):
                reply(Reply(status: .accepted, body: Self.acceptedBody(accepted)))
            case .failure(let rejection as EventIntake.Rejection):
                let status: HTTPResponse.Status = rejection.tooLarge ? .contentTooLarge : .badRequest
                reply(.error(status, rejection.message, extra: [("index", .number(String(rejection.index))), ("field", .string(rejection.field))]))
            case .failure(StoreError.diskFull):
                logger.error("publish failed: the store's disk is full")
                reply(.error(.serviceUnavailable, "the event log's disk is full; nothing of this request was stored"))
            case .failure(let error):
                logger.error("publish failed", metadata: ["error": "\(error)"])
                reply(.error(.serviceUnavailable, "the event log is unavailable"))
            }
        }
    }

    /// `{"events":[{"id":…,"offset":…},…]}`, written straight into bytes.
    static func acceptedBody(_ accepted: [PublishService.Accepted]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(16 + accepted.count * 72)
        out.append(contentsOf: #"{"events":["#.utf8)
        for (index, event) in accepted.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"id":"#.utf8)
            JSONWriter.appendString(event.id, into: &out)
            out.append(contentsOf: #","offset":"#.utf8)
            out.append(contentsOf: String(event.offset).utf8)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }
}
