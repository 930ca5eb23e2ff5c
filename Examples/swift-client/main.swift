// example: swift-client
import BlobHubRealtimeClient
import Foundation

// Settings from the environment: BLOBHUB_URL (ws://127.0.0.1:8080/v1), BLOBHUB_TOKEN (an access token),
// REVISION_ID and SESSION_ID (what to watch), STOP_AFTER (exit after that many events; default never).
let environment = ProcessInfo.processInfo.environment
let url = environment["BLOBHUB_URL"] ?? "ws://127.0.0.1:8080/v1"
let token = environment["BLOBHUB_TOKEN"] ?? ""
let stopAfter = Int(environment["STOP_AFTER"] ?? "") ?? Int.max
let subscription = ClientSubscription.session(revision: environment["REVISION_ID"] ?? "rev-1", session: environment["SESSION_ID"] ?? "s-1")

// Connect: upgrade with the bearer header, then status/initialize. A refused credential throws at once.
let client = RealtimeClient(try .init(url: url, credential: .bearer(token)))
try await client.connect()
// since: 0 replays every event the log still holds for this session, then live events follow.
// After a disconnect the client reconnects by itself and resubscribes with since = the last offset it delivered.
try await client.subscribe(subscription, since: 0)

var received = 0
for await notice in client.notices {
    switch notice {
    case .event(let event):
        print(event.offset, event.type ?? "?")
        received += 1
    case .gap:
        print("some events were pruned: reload state over REST")
    case .revoked(_, let reason):
        print("subscription revoked:", reason)
    case .disconnected(let code):
        print("disconnected", code.map(String.init) ?? "", "- reconnecting")
    case .reconnected:
        let resumedAfter = await client.lastOffset(of: subscription) ?? 0
        print("reconnected, resumed after offset", resumedAfter)
    }
    if received >= stopAfter { break }
}
await client.close()
