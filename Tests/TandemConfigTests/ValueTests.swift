import Testing
import TandemCore
@testable import TandemConfig

/// The message of the `ValueError` that `body` throws, or nil when it does not throw.
private func message<T>(_ body: () throws(ValueError) -> T) -> String? {
    do {
        _ = try body()
        return nil
    } catch {
        return error.message
    }
}

// MARK: - Durations

@Test func test_duration_units() throws {
    #expect(try Values.duration("500ms") == .milliseconds(500))
    #expect(try Values.duration("1.5s") == .milliseconds(1500))
    #expect(try Values.duration("5m") == .seconds(300))
    #expect(try Values.duration("1h") == .seconds(3600))
    #expect(try Values.duration("0.25ms") == .microseconds(250))
    #expect(try Values.duration("2.5m") == .seconds(150))
    #expect(try Values.duration(" 10 s ") == .seconds(10))
    #expect(try Values.duration("0s") == .zero)
    #expect(try Values.duration("0.0000000001s") == .zero)  // below a nanosecond
}

@Test func test_duration_refusals() {
    #expect(message { () throws(ValueError) in try Values.duration("10") }?.contains("has no unit; add one: 10ms, 10s, 10m or 10h") == true)
    #expect(message { () throws(ValueError) in try Values.duration("1.5") }?.contains("1.5s") == true)
    #expect(message { () throws(ValueError) in try Values.duration("10sec") }?.contains("unknown duration unit 'sec'") == true)
    #expect(message { () throws(ValueError) in try Values.duration("-1s") }?.contains("is not a duration") == true)
    #expect(message { () throws(ValueError) in try Values.duration("1.s") } != nil)
    #expect(message { () throws(ValueError) in try Values.duration(".5s") } != nil)
    #expect(message { () throws(ValueError) in try Values.duration("1..5s") } != nil)
    #expect(message { () throws(ValueError) in try Values.duration("ms") } != nil)
    #expect(message { () throws(ValueError) in try Values.duration("99999999999999h") }?.contains("too long") == true)
}

@Test func test_duration_format() {
    #expect(Values.format(.milliseconds(500)) == "500ms")
    #expect(Values.format(.milliseconds(1500)) == "1.5s")
    #expect(Values.format(.seconds(2)) == "2s")
    #expect(Values.format(.seconds(90)) == "90s")
    #expect(Values.format(.seconds(300)) == "5m")
    #expect(Values.format(.seconds(7200)) == "2h")
    #expect(Values.format(.microseconds(250)) == "0.25ms")
    #expect(Values.format(.zero) == "0ms")
}

// MARK: - Sizes

@Test func test_size_units() throws {
    #expect(try Values.size("512B") == 512)
    #expect(try Values.size("1KB") == 1000)
    #expect(try Values.size("1.5KB") == 1500)
    #expect(try Values.size("10MB") == 10_000_000)
    #expect(try Values.size("1GB") == 1_000_000_000)
    #expect(try Values.size("2TB") == 2_000_000_000_000)
    #expect(try Values.size("1KiB") == 1024)
    #expect(try Values.size("1MiB") == 1 << 20)
    #expect(try Values.size("1GiB") == 1 << 30)
    #expect(try Values.size("0.5GiB") == 1 << 29)
    #expect(try Values.size("1 GB") == 1_000_000_000)
}

@Test func test_size_refusals() {
    #expect(message { () throws(ValueError) in try Values.size("1000") }?.contains("has no unit") == true)
    #expect(message { () throws(ValueError) in try Values.size("1gb") }?.contains("unknown size unit 'gb'") == true)
    #expect(message { () throws(ValueError) in try Values.size("lots") }?.contains("is not a size") == true)
    #expect(message { () throws(ValueError) in try Values.size("99999999999TiB") }?.contains("too large") == true)
}

// MARK: - Addresses

@Test(arguments: ["::", "::1", "fd00::100", "2001:db8:0:0:0:0:0:1", "2001:DB8::1", "::ffff:10.0.0.1",
                  "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "fe80::1:2"])
func test_ipv6_valid(_ text: String) {
    #expect(Values.isIPv6(text))
    #expect(!Values.isIPv4(text))
}

@Test(arguments: [":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "1:2:3:4:5:6:7::8", "1:2:3:4:5:6:7",
                  "fe80::1%eth0", "::1.2.3", ":1::", "1.2.3.4", ""])
func test_ipv6_invalid(_ text: String) {
    #expect(!Values.isIPv6(text))
}

@Test func test_ipv4() {
    #expect(Values.isIPv4("10.0.0.1"))
    #expect(Values.isIPv4("255.255.255.255"))
    #expect(Values.isIPv4("0.0.0.0"))
    #expect(!Values.isIPv4("10.0.0.256"))
    #expect(!Values.isIPv4("10.0.0"))
    #expect(!Values.isIPv4("010.0.0.1"))
    #expect(!Values.isIPv4("10.0.0.1.2"))
    #expect(!Values.isIPv4("a.b.c.d"))
}

@Test func test_hostNames() {
    #expect(Values.isHostName("localhost"))
    #expect(Values.isHostName("node-a.example.net"))
    #expect(Values.isHostName("node-a.example.net."))
    #expect(!Values.isHostName("-a.example"))
    #expect(!Values.isHostName("a..b"))
    #expect(!Values.isHostName("bad_name"))
    #expect(!Values.isHostName("10.0.0.300"))
}

@Test func test_endpoints() throws {
    #expect(try Values.endpoint("10.0.0.1:7400", hosts: .bindableAddress) == Endpoint(host: "10.0.0.1", port: 7400))
    #expect(try Values.endpoint("[fd00::1]:7400", hosts: .bindableAddress) == Endpoint(host: "fd00::1", port: 7400))
    #expect(try Values.endpoint("[::ffff:10.0.0.1]:1", hosts: .bindableAddress) == Endpoint(host: "::ffff:10.0.0.1", port: 1))
    #expect(try Values.endpoint("api.example:65535", hosts: .addressOrName) == Endpoint(host: "api.example", port: 65535))
    #expect(Endpoint(host: "fd00::1", port: 7400).description == "[fd00::1]:7400")
    let refusals: [(String, Values.HostRule, String)] = [
        ("host:7400", .bindableAddress, "must be IP literals"),
        ("[fd00::1]", .bindableAddress, "has no port"),
        ("[fd00::1:7400", .bindableAddress, "without ']'"),
        ("[10.0.0.1]:7400", .bindableAddress, "brackets are only for IPv6"),
        ("[fd00::1]7400", .bindableAddress, "':PORT'"),
        ("fd00::1", .addressOrName, "brackets"),
        (":7400", .addressOrName, "no host"),
        ("10.0.0.1:+80", .addressOrName, "not a port"),
        ("10.0.0.1:65536", .addressOrName, "not a port"),
        ("0.0.0.0:1", .bindableAddress, "unspecified"),
    ]
    for (text, rule, expected) in refusals {
        let found = message { () throws(ValueError) in try Values.endpoint(text, hosts: rule) }
        #expect(found?.contains(expected) == true, "\(text): \(found ?? "accepted")")
    }
}

// MARK: - VIPs, devices, URLs

@Test func test_vips() throws {
    #expect(try Values.vip("10.0.0.100/24 dev eth0")
        == VIPSpec(address: "10.0.0.100", prefixLength: 24, device: "eth0", isIPv6: false))
    #expect(try Values.vip("fd00::100/64 dev eth0")
        == VIPSpec(address: "fd00::100", prefixLength: 64, device: "eth0", isIPv6: true))
    #expect(try Values.vip("10.0.0.100/32  dev  bond0.100")
        == VIPSpec(address: "10.0.0.100", prefixLength: 32, device: "bond0.100", isIPv6: false))
    #expect(try Values.vip("2001:db8::1/128 dev enp3s0f1").prefixLength == 128)
    #expect(try Values.vip("10.0.0.1/0 dev eth0").prefixLength == 0)
    #expect(message { () throws(ValueError) in try Values.vip("10.0.0.1/-1 dev eth0") }?.contains("0 to 32") == true)
    #expect(message { () throws(ValueError) in try Values.vip("10.0.0.1/ dev eth0") }?.contains("0 to 32") == true)
    #expect(message { () throws(ValueError) in try Values.vip("host/24 dev eth0") }?.contains("not an IPv4 or IPv6") == true)
}

@Test func test_devices() throws {
    #expect(try Values.device("eth0") == "eth0")
    #expect(try Values.device("a23456789012345") == "a23456789012345")
    #expect(message { () throws(ValueError) in try Values.device("a234567890123456") }?.contains("at most 15") == true)
    #expect(message { () throws(ValueError) in try Values.device("eth/0") } != nil)
    #expect(message { () throws(ValueError) in try Values.device("..") } != nil)
    #expect(message { () throws(ValueError) in try Values.device("") } != nil)
}

@Test func test_httpURLs() throws {
    #expect(try Values.httpURL("http://127.0.0.1:8080/health") == "http://127.0.0.1:8080/health")
    #expect(try Values.httpURL("http://localhost") == "http://localhost")
    #expect(try Values.httpURL("http://[fd00::1]:80/x?y=1") == "http://[fd00::1]:80/x?y=1")
    #expect(message { () throws(ValueError) in try Values.httpURL("HTTPS://x/") }?.contains("TLS") == true)
    #expect(message { () throws(ValueError) in try Values.httpURL("http://u:p@x/") }?.contains("credentials") == true)
    #expect(message { () throws(ValueError) in try Values.httpURL("http://x/a b") }?.contains("white space") == true)
}

@Test func test_failbackAndUpstream() throws {
    #expect(try FileParser.failback("manual") == .manual)
    #expect(try FileParser.failback("auto after 5m") == .auto(holdDown: .seconds(300)))
    #expect(try FileParser.failback("auto  after 1.5s") == .auto(holdDown: .milliseconds(1500)))
    #expect(try FileParser.upstream("10.0.0.254") == ("10.0.0.254", nil))
    #expect(try FileParser.upstream("10.0.0.254:443") == ("10.0.0.254", 443))
    #expect(try FileParser.upstream("gw.example") == ("gw.example", nil))
    #expect(try FileParser.upstream("[fd00::1]:443") == ("fd00::1", 443))
    #expect(try FileParser.upstream("fd00::1") == ("fd00::1", nil))
}

// MARK: - Suggestions

@Test func test_suggestions() {
    #expect(Suggestion.distance("prefered", "prefer") == 2)
    #expect(Suggestion.distance("", "abc") == 3)
    #expect(Suggestion.nearest(to: "prefered", among: FileParser.groupKeys) == "prefer")
    #expect(Suggestion.nearest(to: "anti-affinity", among: FileParser.groupKeys) == "anti_affinity")
    #expect(Suggestion.nearest(to: "Checks", among: FileParser.groupKeys) == "checks")
    #expect(Suggestion.nearest(to: "colour", among: FileParser.topKeys) == nil)
    #expect(Suggestion.nearest(to: "keyfile", among: FileParser.topKeys) == "key_file")
}
