import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import TandemConfig
import TandemCore

#if canImport(Glibc)
import Glibc
#endif

/// Everyone who hears about events and alarms (`notify:` in the file): `exec` commands,
/// `webhook` POSTs and `syslog` lines. `send` never blocks; webhooks deliver in order from
/// a bounded queue each, with retries and back-off.
public final class Notifiers: Sendable {
    public let specs: [NotifierSpec]
    let cluster: String
    let node: NodeID
    let logger: Logger
    let webhooks: [Webhook]
    let syslogs: [Syslog]

    public init(specs: [NotifierSpec], cluster: String, node: NodeID, logger: Logger) {
        self.specs = specs
        self.cluster = cluster
        self.node = node
        self.logger = logger
        var webhooks: [Webhook] = []
        var syslogs: [Syslog] = []
        for spec in specs {
            switch spec {
            case .webhook(let webhook): webhooks.append(Webhook(spec: webhook, logger: logger))
            case .syslog(let syslog): syslogs.append(Syslog(spec: syslog))
            case .exec: break
            }
        }
        self.webhooks = webhooks
        self.syslogs = syslogs
    }

    /// Tells every notifier about `event`, recorded at `wallMilliseconds`.
    public func send(_ event: Event, wallMilliseconds: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) {
        let context = event.group.map { group in
            ResourceContext(group: group, role: event.kind.name, epoch: event.epoch ?? 0, node: node, reason: event.reason)
        }
        for spec in specs {
            if case .exec = spec {
                notify(spec, event: event.kind.name, message: event.description, node: node, context: context, logger: logger)
            }
        }
        if !webhooks.isEmpty {
            let body = Self.json(event, cluster: cluster, wallMilliseconds: wallMilliseconds)
            for webhook in webhooks { webhook.enqueue(body) }
        }
        for syslog in syslogs {
            if let problem = syslog.send(event, node: node) {
                logger.warning("syslog notifier: \(problem)")
            }
        }
    }

    /// Waits up to `limit` for the webhooks' queues to drain, then closes their client.
    public func shutdown(within limit: Duration) async {
        for webhook in webhooks { await webhook.drain(within: limit) }
    }

    /// The webhook body: the event with its cluster and time.
    static func json(_ event: Event, cluster: String, wallMilliseconds: Int64) -> [UInt8] {
        var object: [String: Any] = [
            "cluster": cluster, "node": event.node.name, "kind": event.kind.name, "term": event.term,
            "reason": event.reason, "evidence": event.evidence, "wallMilliseconds": wallMilliseconds,
            "time": ISO8601DateFormatter.withFractions.string(from: Date(timeIntervalSince1970: Double(wallMilliseconds) / 1000)),
        ]
        if let group = event.group { object["group"] = group.name }
        if let epoch = event.epoch { object["epoch"] = epoch }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let withFractions: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}

/// One webhook: a bounded queue (the oldest bodies are dropped when it is full, and
/// counted) drained by one task, so that events arrive in order. An attempt that fails to
/// connect, times out, or gets 408, 429 or 5xx is retried after 0.5 s, 1 s, 2 s, … (at most
/// 30 s); any other answer ends the delivery of that body (2xx: done; 4xx: logged).
final class Webhook: Sendable {
    static let queueLimit = 1000

    let spec: WebhookSpec
    let logger: Logger
    let state = Mutex(State())

    struct State {
        var queue: [[UInt8]] = []
        var running = false
        var dropped = 0
        var client: HTTPClient?
        var delivered = 0
        var failed = 0
    }

    init(spec: WebhookSpec, logger: Logger) {
        self.spec = spec
        self.logger = logger
    }

    /// Delivered and finally failed bodies so far (for tests and the log).
    var counts: (delivered: Int, failed: Int, dropped: Int) {
        state.withLock { ($0.delivered, $0.failed, $0.dropped) }
    }

    func enqueue(_ body: [UInt8]) {
        let start = state.withLock { s -> Bool in
            if s.queue.count >= Self.queueLimit {
                s.queue.removeFirst()
                s.dropped += 1
            }
            s.queue.append(body)
            if s.running { return false }
            s.running = true
            return true
        }
        if start { Task { await self.run() } }
    }

    private func run() async {
        let client = state.withLock { s -> HTTPClient in
            if let client = s.client { return client }
            // Made on first use: the guard process builds the same notifiers and never sends.
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            s.client = client
            return client
        }
        while let body = state.withLock({ s -> [UInt8]? in
            if s.queue.isEmpty {
                s.running = false
                return nil
            }
            return s.queue.removeFirst()
        }) {
            let ok = await deliver(body, with: client)
            state.withLock { ok ? ($0.delivered += 1) : ($0.failed += 1) }
        }
    }

    private func deliver(_ body: [UInt8], with client: HTTPClient) async -> Bool {
        var wait = Duration.milliseconds(500)
        for attempt in 0...spec.retries {
            if attempt > 0 {
                try? await Task.sleep(for: wait)
                wait = min(wait * 2, .seconds(30))
            }
            var request = HTTPClientRequest(url: spec.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "tandem")
            request.body = .bytes(ByteBuffer(bytes: body))
            let problem: String
            do {
                let response = try await client.execute(request, timeout: .nanoseconds(spec.timeout.nanoseconds))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                let status = Int(response.status.code)
                if (200..<300).contains(status) { return true }
                problem = "HTTP \(status)"
                if !(status == 408 || status == 429 || status >= 500) {
                    logger.error("webhook \(spec.url) refused an event with \(problem); not retried")
                    return false
                }
            } catch {
                problem = "\(error)"
            }
            if attempt == spec.retries {
                logger.error("webhook \(spec.url) failed \(spec.retries + 1) times (last: \(problem)); the event is dropped")
            } else {
                logger.warning("webhook \(spec.url): \(problem); retrying in \(wait)")
            }
        }
        return false
    }

    /// Waits until the queue is empty or `limit` passes, then shuts the client down.
    func drain(within limit: Duration) async {
        let end = ContinuousClock.now + limit
        while state.withLock({ $0.running }), ContinuousClock.now < end {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let client = state.withLock { s -> HTTPClient? in
            defer { s.client = nil }
            return s.client
        }
        try? await client?.shutdown()
    }
}

/// The local syslog socket (RFC 3164 lines over a Unix datagram socket).
final class Syslog: Sendable {
    let spec: SyslogSpec

    init(spec: SyslogSpec) {
        self.spec = spec
    }

    /// The syslog severity of an event: alarms by their severity, role changes notice,
    /// the rest info.
    static func severity(of event: Event) -> Int {
        switch event.kind.name {
        case "alarm_raised":
            if event.reason.hasPrefix("critical") { return 2 }
            if event.reason.hasPrefix("major") { return 3 }
            return 4
        case "stalled", "link_down", "fence": return 4
        case "alarm_cleared", "activated", "deactivated", "assigned", "leader", "stepped_down", "switchover", "operator":
            return 5
        default: return 6
        }
    }

    /// The line for `event`: `<PRI>Mmm dd hh:mm:ss tandem[PID]: node: event`.
    func line(_ event: Event, node: NodeID, at date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "MMM dd HH:mm:ss"
        var stamp = formatter.string(from: date)
        // RFC 3164 pads a one-digit day with a space, not a zero.
        if stamp.count > 5, stamp[stamp.index(stamp.startIndex, offsetBy: 4)] == "0" {
            stamp.replaceSubrange(stamp.index(stamp.startIndex, offsetBy: 4)...stamp.index(stamp.startIndex, offsetBy: 4), with: " ")
        }
        let text = event.description.replacingOccurrences(of: "\n", with: " ")
        return "<\(spec.facility * 8 + Self.severity(of: event))>\(stamp) tandem[\(getpid())]: \(text)"
    }

    /// Sends one line; returns what went wrong, if anything.
    func send(_ event: Event, node: NodeID) -> String? {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "socket: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(spec.socket.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { return "the socket path \(spec.socket) is too long" }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
            raw[path.count] = 0
        }
        let bytes = Array(line(event, node: node).utf8.prefix(8192))
        let sent = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL), $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return sent < 0 ? "cannot send to \(spec.socket): \(String(cString: strerror(errno)))" : nil
    }
}
