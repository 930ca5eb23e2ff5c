import BlobHubRealtimeProtocol
import Foundation

/// Realistic workflow traffic for `serve --demo`: one execution of a small flow per call, with
/// processor events, thread items, session object changes and graph changes (SPEC §7.2).
struct DemoWorkflow {
    let revisionID: String
    let sessionID: String
    private(set) var executionCount = 0

    init(revisionID: String, sessionID: String) {
        self.revisionID = revisionID
        self.sessionID = sessionID
    }

    private static let processors = ["load_document", "extract_entities", "summarize", "classify", "store_result"]

    /// The events of the next execution, in publishing order.
    mutating func nextExecution() -> [JSONValue] {
        executionCount += 1
        let execution = UUID().uuidString
        let fails = executionCount % 5 == 0
        var events: [JSONValue] = []
        func event(_ type: String, _ fields: [(String, JSONValue)] = [], execution includeExecution: Bool = true) {
            var pairs: [(String, JSONValue)] = [("type", .string(type)), ("revision_id", .string(revisionID)), ("session_id", .string(sessionID))]
            if includeExecution { pairs.append(("execution_id", .string(execution))) }
            events.append(.object(JSONObject(pairs + fields)))
        }
        event("flow.entered", [("message", .string("Execution \(executionCount) started")), ("attributes", .object(JSONObject([("trigger", .string("demo"))])))])
        for (index, processor) in Self.processors.enumerated() {
            event("processor.entered", [("attributes", .object(JSONObject([("processor", .string(processor))])))])
            event("processor.output", [
                ("attributes", .object(JSONObject([("processor", .string(processor))]))),
                ("data", .object(JSONObject([("items", .integer(Int.random(in: 1...40))), ("duration_ms", .integer(Int.random(in: 5...400)))]))),
            ])
            if fails && index == 3 {
                event("processor.error", [("message", .string("\(processor): upstream timeout")), ("attributes", .object(JSONObject([("processor", .string(processor))])))])
                event("flow.error", [("message", .string("Execution \(executionCount) failed in \(processor)"))])
                break
            }
            event("processor.exited", [("attributes", .object(JSONObject([("processor", .string(processor))])))])
        }
        if !fails { event("flow.exited", [("message", .string("Execution \(executionCount) completed"))]) }
        event("session_thread_item_posted", [("alias", .string("main")), ("item_id", .string("item-\(executionCount)"))], execution: false)
        event("session_object_modified", [("session_object", .object(JSONObject([("alias", .string("summary"))])))], execution: false)
        event("session_graph_changed", [("changes", .array([.object(JSONObject([("element_id", .string("node-\(executionCount % 7)"))]))]))], execution: false)
        return events
    }
}
