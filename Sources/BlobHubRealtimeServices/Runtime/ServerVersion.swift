/// The product name and version reported by `status/initialize` and `--version`.
public enum ServerVersion {
    public static let name = "BlobHub Realtime Server"
    public static let version = "0.1.0"
}
