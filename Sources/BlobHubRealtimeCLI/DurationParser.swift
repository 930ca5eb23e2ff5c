import Foundation
/// Parses durations such as `500ms`, `10s`, `5m`, `24h` (SPEC §10). A bare number means seconds.
public enum DurationParser {
    public static func parse(_ text: String) -> Duration? {
        let units: [(String, Duration)] = [("ms", .milliseconds(1)), ("s", .seconds(1)), ("m", .seconds(60)), ("h", .seconds(3600))]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, unit) in units where trimmed.hasSuffix(suffix) {
            return number(String(trimmed.dropLast(suffix.count))).map { unit * $0 }
        }
        return number(trimmed).map { Duration.seconds(1) * $0 }
    }

    /// The text `parse` reads back as `duration`, in the largest unit that holds it whole (`10s`, `5m`, `24h`,
    /// `500ms`): how `--help` shows defaults.
    public static func format(_ duration: Duration) -> String {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        for (suffix, size) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000)] where ms != 0 && ms % size == 0 {
            return "\(ms / size)\(suffix)"
        }
        return "\(ms)ms"
    }

    private static func number(_ text: String) -> Double? {
        guard !text.isEmpty, text.allSatisfy({ $0.isNumber || $0 == "." }), let value = Double(text), value.isFinite, value >= 0 else {
            return nil
        }
        return value
    }
}
