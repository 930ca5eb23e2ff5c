// Placeholder until the store module lands.
enum StorePlaceholder {}
