import Synchronization

/// Wakes one waiting task early; a signal sent while nobody waits is remembered (at most one).
/// The PostgreSQL tailer waits on it between polls; notifications and local commits signal it.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns at the next signal (or at once if one is pending), or after `timeout`. One waiter at a time.
    func wait(timeout: Duration) async {
        // A signal already pending (the usual case on a busy node) needs no timer task.
        if takePending() { return }
        let timer = Task {
            do {
                try await Task.sleep(for: timeout)
                self.signal()
            } catch {}  // cancelled: woken by a real signal first
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.pending {
                    state.pending = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
        timer.cancel()
    }

    private func takePending() -> Bool {
        state.withLock { state in
            guard state.pending else { return false }
            state.pending = false
            return true
        }
    }
}
