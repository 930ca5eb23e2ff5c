import Foundation
import Hummingbird
import NIOCore

/// `GET /console`: a static page (no build step, no external assets) on the JavaScript client that
/// every node serves at `/client/blobhub-realtime.js`, so the console reconnects, resumes with `since`
/// and follows the close codes exactly as the platform's web UI does. Two views of one subscription:
/// the session view (executions with status, duration and a step timeline) and the raw event table.
/// Deep link: `/console#token=…&scope=…&scope_id=…&target=…&target_id=…&types=a,b&since=0`.
enum ConsolePage {
    static func add(to router: Router<BasicRequestContext>) {
        router.get("/console") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: html))
            )
        }
    }

    static let html = markup.replacingOccurrences(of: "<!-- style -->", with: style)
        .replacingOccurrences(of: "<!-- script -->", with: script)
}
