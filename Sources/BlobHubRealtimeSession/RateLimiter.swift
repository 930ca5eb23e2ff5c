/// Per-connection request limits (SPEC §10): a token bucket answers 429 beyond `rate`/s with bursts
/// up to `burst`; a connection sending more than ten times `rate` within one second is a flood (4029).
public struct RateLimiter: Sendable {
    public enum Verdict: Equatable, Sendable { case allow, reject, flood }

    public let rate: Double
    public let burst: Double
    private var tokens: Double
    private var lastRefill: UInt64
    private var windowStart: UInt64
    private var windowCount = 0

    /// - Parameter now: monotonic nanoseconds.
    public init(rate: Int, burst: Int, now: UInt64) {
        self.rate = Double(rate)
        self.burst = Double(max(burst, 1))
        tokens = self.burst
        lastRefill = now
        windowStart = now
    }

    public mutating func check(now: UInt64) -> Verdict {
        if now - windowStart >= 1_000_000_000 {
            windowStart = now
            windowCount = 0
        }
        windowCount += 1
        if Double(windowCount) > rate * 10 { return .flood }
        tokens = min(burst, tokens + Double(now - lastRefill) / 1e9 * rate)
        lastRefill = now
        guard tokens >= 1 else { return .reject }
        tokens -= 1
        return .allow
    }
}
