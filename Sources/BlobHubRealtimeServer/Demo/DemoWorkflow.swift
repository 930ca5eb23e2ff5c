import BlobHubRealtimeHTTPAPI
import BlobHubRealtimeProtocol
import BlobHubRealtimeServices
import BlobHubRealtimeTransport
import Foundation

/// Realistic workflow traffic for `serve --demo`: one execution of a small flow per call, with
/// processor events, thread items, session object changes and graph changes (SPEC §7.2). The events
/// come as steps with the time the work before each one takes, so a console shows work in progress
/// the way the platform publishes it (one request per workflow step), not a whole execution at once.
struct DemoWorkflow {
    /// Events published together after `pause` (the time the work before them takes).
    struct Step {
        let pause: Duration
        let events: [JSONValue]
    }

    let revisionID: String
    let sessionID: String
    /// Scales every pause (tests run the demo faster).
    let pace: Double
    private(set) var executionCount = 0

    init(revisionID: String, sessionID: String, pace: Double = 1) {
        self.revisionID = revisionID
        self.sessionID = sessionID
        self.pace = pace
    }

    private static let processors = ["load_document", "extract_entities", "summarize", "classify", "store_result"]

    /// The steps of the next execution, in publishing order; every fifth execution fails in its fourth processor.
    mutating func nextExecution() -> [Step] {
        executionCount += 1
        let execution = UUID().uuidString
        let fails = executionCount % 5 == 0
        var steps: [Step] = []
        func step(after milliseconds: ClosedRange<Int>, _ type: String, _ fields: [(String, JSONValue)] = [], execution includeExecution: Bool = true) {
            var pairs: [(String, JSONValue)] = [("type", .string(type)), ("revision_id", .string(revisionID)), ("session_id", .string(sessionID))]
            if includeExecution { pairs.append(("execution_id", .string(execution))) }
            let pause = Duration.milliseconds(Int(Double(Int.random(in: milliseconds)) * pace))
            steps.append(Step(pause: pause, events: [.object(JSONObject(pairs + fields))]))
        }
        func processor(_ name: String) -> (String, JSONValue) { ("attributes", .object(JSONObject([("processor", .string(name))]))) }

        step(after: 0...0, "flow.entered", [("message", .string("Execution \(executionCount) started")), ("attributes", .object(JSONObject([("trigger", .string("demo"))])))])
        for (index, name) in Self.processors.enumerated() {
            step(after: 80...200, "processor.entered", [processor(name)])
            let work = Int.random(in: 150...900)
            step(after: work...work, "processor.output", [
                processor(name),
                ("data", .object(JSONObject([("items", .integer(Int.random(in: 1...40))), ("duration_ms", .integer(work))]))),
            ])
            if fails && index == 3 {
                step(after: 100...300, "processor.error", [("message", .string("\(name): upstream timeout")), processor(name)])
                step(after: 20...60, "flow.error", [("message", .string("Execution \(executionCount) failed in \(name)"))])
                break
            }
            step(after: 20...80, "processor.exited", [processor(name)])
        }
        if !fails { step(after: 20...80, "flow.exited", [("message", .string("Execution \(executionCount) completed"))]) }
        step(after: 50...150, "session_thread_item_posted", [("alias", .string("main")), ("item_id", .string("item-\(executionCount)"))], execution: false)
        step(after: 50...150, "session_object_modified", [("session_object", .object(JSONObject([("alias", .string("summary"))])))], execution: false)
        step(after: 50...150, "session_graph_changed", [("changes", .array([.object(JSONObject([("element_id", .string("node-\(executionCount % 7)"))]))]))], execution: false)
        return steps
    }
}
