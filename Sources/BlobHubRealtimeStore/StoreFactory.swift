/// Opens the store named by the `--store` setting.
public enum StoreFactory {
    /// `"memory"` → ``MemoryStore``; `"sqlite:<path>"` → ``SQLiteStore`` (relative paths are relative to the
    /// working directory; `sqlite://<path>` is accepted too, so `sqlite:///abs/file` is `/abs/file`).
    /// `postgres://…` / `postgresql://…` → ``PostgresStore`` (the schema is created or migrated; `liveness` sets its
    /// node heartbeat); anything else is rejected.
    public static func open(_ setting: String, liveness: NodeLiveness = NodeLiveness()) async throws -> any RealtimeStore {
        switch try parse(setting) {
        case .memory:
            return MemoryStore()
        case .sqlite(let path):
            return try SQLiteStore(path: path)
        case .postgres(let settings):
            var timeouts = PostgresStore.Timeouts()
            timeouts.liveness = liveness
            return try await PostgresStore.open(settings, timeouts: timeouts)
        }
    }

    enum Setting: Equatable {
        case memory
        case sqlite(path: String)
        case postgres(PostgresSettings)
    }

    static func parse(_ setting: String) throws(StoreConfigurationError) -> Setting {
        let trimmed = setting.trimmingWhitespace()
        if trimmed == "memory" {
            return .memory
        }
        if trimmed.hasPrefix("sqlite:") {
            var path = trimmed.dropFirst("sqlite:".count)
            if path.hasPrefix("//") {
                path = path.dropFirst(2)
            }
            guard !path.isEmpty else {
                throw StoreConfigurationError("--store sqlite: needs a file path, e.g. sqlite:./blobhub-realtime.sqlite")
            }
            return .sqlite(path: String(path))
        }
        if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
            return .postgres(try PostgresSettings.parse(String(trimmed)))
        }
        throw StoreConfigurationError(
            "--store \"\(setting)\": unknown store; expected memory, sqlite:<path> or postgres://user:pass@host:port/db")
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> Substring {
        var slice = self[...]
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return slice
    }
}
