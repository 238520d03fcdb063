import Glibc

/// nil when `host` answers an ICMP echo within `timeout`; else why not. Tries an unprivileged
/// ICMP datagram socket (allowed by net.ipv4.ping_group_range), then a raw socket (root or
/// CAP_NET_RAW), then `ping -c 1` when neither socket is permitted.
func ping(host: String, timeout: Duration) async -> String? {
    let outcome = await onThread(timeout: timeout + .milliseconds(100)) { icmpEcho(host: host, timeout: timeout) }
    switch outcome {
    case nil:
        return "no echo reply within \(timeout.shortDescription)"
    case .reply?:
        return nil
    case .failed(let why)?:
        return why
    case .notPermitted?:
        let seconds = max(1, (timeout.milliseconds + 999) / 1000)
        let result = await runCommand(["ping", "-c", "1", "-W", "\(seconds)", host], timeout: timeout)
        if result.succeeded { return nil }
        if case .launchFailed = result.outcome {
            return "ICMP sockets not permitted and no ping program (\(result.status)); run as root or widen net.ipv4.ping_group_range"
        }
        return "ping \(result.status)"
    }
}

enum EchoOutcome: Sendable {
    case reply
    case failed(String)
    case notPermitted
}

/// One ICMP echo request and the wait for its reply. Blocking: run it on a thread of its own.
func icmpEcho(host: String, timeout: Duration) -> EchoOutcome {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    guard let target = resolve(host) else { return .failed("cannot resolve \(host)") }
    let ipv6 = target.family == AF_INET6
    let proto = ipv6 ? Int32(IPPROTO_ICMPV6) : Int32(IPPROTO_ICMP)
    var fd: Int32 = -1
    var raw = false
    for type in [SOCK_DGRAM, SOCK_RAW] {
        fd = socket(target.family, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), proto)
        if fd >= 0 {
            raw = type == SOCK_RAW
            break
        }
        guard errno == EACCES || errno == EPERM || errno == EPROTONOSUPPORT else {
            return .failed("ICMP socket: \(errnoText(errno))")
        }
    }
    guard fd >= 0 else { return .notPermitted }
    defer { close(fd) }

    let identifier = UInt16(truncatingIfNeeded: getpid())
    let sequence = UInt16.random(in: 1...UInt16.max)
    let payload = (0..<16).map { _ in UInt8.random(in: 0...255) }
    var packet: [UInt8] = [ipv6 ? 128 : 8, 0, 0, 0, UInt8(identifier >> 8), UInt8(identifier & 0xff),
                           UInt8(sequence >> 8), UInt8(sequence & 0xff)] + payload
    if !ipv6 {  // the kernel computes ICMPv6 checksums itself
        let sum = internetChecksum(packet)
        packet[2] = UInt8(sum >> 8)
        packet[3] = UInt8(sum & 0xff)
    }
    let sent = packet.withUnsafeBytes { bytes in
        target.address.withUnsafeBytes { address in
            sendto(fd, bytes.baseAddress, bytes.count, 0, address.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                   socklen_t(address.count))
        }
    }
    guard sent == packet.count else { return .failed(errnoText(errno).lowercased()) }

    var buffer = [UInt8](repeating: 0, count: 2048)
    while true {
        let remaining = ContinuousClock.now.duration(to: deadline)
        guard remaining > .zero else { return .failed("no echo reply within \(timeout.shortDescription)") }
        var pending = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pending, 1, Int32(clamping: remaining.milliseconds))
        if ready < 0 && errno == EINTR { continue }
        guard ready > 0 else { continue }
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        guard count > 0 else { continue }
        var icmp = buffer[0..<count]
        if raw && !ipv6 {  // IPv4 raw sockets deliver the IP header too
            let headerLength = Int(icmp[0] & 0x0f) * 4
            guard count >= headerLength + 8 else { continue }
            icmp = icmp.dropFirst(headerLength)
        }
        guard icmp.count >= 8 + payload.count, icmp[icmp.startIndex] == (ipv6 ? 129 : 0) else { continue }
        let base = icmp.startIndex
        let replySequence = UInt16(icmp[base + 6]) << 8 | UInt16(icmp[base + 7])
        let replyIdentifier = UInt16(icmp[base + 4]) << 8 | UInt16(icmp[base + 5])
        // Datagram sockets get their identifier from the kernel and see only their own replies.
        guard replySequence == sequence, !raw || replyIdentifier == identifier,
              icmp[(base + 8)..<(base + 8 + payload.count)].elementsEqual(payload)
        else { continue }
        return .reply
    }
}

struct ResolvedAddress {
    var family: Int32
    /// A sockaddr_in or sockaddr_in6, as bytes.
    var address: [UInt8]
}

/// The first address of `host` (a literal or a name; names may block on DNS).
func resolve(_ host: String) -> ResolvedAddress? {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
    var list: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return nil }
    defer { freeaddrinfo(list) }
    let info = first.pointee
    guard let address = info.ai_addr else { return nil }
    let bytes = Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(address), count: Int(info.ai_addrlen)))
    return ResolvedAddress(family: info.ai_family, address: bytes)
}

/// The Internet checksum (RFC 1071) of `bytes`.
func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    var index = 0
    while index + 1 < bytes.count {
        sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
        index += 2
    }
    if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
    while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
    return ~UInt16(sum)
}
