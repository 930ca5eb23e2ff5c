import Foundation

/// Where a ``PostgresStore`` connects: parsed from `postgres://user:password@host:port/database?sslmode=…`.
public struct PostgresSettings: Sendable, Equatable {
    public enum TLSMode: String, Sendable, Equatable {
        /// Plain connections only.
        case disable
        /// TLS when the server offers it (libpq's default).
        case prefer
        /// TLS or fail.
        case require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String?
    public var tls: TLSMode

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String? = nil,
                tls: TLSMode = .prefer) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a `postgres://` or `postgresql://` URL. User defaults to `postgres`, port to 5432, database to the user.
    public static func parse(_ url: String) throws(StoreConfigurationError) -> PostgresSettings {
        guard let components = URLComponents(string: url),
              let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else {
            throw StoreConfigurationError("--store \(redacted(url)): not a valid postgres://user:pass@host:port/db URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw StoreConfigurationError("--store \(redacted(url)): the URL names no host")
        }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else {
            throw StoreConfigurationError("--store \(redacted(url)): port out of range")
        }
        let username = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        let password = components.password.flatMap { $0.removingPercentEncoding }
        var path = components.path
        if path.hasPrefix("/") { path.removeFirst() }
        let database = path.isEmpty ? nil : (path.removingPercentEncoding ?? path)
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: item.value ?? "") else {
                    throw StoreConfigurationError("--store: sslmode must be disable, prefer or require")
                }
                tls = mode
            default:
                throw StoreConfigurationError("--store: unsupported URL parameter \"\(item.name)\" (only sslmode)")
            }
        }
        return PostgresSettings(host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    /// The URL without its password, for messages.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "postgres://…"
    }
}
