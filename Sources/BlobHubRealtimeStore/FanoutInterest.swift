/// What a node's fan-out wants from a shared log: whether any of its connections subscribes to anything, and how
/// many subscription keys it has added since it started (a count that only grows).
///
/// A cluster store does not read the other nodes' events while the node has no subscription (a node that only
/// takes publishes reads nothing back); a key added while such a round was in flight makes the store read that
/// round's range again, in full, because the new subscription's replay may have read the log before the range's
/// last events committed (docs/cluster.md, "Nodes without subscriptions").
public struct FanoutInterest: Sendable, Equatable {
    public var hasSubscriptions: Bool
    public var keysAdded: UInt64

    public init(hasSubscriptions: Bool, keysAdded: UInt64) {
        self.hasSubscriptions = hasSubscriptions
        self.keysAdded = keysAdded
    }
}
