import Glibc

/// Adds or removes an interface address with one rtnetlink request (RTM_NEWADDR/RTM_DELADDR),
/// in the calling thread's network namespace, and reads the kernel's answer: what
/// `ip addr add|del` does, without starting a process (a few microseconds instead of a few
/// milliseconds, which a planned hand-over pays twice).
enum AddressChange {
    case add, delete
}

enum NetlinkOutcome: Equatable, CustomStringConvertible {
    case done
    /// add: the address was already there. delete: it was not there.
    case alreadyDone
    case noDevice
    /// The kernel refused (errno), or the socket failed.
    case failed(Int32, String)

    var description: String {
        switch self {
        case .done: "done"
        case .alreadyDone: "already done"
        case .noDevice: "no such device"
        case .failed(let code, let what): "\(what): \(errnoText(code))"
        }
    }
}

/// `address`: 4 or 16 bytes. IPv6 addresses are added with IFA_F_NODAD (usable at once).
func changeAddress(_ change: AddressChange, address: [UInt8], prefixLength: UInt8, device: String) -> NetlinkOutcome {
    let index = if_nametoindex(device)
    guard index != 0 else { return .noDevice }
    let ipv6 = address.count == 16
    let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */)
    guard fd >= 0 else { return .failed(errno, "netlink socket") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

    // nlmsghdr (16) + ifaddrmsg (8) + IFA_LOCAL and IFA_ADDRESS attributes (4 + address each).
    let requestType: UInt16 = change == .add ? 20 /* RTM_NEWADDR */ : 21 /* RTM_DELADDR */
    var flags: UInt16 = 0x01 /* NLM_F_REQUEST */ | 0x04 /* NLM_F_ACK */
    if change == .add { flags |= 0x400 /* NLM_F_CREATE */ | 0x200 /* NLM_F_EXCL */ }
    let attributeLength = 4 + address.count
    let attributeSpace = (attributeLength + 3) & ~3
    let length = 16 + 8 + 2 * attributeSpace
    var message = [UInt8](repeating: 0, count: length)
    func put32(_ value: UInt32, at offset: Int) { withUnsafeBytes(of: value) { message.replaceSubrange(offset..<offset + 4, with: $0) } }
    func put16(_ value: UInt16, at offset: Int) { withUnsafeBytes(of: value) { message.replaceSubrange(offset..<offset + 2, with: $0) } }
    let sequence = UInt32.random(in: 1...UInt32.max)
    put32(UInt32(length), at: 0)
    put16(requestType, at: 4)
    put16(flags, at: 6)
    put32(sequence, at: 8)
    put32(0, at: 12)
    message[16] = UInt8(ipv6 ? AF_INET6 : AF_INET)
    message[17] = prefixLength
    message[18] = ipv6 && change == .add ? 0x02 /* IFA_F_NODAD */ : 0
    message[19] = 0  // RT_SCOPE_UNIVERSE
    put32(index, at: 20)
    for (k, type) in [UInt16(2) /* IFA_LOCAL */, 1 /* IFA_ADDRESS */].enumerated() {
        let offset = 24 + k * attributeSpace
        put16(UInt16(attributeLength), at: offset)
        put16(type, at: offset + 2)
        message.replaceSubrange(offset + 4..<offset + 4 + address.count, with: address)
    }

    // struct sockaddr_nl { family, pad, pid 0 (the kernel), groups 0 }: 12 bytes.
    var kernel = [UInt8](repeating: 0, count: 12)
    withUnsafeBytes(of: sa_family_t(AF_NETLINK)) { kernel.replaceSubrange(0..<2, with: $0) }
    let sent = message.withUnsafeBytes { bytes in
        kernel.withUnsafeBytes { address in
            sendto(fd, bytes.baseAddress, bytes.count, 0, address.baseAddress!.assumingMemoryBound(to: sockaddr.self), 12)
        }
    }
    guard sent == length else { return .failed(errno, "netlink send") }

    var answer = [UInt8](repeating: 0, count: 8192)
    while true {
        let n = answer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 {
            if errno == EINTR { continue }
            return .failed(errno, "netlink answer")
        }
        var offset = 0
        while offset + 16 <= n {
            let messageLength = Int(answer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) })
            let type = answer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self) }
            let answerSequence = answer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self) }
            guard messageLength >= 16, offset + messageLength <= n else { return .failed(EPROTO, "netlink answer") }
            if type == 2 /* NLMSG_ERROR */, answerSequence == sequence, messageLength >= 20 {
                let code = -answer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 16, as: Int32.self) }
                switch (code, change) {
                case (0, _): return .done
                case (EEXIST, .add): return .alreadyDone
                case (EADDRNOTAVAIL, .delete): return .alreadyDone
                case (ENODEV, _): return .noDevice
                default: return .failed(code, change == .add ? "adding the address" : "removing the address")
                }
            }
            offset += (messageLength + 3) & ~3
        }
    }
}
