#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A client of the service, as a drill sees it: every few milliseconds a TCP connect, an
/// HTTP GET or a UDP echo (`tandem echo` answers with its node's name), each with a short
/// timeout, on a thread of its own (the agent's event loop never waits for it). Every
/// attempt is kept: when, whether it was answered, and by whom when the answer says.
public final class DrillProbe: Sendable {
    public enum Target: Sendable, Equatable, CustomStringConvertible {
        case tcp(host: String, port: UInt16)
        case http(host: String, port: UInt16, path: String)
        case udp(host: String, port: UInt16)

        /// `tcp://HOST:PORT`, `http://HOST:PORT/PATH` or `udp://HOST:PORT` (IPv4 literals or names).
        public init(parsing text: String) throws(AgentError) {
            let schemes = ["tcp://", "http://", "udp://"]
            guard let scheme = schemes.first(where: { text.hasPrefix($0) }) else {
                throw AgentError("the probe must be tcp://HOST:PORT, http://HOST:PORT/PATH or udp://HOST:PORT, got \(text.debugDescription)")
            }
            var rest = Substring(text.dropFirst(scheme.count))
            var path = "/"
            if let slash = rest.firstIndex(of: "/") {
                path = String(rest[slash...])
                rest = rest[..<slash]
            }
            guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]), port > 0 else {
                throw AgentError("the probe \(text.debugDescription) needs a port (\(scheme)HOST:PORT)")
            }
            let host = String(rest[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            guard !host.isEmpty else { throw AgentError("the probe \(text.debugDescription) names no host") }
            switch scheme {
            case "tcp://": self = .tcp(host: host, port: port)
            case "http://": self = .http(host: host, port: port, path: path)
            default: self = .udp(host: host, port: port)
            }
        }

        public var description: String {
            switch self {
            case .tcp(let host, let port): "tcp://\(host):\(port)"
            case .http(let host, let port, let path): "http://\(host):\(port)\(path)"
            case .udp(let host, let port): "udp://\(host):\(port)"
            }
        }
    }

    /// One attempt: when it was made (wall clock, ms), whether it was answered in time, and
    /// who answered (UDP echo) or what (HTTP status).
    public struct Sample: Codable, Sendable, Equatable {
        public var at: Int64
        public var ok: Bool
        public var detail: String?
    }

    let target: Target
    let interval: Duration
    let timeout: Duration
    let stopped = Mutex(false)
    let results = Mutex<[Sample]>([])
    let finished = Mutex<CheckedContinuation<Void, Never>?>(nil)
    let done = Mutex(false)
    let lastAnswer = Mutex<Int64?>(nil)

    /// When the service last answered (wall clock, ms), while the probe runs.
    public var lastAnswered: Int64? { lastAnswer.withLock { $0 } }

    /// `timeout`: for each TCP connect or HTTP answer (a silent service costs one timeout
    /// per attempt, so it bounds the resolution there), and for a UDP answer to count.
    public init(_ target: Target, interval: Duration = .milliseconds(5), timeout: Duration = .milliseconds(100)) {
        self.target = target
        self.interval = interval
        self.timeout = timeout
    }

    /// Starts probing on a thread of its own.
    public func start() {
        let thread = Thread { [self] in
            if case .udp(let host, let port) = target {
                udp(host, port)
            } else {
                serial()
            }
            let waiter = finished.withLock { f -> CheckedContinuation<Void, Never>? in
                done.withLock { $0 = true }
                defer { f = nil }
                return f
            }
            waiter?.resume()
        }
        thread.start()
    }

    static func wallMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// UDP: a datagram every interval without waiting for answers (so an outage is measured
    /// to the interval, not to the timeout); each carries its sequence number, which the echo
    /// sends back after the answering node's name. An attempt counts as answered when its
    /// answer came within `timeout`.
    func udp(_ host: String, _ port: UInt16) {
        guard let fd = connect(host, port, SOCK_DGRAM) else {
            results.withLock { $0.append(Sample(at: Self.wallMilliseconds(), ok: false, detail: "no socket for \(host):\(port)")) }
            return
        }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let step = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        let limit = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        var sentAt: [(wall: Int64, mono: Double)] = []
        var answers: [Int: String] = [:]
        var buffer = [UInt8](repeating: 0, count: 2048)
        var next = Self.monotonic()
        var stopAt: Double?
        while true {
            let now = Self.monotonic()
            if stopAt == nil, stopped.withLock({ $0 }) { stopAt = now + limit }
            if let stopAt, now >= stopAt { break }
            if stopAt == nil, now >= next {
                var sequence = UInt64(sentAt.count).bigEndian
                _ = withUnsafeBytes(of: &sequence) { Glibc.send(fd, $0.baseAddress, 8, 0) }
                sentAt.append((Self.wallMilliseconds(), now))
                next += step
                if next < now { next = now + step }
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let wait = max(0, Int32(((min(next, stopAt ?? next) - Self.monotonic()) * 1000).rounded(.down)))
            if poll(&pfd, 1, wait) > 0 {
                while true {
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n <= 0 { break }
                    // "NAME " + the 8 bytes sent.
                    guard n >= 9, let space = buffer[0..<n].firstIndex(of: 32), n - space - 1 == 8 else { continue }
                    var sequence: UInt64 = 0
                    for byte in buffer[(space + 1)..<n] { sequence = sequence << 8 | UInt64(byte) }
                    // Any datagram may arrive here: only a sequence number this probe sent counts.
                    guard sequence < UInt64(sentAt.count) else { continue }
                    let index = Int(sequence)
                    guard Self.monotonic() - sentAt[index].mono <= limit else { continue }
                    answers[index] = String(decoding: buffer[0..<space], as: UTF8.self)
                    lastAnswer.withLock { $0 = Self.wallMilliseconds() }
                }
            }
        }
        let samples = sentAt.indices.map { i in
            Sample(at: sentAt[i].wall, ok: answers[i] != nil, detail: answers[i] ?? "no answer within \(timeout)")
        }
        results.withLock { $0 = samples }
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// TCP and HTTP: one attempt after another (a connection each), each bounded by `timeout`.
    func serial() {
        var next = Date()
            while !stopped.withLock({ $0 }) {
                let at = Self.wallMilliseconds()
                let (ok, detail) = attempt()
                results.withLock { $0.append(Sample(at: at, ok: ok, detail: detail)) }
                if ok { lastAnswer.withLock { $0 = Self.wallMilliseconds() } }
                next = next.addingTimeInterval(Double(interval.components.attoseconds) / 1e18 + Double(interval.components.seconds))
                let wait = next.timeIntervalSinceNow
                if wait > 0 { usleep(useconds_t(wait * 1_000_000)) } else { next = Date() }
            }
    }

    /// Stops probing and returns every attempt, in order.
    public func stop() async -> [Sample] {
        stopped.withLock { $0 = true }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let already = finished.withLock { f -> Bool in
                if done.withLock({ $0 }) { return true }
                f = continuation
                return false
            }
            if already { continuation.resume() }
        }
        return results.withLock { $0 }
    }

    /// One attempt, bounded by `timeout`.
    func attempt() -> (Bool, String?) {
        switch target {
        case .tcp(let host, let port):
            guard let fd = connect(host, port, SOCK_STREAM) else { return (false, "no connection") }
            close(fd)
            return (true, nil)
        case .http(let host, let port, let path):
            guard let fd = connect(host, port, SOCK_STREAM) else { return (false, "no connection") }
            defer { close(fd) }
            let request = Array("GET \(path) HTTP/1.0\r\nHost: \(host):\(port)\r\nUser-Agent: tandem-drill\r\n\r\n".utf8)
            guard Glibc.send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return (false, "send failed") }
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 12 else { return (false, n == 0 ? "closed without an answer" : "no answer in time") }
            let line = String(decoding: buffer[0..<n], as: UTF8.self).prefix { $0 != "\r" }
            let status = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return ((200..<400).contains(status), "HTTP \(status)")
        case .udp:
            return (false, "probed by udp(_:_:)")
        }
    }

    /// A socket connected to `host:port` with `timeout` on connect, send and receive.
    func connect(_ host: String, _ port: UInt16, _ type: __socket_type) -> Int32? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(type.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else { return nil }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        let (seconds, attoseconds) = timeout.components
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }
}
