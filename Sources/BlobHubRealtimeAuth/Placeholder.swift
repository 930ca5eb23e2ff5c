// Placeholder until the auth module lands.
enum AuthPlaceholder {}
