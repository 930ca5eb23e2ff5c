import ArgumentParser
import BlobHubRealtimeServer
import BlobHubRealtimeServices

/// `blobhub-realtime`: the command-line entry point.
public struct RootCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "blobhub-realtime",
        abstract: "BlobHub Realtime: the real-time WebSocket server of the BlobHub platform.",
        version: ServerVersion.version,
        subcommands: [ServeCommand.self, ListenCommand.self, PublishCommand.self, TokenCommand.self]
    )

    public init() {}
}

/// Entry point for the executable, which then needs no ArgumentParser import of its own.
public enum CommandLineEntry {
    public static func main() async {
        await RootCommand.main()
    }
}
