import BlobHubRealtimeCLI

