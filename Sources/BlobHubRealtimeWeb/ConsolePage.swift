import Foundation
import Hummingbird
import NIOCore

/// `GET /console`: a static page (no build step, no external assets) on the JavaScript client that
/// every node serves at `/client/blobhub-realtime.js`, so the console reconnects, resumes with `since`
/// and follows the close codes exactly as the platform's web UI does. Two views of one subscription:
/// the session view (executions with status, duration and a step timeline) and the raw event table.
/// Deep link: `/console#token=…&scope=…&scope_id=…&target=…&target_id=…&types=a,b&since=0`.
///
/// Its parts are `Resources/console.html` (structure; ids and `data-*` attributes are what
/// ConsoleBrowserTests query), `console.css` and `console.js` (the session model, its rendering and the
/// connection), put together once into one response with the style and the module script inline.
public enum ConsolePage {
    public static let path = "/console"

    public static func add(to router: Router<some RequestContext>) {
        let body = ByteBuffer(string: html)
        router.get(RouterPath(path)) { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: body)
            )
        }
    }

    /// The page as served.
    public static let html = WebAsset.consoleMarkup
        .replacingOccurrences(of: "<!-- style -->\n", with: WebAsset.consoleStyle)
        .replacingOccurrences(of: "<!-- script -->\n", with: WebAsset.consoleScript)
}
