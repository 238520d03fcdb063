import Glibc
import TandemConfig
import TandemCore
import Testing
@testable import TandemResources

@Suite struct CheckTests {
    @Test func execCheckPassesOnExitZeroAndSaysWhyOtherwise() async {
        #expect(await runCheck(.exec(command: "exit 0"), timeout: .seconds(5)) == .ok)
        let failed = await runCheck(.exec(command: "echo queue stuck; exit 1"), timeout: .seconds(5))
        #expect(failed == .failed("exec `echo queue stuck; exit 1`: exit 1: queue stuck"))
        let slow = await runCheck(.exec(command: "sleep 30"), timeout: .milliseconds(100))
        #expect(slow == .failed("exec `sleep 30`: timed out after 100ms (process group killed)"))
    }

    @Test func tcpCheckAgainstAListenerAndAClosedPort() async {
        let server = TinyServer()
        defer { server.close() }
        #expect(await runCheck(.tcp(Endpoint(host: "127.0.0.1", port: server.port)), timeout: .seconds(2)) == .ok)
        let port = closedPort()
        #expect(await runCheck(.tcp(Endpoint(host: "127.0.0.1", port: port)), timeout: .seconds(2))
            == .failed("tcp 127.0.0.1:\(port): connection refused"))
    }

    @Test func httpCheckJudgesStatusAndBody() async {
        let server = TinyServer { request in
            if request.hasPrefix("GET /health HTTP/1.1\r\n") && request.contains("Connection: close") {
                return "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n\r\nstatus: ready\n"
            }
            if request.hasPrefix("GET /chunked ") {
                return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nstatu\r\n9\r\ns: ready\n\r\n0\r\n\r\n"
            }
            return "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
        }
        defer { server.close() }
        let base = "http://127.0.0.1:\(server.port)"
        #expect(await runCheck(.http(url: "\(base)/health", status: 200, body: nil), timeout: .seconds(2)) == .ok)
        #expect(await runCheck(.http(url: "\(base)/health", status: 200, body: "ready"), timeout: .seconds(2)) == .ok)
        #expect(await runCheck(.http(url: "\(base)/chunked", status: 200, body: "status: ready"), timeout: .seconds(2)) == .ok)
        #expect(await runCheck(.http(url: "\(base)/health", status: 200, body: "leader"), timeout: .seconds(2))
            == .failed("http \(base)/health: status 200 but the body does not contain \"leader\""))
        #expect(await runCheck(.http(url: "\(base)/other", status: 200, body: nil), timeout: .seconds(2))
            == .failed("http \(base)/other: status 503, expected 200"))
        let port = closedPort()
        #expect(await runCheck(.http(url: "http://127.0.0.1:\(port)/", status: 200, body: nil), timeout: .seconds(2))
            == .failed("http http://127.0.0.1:\(port)/: connection refused"))
    }

    @Test func httpCheckTimesOutOnAServerThatNeverAnswers() async {
        let server = TinyServer()  // listens, never accepts: the connect succeeds, no answer comes
        defer { server.close() }
        let start = ContinuousClock.now
        let outcome = await runCheck(.http(url: "http://127.0.0.1:\(server.port)/", status: 200, body: nil), timeout: .milliseconds(300))
        #expect(outcome == .failed("http http://127.0.0.1:\(server.port)/: no complete answer within 300ms"))
        #expect(ContinuousClock.now - start < .seconds(10))  // ended by its 300ms timeout, not hanging
    }

    @Test func httpURLsAreTakenApart() throws {
        try #expect(HTTPTarget.parse("http://[::1]:8080/x?y=1").get() == HTTPTarget(host: "::1", port: 8080, path: "/x?y=1", authority: "[::1]:8080"))
        try #expect(HTTPTarget.parse("http://example.org").get() == HTTPTarget(host: "example.org", port: 80, path: "/", authority: "example.org"))
        #expect(throws: HTTPCheckError.self) { try HTTPTarget.parse("https://example.org/").get() }
        #expect(throws: HTTPCheckError.self) { try HTTPTarget.parse("http://host:99999/").get() }
    }

    @Test func interfaceCheckOnLoopbackAndAMissingDevice() async {
        #expect(await runCheck(.interface(device: "lo"), timeout: .seconds(1)) == .ok)
        #expect(await runCheck(.interface(device: "nosuch0"), timeout: .seconds(1)) == .failed("interface nosuch0: no such interface"))
    }

    @Test func interfaceCheckReadsOperstateAndCarrier() {
        let dir = TempDir()
        defer { dir.remove() }
        mkdir(dir.file("eth9"), 0o755)
        dir.write("eth9/operstate", "down\n")
        #expect(interfaceCheck(device: "eth9", sysfs: dir.path) == "operstate down")
        dir.write("eth9/operstate", "up\n")
        dir.write("eth9/carrier", "0\n")
        #expect(interfaceCheck(device: "eth9", sysfs: dir.path) == "no carrier (cable or peer down)")
        dir.write("eth9/carrier", "1\n")
        #expect(interfaceCheck(device: "eth9", sysfs: dir.path) == nil)
    }

    @Test func diskCheckWritesAndComparesFreeSpaceToTheFloor() async {
        let dir = TempDir()
        defer { dir.remove() }
        #expect(await runCheck(.disk(path: dir.path, minFreeBytes: 1), timeout: .seconds(5)) == .ok)
        #expect(await runShell("ls -A \(dir.path)", timeout: .seconds(5)).output == "")  // the probe file is gone
        let tooMuch = await runCheck(.disk(path: dir.path, minFreeBytes: 1 << 60), timeout: .seconds(5))
        guard case .failed(let why) = tooMuch else {
            Issue.record("expected a failure, got \(tooMuch)")
            return
        }
        #expect(why.hasPrefix("disk \(dir.path): ") && why.contains("below the floor of 1024.0 PiB"))
        #expect(await runCheck(.disk(path: dir.file("missing"), minFreeBytes: 1), timeout: .seconds(5))
            == .failed("disk \(dir.file("missing")): cannot create a file: No such file or directory"))
    }

    @Test func upstreamCheckPingsAHostOrConnectsToAPort() async {
        #expect(await runCheck(.upstream(host: "127.0.0.1", port: nil), timeout: .seconds(2)) == .ok)
        #expect(await runCheck(.upstream(host: "::1", port: nil), timeout: .seconds(2)) == .ok)
        let server = TinyServer()
        defer { server.close() }
        #expect(await runCheck(.upstream(host: "127.0.0.1", port: server.port), timeout: .seconds(2)) == .ok)
        let unknown = await runCheck(.upstream(host: "no-such-host.invalid", port: nil), timeout: .seconds(1))
        #expect(unknown != .ok)
        // A silent address is tested in a network namespace (VIPTests): outside one, what answers
        // depends on the machine's network.
    }

    @Test(.enabled(if: getuid() == 0, "raw ICMP sockets need root"))
    func icmpEchoGetsAReply() {
        guard case .reply = icmpEcho(host: "127.0.0.1", timeout: .seconds(1)) else {
            Issue.record("no echo reply from 127.0.0.1")
            return
        }
    }

    @Test func checksumMatchesRFC1071Example() {
        // RFC 1071 §3: 0001 f203 f4f5 f6f7 sums to ddf2; the checksum is its complement.
        #expect(internetChecksum([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]) == ~UInt16(0xddf2))
    }
}
