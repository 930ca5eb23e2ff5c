// status/authenticate (SPEC §5.3).

public struct AuthenticateParams: Sendable, Equatable {
    public var token: String

    public init(token: String) {
        self.token = token
    }

    /// `token` is a required non-empty string (field `token`; missing params count as a missing token).
    public static func decode(_ params: JSONObject?) throws(RPCError) -> AuthenticateParams {
        guard let params else { throw RPCError.invalidParams(field: "token", reason: "required") }
        let token = try params.requiredString("token")
        guard !token.isEmpty else { throw RPCError.invalidParams(field: "token", reason: "must not be empty") }
        return AuthenticateParams(token: token)
    }
}
