/// WebSocket close codes the server sends (SPEC §5.4, plus RFC 6455's protocol error); the client and CLI
/// compare against these.
public enum CloseCode: UInt16, Sendable, CaseIterable {
    case normal = 1000
    case goingAway = 1001
    case protocolError = 1002
    case unsupportedData = 1003
    case invalidPayload = 1007
    case messageTooBig = 1009
    case internalError = 1011
    case authenticationExpired = 4001
    case initializationTimeout = 4008
    case slowConsumer = 4013
    case requestFlood = 4029

    /// The reason text sent in the close frame.
    public var reason: String {
        switch self {
        case .normal: return "normal closure"
        case .goingAway: return "server going away"
        case .protocolError: return "protocol error"
        case .unsupportedData: return "binary frames are not supported"
        case .invalidPayload: return "invalid UTF-8"
        case .messageTooBig: return "message too big"
        case .internalError: return "internal error"
        case .authenticationExpired: return "authentication expired"
        case .initializationTimeout: return "initialization timeout"
        case .slowConsumer: return "slow consumer"
        case .requestFlood: return "request flood"
        }
    }
}
