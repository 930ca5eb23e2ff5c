// Placeholder until the registry module lands.
enum RegistryPlaceholder {}
