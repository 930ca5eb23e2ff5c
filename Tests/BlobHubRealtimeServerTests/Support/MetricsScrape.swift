import Foundation

/// One scrape of `/metrics`, parsed from the Prometheus text format: series (name plus labels, as
/// written) → value. Comment lines are checked for form and skipped.
struct MetricsScrape {
    var series: [String: Double] = [:]

    struct Malformed: Error { let line: String }

    static func parse(_ text: String) throws -> MetricsScrape {
        var scrape = MetricsScrape()
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("#") {
                guard line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") else { throw Malformed(line: String(line)) }
                continue
            }
            // The value follows the last space (label values here never contain one).
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw Malformed(line: String(line))
            }
            scrape.series[String(line[..<space])] = value
        }
        return scrape
    }

    /// The value of `name{labels}`; nil when the series is absent.
    func value(_ name: String, _ labels: [(String, String)] = []) -> Double? {
        guard !labels.isEmpty else { return series[name] }
        let rendered = labels.map { #"\#($0.0)="\#($0.1)""# }.joined(separator: ",")
        return series["\(name){\(rendered)}"]
    }

    subscript(_ name: String, _ labels: [(String, String)] = []) -> Double {
        value(name, labels) ?? .nan
    }

    /// Every series of `name` with its value, sorted (for a failed expectation's message).
    func describe(_ name: String) -> String {
        series.filter { $0.key == name || $0.key.hasPrefix(name + "{") }.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }
}

extension MetricsScrape {
    /// A `/metrics` answer; anything but 200 is malformed.
    static func parse(_ response: HTTPResponseHead) throws -> MetricsScrape {
        guard response.status == 200 else { throw Malformed(line: "status \(response.status)") }
        return try parse(response.bodyText)
    }
}

extension TestServerHandle {
    func scrapeMetrics() async throws -> MetricsScrape {
        try MetricsScrape.parse(try await http("GET", "/metrics"))
    }

    /// Scrapes until `condition` holds (metrics move asynchronously), or returns the last scrape after `timeout`.
    func scrapeMetrics(until condition: (MetricsScrape) -> Bool, timeout: Duration = .seconds(5)) async throws -> MetricsScrape {
        let deadline = ContinuousClock.now + timeout
        var scrape = try await scrapeMetrics()
        while !condition(scrape), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            scrape = try await scrapeMetrics()
        }
        return scrape
    }
}
