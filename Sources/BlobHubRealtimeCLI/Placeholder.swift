// Placeholder until the CLI module lands.
enum CLIPlaceholder {}
