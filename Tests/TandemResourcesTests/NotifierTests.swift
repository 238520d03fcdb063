import Foundation
import Synchronization
import TandemConfig
import TandemCore
import Testing
@testable import TandemResources

#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP server on loopback for webhook tests: answers each request with the next
/// status of `statuses` (then 200), and records the bodies in order.
final class HookServer: Sendable {
    let port: Int
    let fd: Int32
    let received = Mutex<[(status: Int, body: String)]>([])
    let statuses: Mutex<[Int]>

    init(statuses: [Int]) throws {
        self.statuses = Mutex(statuses)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw TestFailure("cannot listen: \(String(cString: strerror(errno)))") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    private func serve() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { return }
            var data = [UInt8]()
            var chunk = [UInt8](repeating: 0, count: 4096)
            // Read the head, then Content-Length bytes of body.
            while true {
                let n = recv(client, &chunk, chunk.count, 0)
                if n <= 0 { break }
                data += chunk[0..<n]
                let text = String(decoding: data, as: UTF8.self)
                guard let split = text.range(of: "\r\n\r\n") else { continue }
                let head = text[..<split.lowerBound].lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if text.utf8.count - text.utf8.distance(from: text.startIndex, to: split.upperBound) >= length { break }
            }
            let text = String(decoding: data, as: UTF8.self)
            let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
            let status = statuses.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
            received.withLock { $0.append((status, body)) }
            let answer = "HTTP/1.1 \(status) X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            _ = answer.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            close(client)
        }
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite struct NotifierTests {
    func event(_ kind: Event.Kind, _ reason: String, group: GroupID? = "voice") -> Event {
        Event(kind: kind, node: "a", term: 4, group: group, epoch: group == nil ? nil : 7, reason: reason, evidence: "ev")
    }

    @Test func webhookDeliversInOrderRetryingServerErrors() async throws {
        // The first attempt of the first event fails twice (503, 500): it is retried and still
        // arrives before the second event.
        let server = try HookServer(statuses: [503, 500])
        let notifiers = Notifiers(
            specs: [.webhook(WebhookSpec(url: "http://127.0.0.1:\(server.port)/hook", timeout: .seconds(2), retries: 3))],
            cluster: "pbx", node: "a", logger: testLogger)
        notifiers.send(event(.activated, "first"), wallMilliseconds: 1_764_318_682_932)
        notifiers.send(event(.alarmRaisedForTest, "major alarm x: second", group: nil), wallMilliseconds: 1_764_318_683_000)
        let deadline = ContinuousClock.now + .seconds(10)
        while server.received.withLock({ $0.count }) < 4, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let received = server.received.withLock { $0 }
        #expect(received.map(\.status) == [503, 500, 200, 200])
        let first = try JSONSerialization.jsonObject(with: Data(received[2].body.utf8)) as? [String: Any]
        #expect(first?["reason"] as? String == "first")
        #expect(first?["cluster"] as? String == "pbx")
        #expect(first?["group"] as? String == "voice")
        #expect(first?["epoch"] as? Int == 7)
        #expect(first?["time"] as? String == "2025-11-28T08:31:22.932Z")
        #expect(received[3].body.contains("\"reason\":\"major alarm x: second\""))
        #expect(!received[3].body.contains("\"group\""))
        await notifiers.shutdown(within: .seconds(2))
        #expect(notifiers.webhooks[0].counts == (delivered: 2, failed: 0, dropped: 0))
    }

    @Test func webhookDoesNotRetryAClientErrorAndGivesUpAfterItsRetries() async throws {
        let server = try HookServer(statuses: [400, 503, 503])
        let notifiers = Notifiers(
            specs: [.webhook(WebhookSpec(url: "http://127.0.0.1:\(server.port)/", timeout: .seconds(2), retries: 1))],
            cluster: "pbx", node: "a", logger: testLogger)
        notifiers.send(event(.activated, "refused"))
        notifiers.send(event(.activated, "fails twice"))
        let deadline = ContinuousClock.now + .seconds(10)
        while notifiers.webhooks[0].counts.failed < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(server.received.withLock { $0.map(\.status) } == [400, 503, 503])
        #expect(notifiers.webhooks[0].counts == (delivered: 0, failed: 2, dropped: 0))
        await notifiers.shutdown(within: .seconds(1))
    }

    @Test func webhookToANodeThatDoesNotListenFailsWithoutBlockingTheSender() async throws {
        let notifiers = Notifiers(
            specs: [.webhook(WebhookSpec(url: "http://127.0.0.1:9/", timeout: .milliseconds(500), retries: 0))],
            cluster: "pbx", node: "a", logger: testLogger)
        let start = ContinuousClock.now
        for i in 0..<5 { notifiers.send(event(.activated, "n\(i)")) }
        #expect(ContinuousClock.now - start < .milliseconds(200))
        let deadline = ContinuousClock.now + .seconds(10)
        while notifiers.webhooks[0].counts.failed < 5, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(notifiers.webhooks[0].counts.failed == 5)
        await notifiers.shutdown(within: .seconds(1))
    }

    @Test func syslogSendsRFC3164LinesWithSeverityByKind() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let path = dir.file("log.sock")
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let notifiers = Notifiers(specs: [.syslog(SyslogSpec(facility: 16, socket: path))], cluster: "pbx", node: "a", logger: testLogger)
        notifiers.send(event(.activated, "owner of voice"))
        notifiers.send(Event(kind: .init("alarm_raised"), node: "a", term: 4, group: nil, epoch: nil, reason: "critical alarm quorum_lost: x", evidence: ""))
        var buffer = [UInt8](repeating: 0, count: 4096)
        var lines: [String] = []
        for _ in 0..<2 {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { lines.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
        }
        #expect(lines.count == 2)
        // local0 (16) * 8 + notice (5) = 133; + crit (2) = 130.
        #expect(lines.first?.hasPrefix("<133>") == true, "\(lines)")
        #expect(lines.first?.contains(" tandem[\(getpid())]: a activated term=4 group=voice epoch=7: owner of voice [ev]") == true, "\(lines)")
        #expect(lines.last?.hasPrefix("<130>") == true, "\(lines)")
        // "Nov 28 08:31:22": the month, the day padded with a space, the time.
        let stamp = lines.first.map { String($0.dropFirst(5).prefix(15)) } ?? ""
        #expect(stamp.range(of: #"^[A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]$"#, options: .regularExpression) != nil, "\(stamp)")
        // A socket nobody listens on: the notifier says so, the sender is not hurt.
        let missing = Syslog(spec: SyslogSpec(facility: 3, socket: dir.file("none.sock")))
        #expect(missing.send(event(.activated, "x"), node: "a")?.contains("cannot send to") == true)
    }
}

extension Event.Kind {
    static let alarmRaisedForTest = Event.Kind("alarm_raised")
}
