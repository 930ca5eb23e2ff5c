import Foundation
import Testing

/// The executable's start-up contract: bad settings stop it with a message naming the flag.
@Suite struct CommandLineTests {
    private func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = ServerProcess.executableURL
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(arguments: [
        (["serve", "--port", "eighty"], "--port"),
        (["serve", "--init-timeout", "soon"], "--init-timeout"),
        (["serve", "--store", "mysql://x"], "--store"),
        (["serve", "--store", "memory", "--jwt-secret", "short"], "--jwt-secret"),
        (["serve", "--store", "memory", "--jwt-public-key", "/nonexistent.pem"], "--jwt-public-key"),
        (["serve", "--store", "memory", "--tls-cert", "/c.pem", "--tls-key", "/k.pem"], "--tls-cert"),
    ])
    func badFlagsExitNonZeroNamingTheFlag(arguments: [String], flag: String) throws {
        let (status, output) = try run(arguments)
        #expect(status != 0, "\(output)")
        #expect(output.contains(flag), "\(output)")
    }

    @Test func badEnvironmentVariableNamesIt() throws {
        let (status, output) = try run(["serve"], environment: ["BLOBHUB_REALTIME_MAX_MESSAGE_BYTES": "lots"])
        #expect(status != 0)
        #expect(output.contains("BLOBHUB_REALTIME_MAX_MESSAGE_BYTES"))
    }

    @Test func versionAndHelp() throws {
        let (status, output) = try run(["--version"])
        #expect(status == 0 && output.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        let help = try run(["serve", "--help"])
        #expect(help.status == 0 && help.output.contains("--jwt-secret") && help.output.contains("BLOBHUB_REALTIME_"))
    }

    @Test func tokenCommandMintsAUsableToken() throws {
        let (status, output) = try run(["token", "--secret", TestSecrets.jwtSecret, "--user", "cli-user", "--ttl", "5m"])
        #expect(status == 0)
        #expect(output.split(separator: ".").count == 3)
    }

    @Test func jsonLogsAreJSONLines() async throws {
        let child = try await ServerProcess(arguments: ["--store", "memory", "--log-format", "json", "--jwt-secret", TestSecrets.jwtSecret])
        defer { child.terminate() }
        try await child.waitUntilHealthy()
        child.signal(SIGTERM)
        _ = try await child.waitForExit(timeout: .seconds(12))
        let lines = child.log.split(separator: "\n").filter { !$0.isEmpty }
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] is String && object?["msg"] is String, "\(line)")
            #expect(!line.contains(TestSecrets.jwtSecret))
        }
    }
}
