import CoSSigner
import Foundation
import NIOConcurrencyHelpers
import Prometheus

/// The service's Prometheus metrics, served as text at `GET /metrics`:
///
/// | metric | labels | what |
/// |---|---|---|
/// | `cossigner_http_requests_total` | `route`, `status` | requests answered |
/// | `cossigner_sign_duration_seconds` | `route` | time to sign one request (checks, key choice, counter, signature) |
/// | `cossigner_verify_duration_seconds` | `route` | time to verify one document |
/// | `cossigner_refusals_total` | `kind` | requests refused: `input`, `credentials`, `selectionRefused`, `signatureInvalid`, `unavailable`, `notAllowed`, `malformed`, `tooLarge`, `saturated`, `timeout` |
/// | `cossigner_counters_issued_total` | | RequestID counters set by the server's counter policy |
/// | `cossigner_requests_in_flight` | | signing and verifying requests being handled |
/// | `cossigner_registry_reloads_total` | `outcome` | SIGHUP reloads: `loaded`, `refused` |
/// | `cossigner_registry_generation` | | the registry generation in use (1 at start) |
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let requests = NIOLockedValueBox<[String: Counter]>([:])
    private let refusals = NIOLockedValueBox<[String: Counter]>([:])
    private let signDurations = NIOLockedValueBox<[String: DurationHistogram]>([:])
    private let verifyDurations = NIOLockedValueBox<[String: DurationHistogram]>([:])
    private let countersIssued: Counter
    private let inFlight: Gauge
    private let reloadsLoaded: Counter
    private let reloadsRefused: Counter
    private let generation: Gauge

    /// Buckets from 100 µs to 10 s.
    static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    public init() {
        countersIssued = registry.makeCounter(descriptor: Self.name("counters_issued", "total", "RequestID counters set by the server's counter policy"))
        inFlight = registry.makeGauge(descriptor: Self.name("requests_in_flight", "", "Signing and verifying requests being handled"))
        let reloads = Self.name("registry_reloads", "total", "Registry reloads (SIGHUP) by outcome")
        reloadsLoaded = registry.makeCounter(descriptor: reloads, labels: [("outcome", "loaded")])
        reloadsRefused = registry.makeCounter(descriptor: reloads, labels: [("outcome", "refused")])
        generation = registry.makeGauge(descriptor: Self.name("registry_generation", "", "The registry generation in use (1 at start)"))
        generation.set(Int64(1))
        for kind in ["input", "credentials", "selectionRefused", "signatureInvalid", "unavailable", "notAllowed"] {
            refusal(kind, count: 0)
        }
    }

    /// A signing or verifying request started, and ended.
    public func workStarted() { inFlight.increment(by: 1) }
    public func workEnded() { inFlight.decrement(by: 1) }

    /// One request answered.
    public func request(route: String, status: Int) {
        let key = route + " " + String(status)
        let counter = requests.withLockedValue { counters in
            if let counter = counters[key] { return counter }
            let counter = registry.makeCounter(descriptor: Self.name("http_requests", "total", "HTTP requests answered, by route and status"),
                                               labels: [("route", route), ("status", String(status))])
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    /// A request refused, by kind.
    public func refusal(_ kind: String, count: Int = 1) {
        let counter = refusals.withLockedValue { counters in
            if let counter = counters[kind] { return counter }
            let counter = registry.makeCounter(descriptor: Self.name("refusals", "total", "Requests refused, by kind"), labels: [("kind", kind)])
            counters[kind] = counter
            return counter
        }
        counter.increment(by: Int64(count))
    }

    /// The time one signature took.
    public func signed(route: String, duration: Duration, counterIssued: Bool) {
        histogram(signDurations, Self.name("sign_duration", "seconds", "Time to sign one request"), route).record(duration)
        if counterIssued { countersIssued.increment() }
    }

    /// The time one verification took.
    public func verified(route: String, duration: Duration) {
        histogram(verifyDurations, Self.name("verify_duration", "seconds", "Time to verify one document"), route).record(duration)
    }

    /// A reload's outcome.
    public func reload(loaded: Bool, generation number: Int) {
        if loaded {
            reloadsLoaded.increment()
            generation.set(Int64(number))
        } else {
            reloadsRefused.increment()
        }
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "cossigner", metricName: metric, unitName: unit, helpText: help)
    }

    private func histogram(_ box: NIOLockedValueBox<[String: DurationHistogram]>, _ descriptor: MetricNameDescriptor,
                           _ route: String) -> DurationHistogram {
        box.withLockedValue { histograms in
            if let histogram = histograms[route] { return histogram }
            let histogram = registry.makeDurationHistogram(descriptor: descriptor, labels: [("route", route)], buckets: Self.buckets)
            histograms[route] = histogram
            return histogram
        }
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}
