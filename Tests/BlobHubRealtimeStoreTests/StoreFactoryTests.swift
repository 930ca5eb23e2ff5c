import Foundation
import Testing
@testable import BlobHubRealtimeStore

@Suite("Store factory")
struct StoreFactoryTests {
    @Test("settings parse", arguments: [
        ("memory", StoreFactory.Setting.memory),
        (" memory\n", .memory),
        ("sqlite:./blobhub-realtime.sqlite", .sqlite(path: "./blobhub-realtime.sqlite")),
        ("sqlite:relative/dir/db.sqlite", .sqlite(path: "relative/dir/db.sqlite")),
        ("sqlite:/abs/db.sqlite", .sqlite(path: "/abs/db.sqlite")),
        ("sqlite:///abs/db.sqlite", .sqlite(path: "/abs/db.sqlite")),
        ("sqlite:name with spaces.sqlite", .sqlite(path: "name with spaces.sqlite")),
        ("postgres://user:p%40ss@db.example:6543/realtime?sslmode=require",
         .postgres(PostgresSettings(host: "db.example", port: 6543, username: "user", password: "p@ss",
                                    database: "realtime", tls: .require))),
        ("postgresql://localhost", .postgres(PostgresSettings(host: "localhost", username: "postgres"))),
        (" postgres://u@127.0.0.1/db?sslmode=disable ",
         .postgres(PostgresSettings(host: "127.0.0.1", username: "u", database: "db", tls: .disable))),
    ])
    func parse(setting: String, expected: StoreFactory.Setting) throws {
        #expect(try StoreFactory.parse(setting) == expected)
    }

    @Test("unsupported or malformed settings are rejected", arguments: [
        ("postgres://user:pass@/db", "names no host"),
        ("postgres://localhost:5432/db?sslmode=maybe", "sslmode must be"),
        ("postgres://localhost/db?application_name=x", "unsupported URL parameter"),
        ("sqlite:", "needs a file path"),
        ("sqlite://", "needs a file path"),
        ("", "unknown store"),
        ("Memory", "unknown store"),
        ("redis://localhost", "unknown store"),
        ("./file.sqlite", "unknown store"),
    ])
    func rejected(setting: String, message: String) async {
        do {
            _ = try await StoreFactory.open(setting)
            Issue.record("expected \(setting) to be rejected")
        } catch let error as StoreConfigurationError {
            #expect(error.description.contains(message))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("open memory and sqlite stores")
    func open() async throws {
        let memory = try await StoreFactory.open("memory")
        #expect(memory is MemoryStore)
        try await memory.close()

        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("factory.sqlite")
        let sqlite = try await StoreFactory.open("sqlite:" + path)
        #expect(sqlite is SQLiteStore)
        #expect(FileManager.default.fileExists(atPath: path))
        _ = try await sqlite.append([newEvent("a")])
        try await sqlite.close()

        let again = try await StoreFactory.open("sqlite://" + path)
        #expect(again.epoch == sqlite.epoch)
        #expect(try await again.headOffset() == 1)
        try await again.close()
    }
}
