import BlobHubRealtimeCLI

await CommandLineEntry.main()
