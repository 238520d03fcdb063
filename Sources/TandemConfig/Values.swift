import TandemCore

/// Why one scalar of the file could not be read: a message that says what is wrong and what
/// to write instead. The caller adds the key path and line.
struct ValueError: Error, Equatable {
    var message: String
    init(_ message: String) { self.message = message }
}

/// The parsers of the file's scalar values: durations, sizes, addresses, endpoints, virtual
/// IPs, device names and URLs. Each takes the text as written and either returns the value
/// or throws a `ValueError` whose message tells the operator what to write.
enum Values {
    // MARK: Durations

    /// The duration units, in nanoseconds.
    private static let durationUnits: [(name: String, nanoseconds: Int64)] = [
        ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000), ("d", 86_400_000_000_000),
    ]

    /// A duration such as `500ms`, `1.5s`, `5m`, `1h` or `7d`: a non-negative decimal number and a
    /// unit (`ms`, `s`, `m`, `h`, `d`). Plain numbers are refused, since the unit is easy to guess
    /// wrong. Digits beyond the nanosecond are dropped.
    static func duration(_ text: String) throws(ValueError) -> Duration {
        let (number, unit) = splitNumberAndUnit(text)
        let example = "such as 500ms, 1.5s, 5m or 1h"
        guard let decimal = Decimal(number) else {
            throw ValueError("'\(text)' is not a duration; write a number and a unit, \(example)")
        }
        guard !unit.isEmpty else {
            throw ValueError("the duration '\(text)' has no unit; add one: \(number)ms, \(number)s, \(number)m or \(number)h")
        }
        guard let scale = durationUnits.first(where: { $0.name == unit })?.nanoseconds else {
            throw ValueError("unknown duration unit '\(unit)' in '\(text)'; use ms, s, m, h or d, \(example)")
        }
        guard let nanoseconds = decimal.scaled(by: scale) else {
            throw ValueError("the duration '\(text)' is too long; use a smaller value")
        }
        return .nanoseconds(nanoseconds)
    }

    /// A duration as the file would write it: "1h", "5m", "1.5s", "500ms", "0.25ms".
    static func format(_ duration: Duration) -> String {
        let nanoseconds = duration.attoseconds / 1_000_000_000
        for (name, scale) in durationUnits.reversed() where scale >= 1_000_000_000 {
            let scale = Int128(scale)
            if nanoseconds != 0, nanoseconds % scale == 0 { return "\(nanoseconds / scale)\(name)" }
        }
        if nanoseconds >= 1_000_000_000, nanoseconds % 1_000_000 == 0 {
            return decimalText(nanoseconds, per: 1_000_000_000) + "s"
        }
        return decimalText(nanoseconds, per: 1_000_000) + "ms"
    }

    /// `value / per` as a decimal without trailing zeros ("1.5", "250").
    private static func decimalText(_ value: Int128, per: Int128) -> String {
        let sign = value < 0 ? "-" : ""
        let magnitude = value.magnitude
        let whole = magnitude / UInt128(per)
        var fraction = String(magnitude % UInt128(per))
        let width = String(per).count - 1
        fraction = String(repeating: "0", count: width - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
    }

    // MARK: Sizes

    /// The size units, in bytes.
    private static let sizeUnits: [(name: String, bytes: Int64)] = [
        ("B", 1), ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
    ]

    /// A size such as `1GB`, `512MiB` or `1.5GB`: a non-negative decimal number and a unit
    /// (`B`, `KB`, `MB`, `GB`, `TB`, `KiB`, `MiB`, `GiB`, `TiB`; case matters). Plain numbers
    /// are refused. Fractions of a byte are dropped.
    static func size(_ text: String) throws(ValueError) -> UInt64 {
        let (number, unit) = splitNumberAndUnit(text)
        let units = "B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
        guard let decimal = Decimal(number) else {
            throw ValueError("'\(text)' is not a size; write a number and a unit, such as 500MB or 1GiB")
        }
        guard !unit.isEmpty else {
            throw ValueError("the size '\(text)' has no unit; add one, such as \(number)B, \(number)MB or \(number)GB (units: \(units))")
        }
        guard let scale = sizeUnits.first(where: { $0.name == unit })?.bytes else {
            throw ValueError("unknown size unit '\(unit)' in '\(text)'; use \(units)")
        }
        guard let bytes = decimal.scaled(by: scale) else {
            throw ValueError("the size '\(text)' is too large; use a smaller value")
        }
        return UInt64(bytes)
    }

    /// The leading run of digits and dots, and the rest without surrounding spaces.
    private static func splitNumberAndUnit(_ text: String) -> (number: String, unit: String) {
        let trimmed = text.trimmingSpaces
        let end = trimmed.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? trimmed.endIndex
        return (String(trimmed[..<end]), String(trimmed[end...]).trimmingSpaces)
    }

    // MARK: Integers and flags

    /// A decimal integer, with an optional sign.
    static func integer(_ text: String) throws(ValueError) -> Int {
        guard let value = Int(text.trimmingSpaces) else {
            throw ValueError("'\(text)' is not a whole number; write digits only, such as 3")
        }
        return value
    }

    /// `true` or `false` (any capitalisation).
    static func flag(_ text: String) throws(ValueError) -> Bool {
        switch text.trimmingSpaces.lowercased() {
        case "true": return true
        case "false": return false
        default: throw ValueError("'\(text)' is not true or false; write true or false")
        }
    }

    // MARK: Addresses

    /// Whether `text` is a dotted-quad IPv4 address (no leading zeros, each part ≤ 255).
    static func isIPv4(_ text: some StringProtocol) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { part in
            guard (1...3).contains(part.count), part.allSatisfy(\.isASCIIDigit) else { return false }
            guard part.count == 1 || part.first != "0" else { return false }
            return Int(part)! <= 255
        }
    }

    /// Whether `text` is an IPv6 address in RFC 4291 text form: eight groups of one to four
    /// hex digits, one `::` standing for one or more zero groups, optionally ending in a
    /// dotted IPv4 address. Zone ids (`%eth0`) are not accepted.
    static func isIPv6(_ text: some StringProtocol) -> Bool {
        let text = String(text)
        if let gap = text.firstRange(of: "::") {
            let head = text[..<gap.lowerBound], tail = text[gap.upperBound...]
            guard !tail.contains("::"),
                  let headCount = ipv6Groups(head, allowIPv4Tail: false),
                  let tailCount = ipv6Groups(tail, allowIPv4Tail: true)
            else { return false }
            return headCount + tailCount <= 7
        }
        return ipv6Groups(Substring(text), allowIPv4Tail: true) == 8
    }

    /// How many 16-bit groups `part` (a run of groups between colons) stands for, or nil when
    /// it is malformed. An IPv4 tail counts as two groups.
    private static func ipv6Groups(_ part: Substring, allowIPv4Tail: Bool) -> Int? {
        if part.isEmpty { return 0 }
        let groups = part.split(separator: ":", omittingEmptySubsequences: false)
        var count = 0
        for (index, group) in groups.enumerated() {
            if allowIPv4Tail, index == groups.count - 1, group.contains(".") {
                guard isIPv4(group) else { return nil }
                count += 2
            } else {
                guard (1...4).contains(group.count), group.allSatisfy(\.isASCIIHexDigit) else { return nil }
                count += 1
            }
        }
        return count
    }

    /// Whether `text` is an IPv4 or IPv6 literal.
    static func isIPAddress(_ text: some StringProtocol) -> Bool {
        isIPv4(text) || isIPv6(text)
    }

    /// Whether `address` is the unspecified address (0.0.0.0 or ::), which names no host.
    static func isUnspecified(_ address: String) -> Bool {
        address == "0.0.0.0" || (isIPv6(address) && address.allSatisfy { $0 == "0" || $0 == ":" || $0 == "." })
    }

    /// Whether `text` is a DNS host name: dot-separated labels of letters, digits and `-`
    /// (not at either end of a label), at most 63 characters each and 253 in all, and not
    /// all digits in the last label (that would be a mistyped IPv4 address).
    static func isHostName(_ text: some StringProtocol) -> Bool {
        let name = text.hasSuffix(".") ? Substring(text).dropLast() : Substring(text)
        guard !name.isEmpty, name.count <= 253 else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        let labelsValid = labels.allSatisfy { label in
            (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCIIDigit || $0.isASCIILetter || $0 == "-" }
        }
        return labelsValid && !(labels.last!.allSatisfy(\.isASCIIDigit))
    }

    // MARK: Endpoints

    /// What a host of an endpoint may be.
    enum HostRule {
        /// An IP literal the node binds: no names, and not the unspecified address.
        case bindableAddress
        /// An IP literal or a host name.
        case addressOrName
    }

    /// An endpoint `host:port` (IPv4 or name) or `[v6]:port`, port 1...65535.
    static func endpoint(_ text: String, hosts rule: HostRule) throws(ValueError) -> Endpoint {
        let trimmed = text.trimmingSpaces
        let (host, port) = try splitHostAndPort(trimmed, portRequired: true)
        try checkHost(host, of: trimmed, rule: rule)
        return Endpoint(host: host, port: port!)
    }

    /// The host and the port of `host:port`, `[v6]:port`, or (when the port is optional)
    /// `host`, `[v6]` or a bare IPv6 address.
    static func splitHostAndPort(_ text: String, portRequired: Bool) throws(ValueError) -> (host: String, port: Int?) {
        let example = "such as 10.0.0.1:7400 or [fd00::1]:7400"
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw ValueError("'\(text)' has '[' without ']'; write an IPv6 endpoint as [fd00::1]:7400")
            }
            let host = String(text[text.index(after: text.startIndex)..<close])
            guard isIPv6(host) else {
                throw ValueError("'\(host)' in '\(text)' is not an IPv6 address; brackets are only for IPv6 addresses")
            }
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                if portRequired { throw ValueError("'\(text)' has no port; add one, such as [\(host)]:7400") }
                return (host, nil)
            }
            guard rest.hasPrefix(":") else {
                throw ValueError("'\(text)' has text after ']' that is not ':PORT'; write [\(host)]:PORT")
            }
            return (host, try port(String(rest.dropFirst()), in: text))
        }
        let colons = text.count(where: { $0 == ":" })
        if colons > 1 {
            if !portRequired, isIPv6(text) { return (text, nil) }
            throw ValueError("'\(text)' looks like an IPv6 address; put the address in brackets and add the port after them, such as [fd00::1]:7400")
        }
        guard colons == 1, let colon = text.firstIndex(of: ":") else {
            if portRequired { throw ValueError("'\(text)' has no port; write HOST:PORT, \(example)") }
            return (text, nil)
        }
        let host = String(text[..<colon])
        guard !host.isEmpty else { throw ValueError("'\(text)' has no host; write HOST:PORT, \(example)") }
        return (host, try port(String(text[text.index(after: colon)...]), in: text))
    }

    /// A port number 1...65535.
    private static func port(_ text: String, in endpoint: String) throws(ValueError) -> Int {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy(\.isASCIIDigit), let value = Int(text),
              (1...65535).contains(value)
        else {
            throw ValueError("'\(text)' in '\(endpoint)' is not a port; use a number from 1 to 65535")
        }
        return value
    }

    /// Checks the host part of an endpoint against `rule`.
    static func checkHost(_ host: String, of text: String, rule: HostRule) throws(ValueError) {
        if isIPAddress(host) {
            if rule == .bindableAddress, isUnspecified(host) {
                throw ValueError("'\(text)' uses the unspecified address \(host); the agent binds this address and the other nodes send to it, so give the node's own address on this link")
            }
            return
        }
        let looksNumeric = host.allSatisfy { $0.isASCIIDigit || $0 == "." }
        if looksNumeric {
            throw ValueError("'\(host)' in '\(text)' is not a valid IPv4 address; write four numbers 0-255 separated by dots")
        }
        switch rule {
        case .bindableAddress:
            throw ValueError("'\(host)' in '\(text)' is not an IP address; link addresses must be IP literals (the agent binds them), such as 10.0.0.1:7400 or [fd00::1]:7400")
        case .addressOrName:
            guard isHostName(host) else {
                throw ValueError("'\(host)' in '\(text)' is neither an IP address nor a host name; use an address such as 10.0.0.1 or a name such as node-a.example.net")
            }
        }
    }

    // MARK: Devices, VIPs, units, URLs

    /// A Linux network device name: 1 to 15 characters, no `/`, `:` or white space, and not
    /// `.` or `..`.
    static func device(_ text: String) throws(ValueError) -> String {
        let name = text.trimmingSpaces
        guard !name.isEmpty else { throw ValueError("the device name is empty; name an interface such as eth0") }
        guard name.count <= 15 else {
            throw ValueError("the device name '\(name)' is \(name.count) characters long; Linux interface names have at most 15")
        }
        guard name != ".", name != "..", !name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace }) else {
            throw ValueError("'\(name)' is not a valid interface name; it may not contain '/', ':' or spaces (for an alias like eth0:1 name the device eth0)")
        }
        return name
    }

    /// A virtual IP as `ADDRESS/PREFIX dev DEVICE`: `10.0.0.100/24 dev eth0` or
    /// `fd00::100/64 dev eth0`. The prefix is 0...32 for IPv4 and 0...128 for IPv6.
    static func vip(_ text: String) throws(ValueError) -> VIPSpec {
        let example = "such as '10.0.0.100/24 dev eth0' or 'fd00::100/64 dev eth0'"
        let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        guard words.count == 3, words[1] == "dev" else {
            if words.count == 1 {
                throw ValueError("the vip '\(text)' names no device; write ADDRESS/PREFIX dev DEVICE, \(example)")
            }
            throw ValueError("'\(text)' is not a vip; write ADDRESS/PREFIX dev DEVICE, \(example)")
        }
        let parts = words[0].split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw ValueError("the vip address '\(words[0])' has no prefix length; add one, such as \(words[0])/24 (IPv4) or \(words[0])/64 (IPv6)")
        }
        let address = String(parts[0])
        let isIPv6 = Self.isIPv6(address)
        guard isIPv6 || isIPv4(address) else {
            throw ValueError("'\(address)' is not an IPv4 or IPv6 address; write the vip as \(example)")
        }
        let maximum = isIPv6 ? 128 : 32
        guard parts[1].allSatisfy(\.isASCIIDigit), let prefix = Int(parts[1]), (0...maximum).contains(prefix) else {
            throw ValueError("the prefix length '\(parts[1])' of '\(words[0])' is invalid; use 0 to \(maximum) for an \(isIPv6 ? "IPv6" : "IPv4") address")
        }
        let device = try device(words[2])
        return VIPSpec(address: address, prefixLength: prefix, device: device, isIPv6: isIPv6)
    }

    /// A systemd unit name: no white space and no `/`.
    static func unit(_ text: String) throws(ValueError) -> String {
        let name = text.trimmingSpaces
        guard !name.isEmpty, !name.contains(where: { $0 == "/" || $0.isWhitespace }) else {
            throw ValueError("'\(text)' is not a systemd unit name; write a unit such as asterisk.service")
        }
        return name
    }

    /// An `http://` URL with a valid host and optional port. `https://` is refused: TLS checks
    /// are not supported yet.
    static func httpURL(_ text: String) throws(ValueError) -> String {
        let url = text.trimmingSpaces
        let lowered = url.lowercased()
        if lowered.hasPrefix("https://") {
            throw ValueError("https checks are not supported yet (TLS checks are not implemented); use an http:// URL, or an exec check that runs curl")
        }
        guard lowered.hasPrefix("http://") else {
            throw ValueError("'\(url)' is not an http URL; write it as http://HOST[:PORT]/PATH, such as http://127.0.0.1:8080/health")
        }
        guard !url.contains(where: \.isWhitespace) else {
            throw ValueError("the URL '\(url)' contains white space; encode spaces as %20")
        }
        let rest = url.dropFirst("http://".count)
        let authority = String(rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" })
        guard !authority.isEmpty else {
            throw ValueError("the URL '\(url)' has no host; write it as http://HOST[:PORT]/PATH")
        }
        guard !authority.contains("@") else {
            throw ValueError("the URL '\(url)' contains credentials; checks do not send credentials, remove the 'user@' part")
        }
        let (host, _) = try splitHostAndPort(authority, portRequired: false)
        try checkHost(host, of: url, rule: .addressOrName)
        return url
    }

    /// An absolute path.
    static func absolutePath(_ text: String) throws(ValueError) -> String {
        let path = text.trimmingSpaces
        guard path.hasPrefix("/") else {
            throw ValueError("'\(text)' is not an absolute path; the agent does not run in a known directory, so write the full path starting with '/'")
        }
        return path
    }
}

// MARK: - Helpers

/// A non-negative decimal number as written ("1", "1.5", "0.25"), kept exactly.
private struct Decimal {
    var whole: Int64
    var fractionDigits: [Int64]

    init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts[0].allSatisfy(\.isASCIIDigit),
              let whole = Int64(parts[0])
        else { return nil }
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy(\.isASCIIDigit) else { return nil }
            fractionDigits = parts[1].map { Int64($0.asciiValue! - UInt8(ascii: "0")) }
        } else {
            fractionDigits = []
        }
        self.whole = whole
    }

    /// `self · scale`, rounded down to a whole number; nil on overflow.
    func scaled(by scale: Int64) -> Int64? {
        let (product, overflow) = whole.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        var result = Int128(product)
        var numerator = Int128(0), denominator = Int128(1)
        for digit in fractionDigits.prefix(20) {
            numerator = numerator * 10 + Int128(digit)
            denominator *= 10
        }
        result += numerator * Int128(scale) / denominator
        guard result <= Int128(Int64.max) else { return nil }
        return Int64(result)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
    var isASCIILetter: Bool { isASCII && isLetter }
    var isASCIIHexDigit: Bool { isASCII && isHexDigit }
}

extension StringProtocol {
    /// The text without leading and trailing white space.
    var trimmingSpaces: String {
        var slice = Substring(self)
        while slice.first?.isWhitespace == true { slice.removeFirst() }
        while slice.last?.isWhitespace == true { slice.removeLast() }
        return String(slice)
    }
}
