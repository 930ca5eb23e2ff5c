import Synchronization

/// Node-wide lifecycle flags read by the readiness probe and the upgrade gate.
public final class NodeState: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    package func beginDraining() { draining.store(true, ordering: .relaxed) }
}
