/// A credential presented in the WebSocket upgrade request (SPEC §3).
public enum Credential: Sendable, Equatable {
    /// A JWT access token.
    case bearer(String)
    /// An opaque API-key secret.
    case apiKey(String)
}

/// How a credential reached the server.
public enum CredentialTransport: Sendable, Equatable {
    /// `Authorization` or `X-API-Key` header.
    case header
    /// `Sec-WebSocket-Protocol: <marker>, <base64(credential)>`.
    ///
    /// `marker` is the marker exactly as the client spelled it (`authorization.bearer.base64` or
    /// `x-api-key.base64`, matched case-insensitively). The server must echo this string as the
    /// selected `Sec-WebSocket-Protocol` of the 101 response: RFC 6455 clients (browsers) compare the
    /// selected value byte for byte with what they offered. The credential itself is never echoed.
    case subprotocol(marker: String)
}

/// A credential together with the way it was transported.
public struct PresentedCredential: Sendable, Equatable {
    public var credential: Credential
    public var transport: CredentialTransport

    public init(credential: Credential, transport: CredentialTransport) {
        self.credential = credential
        self.transport = transport
    }
}
