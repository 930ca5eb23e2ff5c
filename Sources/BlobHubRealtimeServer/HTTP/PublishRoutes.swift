import BlobHubRealtimeProtocol
import Hummingbird
import Logging
import NIOCore

/// `POST /v1/events` (SPEC §8).
enum PublishRoutes {
    static let maxEventsPerRequest = 1000
    /// 1,000 events of at most 256 KiB each would be 250 MiB; a request is capped well below that.
    static let maxBodyBytes = 32 * 1024 * 1024

    static func add(to router: Router<BasicRequestContext>, keys: BearerKeys, publisher: PublishService) {
        router.post("/v1/events") { request, context -> Response in
            guard keys.accepts(request) else { return BearerKeys.unauthorized() }
            let body = try await request.body.collect(upTo: maxBodyBytes)
            let value: JSONValue
            do {
                value = try body.withUnsafeReadableBytes { try JSONParser.parse($0, maxDepth: 128) }
            } catch {
                return OperationalRoutes.errorResponse(.badRequest, message: "body is not valid JSON")
            }
            let objects: [JSONValue]
            if case .array(let array) = value {
                guard !array.isEmpty else { return OperationalRoutes.errorResponse(.badRequest, message: "empty batch") }
                guard array.count <= maxEventsPerRequest else {
                    return OperationalRoutes.errorResponse(.contentTooLarge, message: "at most \(maxEventsPerRequest) events per request")
                }
                objects = array
            } else {
                objects = [value]
            }
            do {
                let accepted = try await publisher.publish(objects)
                let events = accepted.map { JSONValue.object(JSONObject([("id", .string($0.id)), ("offset", .number(String($0.offset)))])) }
                return OperationalRoutes.jsonResponse(.accepted, JSONWriter.string(.object(JSONObject([("events", .array(events))]))))
            } catch let rejection as EventIntake.Rejection {
                let status: HTTPResponse.Status = rejection.reason.hasPrefix("larger than") ? .contentTooLarge : .badRequest
                return OperationalRoutes.errorResponse(status, message: rejection.message, extra: [("index", .number(String(rejection.index))), ("field", .string(rejection.field))])
            } catch {
                context.logger.error("publish failed", metadata: ["error": "\(error)"])
                return OperationalRoutes.errorResponse(.serviceUnavailable, message: "the event log is unavailable")
            }
        }
    }
}
