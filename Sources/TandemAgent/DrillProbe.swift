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

    public init(_ target: Target, interval: Duration = .milliseconds(5), timeout: Duration = .milliseconds(200)) {
        self.target = target
        self.interval = interval
        self.timeout = timeout
    }

    /// Starts probing on a thread of its own.
    public func start() {
        let thread = Thread { [self] in
            var next = Date()
            while !stopped.withLock({ $0 }) {
                let at = Int64(Date().timeIntervalSince1970 * 1000)
                let (ok, detail) = attempt()
                results.withLock { $0.append(Sample(at: at, ok: ok, detail: detail)) }
                next = next.addingTimeInterval(Double(interval.components.attoseconds) / 1e18 + Double(interval.components.seconds))
                let wait = next.timeIntervalSinceNow
                if wait > 0 { usleep(useconds_t(wait * 1_000_000)) } else { next = Date() }
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
        case .udp(let host, let port):
            guard let fd = connect(host, port, SOCK_DGRAM) else { return (false, "no socket") }
            defer { close(fd) }
            let payload: [UInt8] = Array("drill".utf8)
            guard Glibc.send(fd, payload, payload.count, 0) == payload.count else { return (false, "send failed") }
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return (false, "no answer in time") }
            let who = buffer[0..<n].firstIndex(of: 32).map { String(decoding: buffer[0..<$0], as: UTF8.self) }
            return (true, who)
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
