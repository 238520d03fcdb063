import Glibc
import Logging
import Synchronization
import TandemConfig
import TandemCore

/// `vip: ADDRESS/PREFIX dev DEVICE`: an address held on an interface while the group is active.
///
/// - start: adds ADDRESS/PREFIX to DEVICE with one rtnetlink request, as `ip addr add` would
///   (IPv6 with `nodad`, usable at once); an address already present counts as success (a
///   crashed agent may have left it). Then the
///   address is announced: a gratuitous ARP (IPv4: a broadcast ARP request with sender = target
///   = the address) or an unsolicited neighbour advertisement (IPv6: ICMPv6 type 136 with the
///   override flag to ff02::1, hop limit 255). The first announcement goes out before `start`
///   returns; the other `announceCount - 1`, `announceInterval` apart, from a background task,
///   so activation waits for nothing slow (start takes well under a millisecond).
///   Without permission for raw sockets the announcements are skipped with a warning: the
///   address still works, neighbours just learn it later.
/// - stop: stops the announcements, then removes the address (rtnetlink); an absent address
///   or device counts as success.
/// - monitor: running while the address is on the device.
/// - `addAtOnce()`: the address and its first announcement, synchronously on the caller's
///   thread (the agent's loop calls it when it decides to activate, so the address does not
///   wait for the task that starts the group); `start` then finds the address in place.
public actor VIPResource: Resource {
    public nonisolated let name: String
    public nonisolated let spec: VIPSpec
    /// The network namespace (a name under /run/netns) the address lives in; nil: the agent's own.
    public nonisolated let netns: String?
    /// The address's bytes, parsed once from `spec`; nil when it does not parse (each use
    /// reports that).
    private nonisolated let address: [UInt8]?
    private let logger: Logger
    private var announcing: Task<Void, Never>?
    private var announceGeneration = 0
    /// Set by `addAtOnce` when it added the address, cleared by the `start` that follows.
    private let addedAtOnce = Mutex(false)
    /// The announcement socket, kept for the resource's life: closing a packet socket waits
    /// for an RCU grace period in the kernel (milliseconds), which must not happen on an
    /// activation or deactivation path. Made again only when the device changed.
    private let kept = Mutex<Announcer?>(nil)

    /// `netns` names a namespace created by `ip netns add` in which the address is managed
    /// instead of the agent's own (for tests, or an address inside a container's namespace).
    public init(_ spec: VIPSpec, netns: String? = nil, logger: Logger) {
        self.spec = spec
        self.netns = netns
        self.address = parseAddress(spec.address, ipv6: spec.isIPv6)
        self.logger = logger
        self.name = "vip \(spec.address)/\(spec.prefixLength) dev \(spec.device)"
    }

    /// Adds the address and sends one announcement, on the calling thread: one rtnetlink
    /// request and one packet, tens of microseconds. Only in the agent's own network
    /// namespace (entering another one would move the calling thread). True when the
    /// address is on the device afterwards.
    public nonisolated func addAtOnce() -> Bool {
        guard netns == nil, let address else { return false }
        switch change(.add) {
        case .done:
            addedAtOnce.withLock { $0 = true }
        case .alreadyDone:
            break
        default:
            return false
        }
        if spec.announceCount > 0, case .success(let announcer) = keptAnnouncer(address: address) {
            _ = announcer.send()
        }
        return true
    }

    public func start(_ context: ResourceContext) async throws(ResourceError) {
        switch change(.add) {
        case .done:
            break
        case .alreadyDone:
            if !addedAtOnce.withLock({ let was = $0; $0 = false; return was }) {
                logger.info("address was already present", metadata: ["resource": "\(name)"])
            }
        case .noDevice:
            throw ResourceError(.startFailed, resource: name, message:
                "device \(spec.device) not found: check that \(spec.device) exists on this node (`ip link show \(spec.device)`)")
        case let failure:
            throw ResourceError(.startFailed, resource: name, message:
                "\(failure); check that the agent may configure \(spec.device) (root or CAP_NET_ADMIN)")
        }
        startAnnouncing()
    }

    public func stop(_ context: ResourceContext) async throws(ResourceError) {
        stopAnnouncing()
        switch change(.delete) {
        case .done, .alreadyDone, .noDevice:
            return
        case let failure:
            if case .present = addressState() {
                throw ResourceError(.stopFailed, resource: name, message:
                    "\(failure); the address is still on \(spec.device): remove it by hand before it is used elsewhere")
            }
        }
    }

    public func monitor(_ context: ResourceContext) async -> MonitorResult {
        switch addressState() {
        case .present: .running
        case .absent: .notRunning
        case .noDevice: .failed("device \(spec.device) not found")
        }
    }

    // MARK: - Address

    enum AddressState { case present, absent, noDevice }

    /// Reads the device's addresses in-process (getifaddrs), not by running `ip`.
    func addressState() -> AddressState {
        guard let wanted = address,
              let link = inNetworkNamespace(netns, { LinkInfo.read(device: spec.device) }) ?? nil
        else { return .noDevice }
        return link.addresses.contains(wanted) ? .present : .absent
    }

    /// One rtnetlink request in the address's namespace (no `ip` process: microseconds).
    private nonisolated func change(_ change: AddressChange) -> NetlinkOutcome {
        guard let address else {
            return .failed(EINVAL, "\(spec.address) is not an IPv\(spec.isIPv6 ? 6 : 4) address")
        }
        let outcome = inNetworkNamespace(netns) {
            changeAddress(change, address: address, prefixLength: UInt8(spec.prefixLength), device: spec.device)
        }
        return outcome ?? .failed(errno, "cannot enter network namespace \(netns ?? "")")
    }

    // MARK: - Announcements

    private func startAnnouncing() {
        stopAnnouncing()
        guard spec.announceCount > 0, let announcer = makeAnnouncer() else { return }
        send(announcer)
        guard spec.announceCount > 1 else { return }
        let generation = announceGeneration
        let (count, interval) = (spec.announceCount, spec.announceInterval)
        announcing = Task {
            for _ in 1..<count {
                try? await Task.sleep(for: interval)
                guard self.sendAgain(announcer, generation: generation) else { return }
            }
        }
    }

    private func stopAnnouncing() {
        announceGeneration += 1
        announcing?.cancel()
        announcing = nil
    }

    /// Sends unless announcing was stopped meanwhile (on the actor, so never after a stop began).
    private func sendAgain(_ announcer: Announcer, generation: Int) -> Bool {
        guard generation == announceGeneration, !Task.isCancelled else { return false }
        send(announcer)
        return true
    }

    private func send(_ announcer: Announcer) {
        if let error = announcer.send() {
            logger.warning("announcement not sent: \(errnoText(error))", metadata: ["resource": "\(name)"])
        }
    }

    /// The kept announcer, or a new one when there is none or the device's index or
    /// hardware address changed (two ioctls to check). In the calling thread's namespace.
    nonisolated func keptAnnouncer(address: [UInt8]) -> Result<Announcer, Announcer.Failure> {
        guard let link = LinkInfo.hardware(device: spec.device) else {
            return .failure(Announcer.Failure(description: "device \(spec.device) not found"))
        }
        return kept.withLock { kept in
            if let announcer = kept, announcer.index == link.index, announcer.mac == link.mac { return .success(announcer) }
            let made = Announcer.make(spec: spec, address: address, link: link)
            if case .success(let announcer) = made { kept = announcer }
            return made
        }
    }

    private func makeAnnouncer() -> Announcer? {
        guard let address else {
            logger.warning("not announcing: \(spec.address) is not an IPv\(spec.isIPv6 ? 6 : 4) address", metadata: ["resource": "\(name)"])
            return nil
        }
        let made = inNetworkNamespace(netns) { keptAnnouncer(address: address) }
        switch made {
        case .some(.success(let announcer)):
            return announcer
        case .some(.failure(let why)):
            logger.warning("not announcing (the address works, neighbours learn it later): \(why)", metadata: ["resource": "\(name)"])
            return nil
        case .none:
            logger.warning("not announcing: cannot enter network namespace \(netns ?? "")", metadata: ["resource": "\(name)"])
            return nil
        }
    }
}

/// A raw socket and one ready announcement packet (gratuitous ARP or unsolicited NA).
final class Announcer: Sendable {
    private let fd: Int32
    private let packet: [UInt8]
    /// A sockaddr_ll (ARP) or sockaddr_in6 (NA), as bytes.
    private let destination: [UInt8]
    /// The device the packet was built for.
    let index: UInt32
    let mac: [UInt8]

    private init(fd: Int32, packet: [UInt8], destination: [UInt8], link: LinkInfo) {
        self.fd = fd
        self.packet = packet
        self.destination = destination
        self.index = link.index
        self.mac = link.mac
    }

    deinit { close(fd) }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Opens the socket (in the calling thread's network namespace) and builds the packet.
    /// The socket only sends: it receives nothing, so keeping it open costs nothing.
    static func make(spec: VIPSpec, address: [UInt8], link: LinkInfo) -> Result<Announcer, Failure> {
        guard link.mac.count == 6 else {
            return .failure(Failure(description: "\(spec.device) has no Ethernet address"))
        }
        return spec.isIPv6 ? neighbourAdvertisement(link: link, address: address) : gratuitousARP(link: link, address: address)
    }

    private static func gratuitousARP(link: LinkInfo, address: [UInt8]) -> Result<Announcer, Failure> {
        let ethTypeARP: UInt16 = 0x0806
        // Protocol 0: the socket receives no frames; each send names ARP in its sockaddr_ll.
        let fd = socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Failure(description: "packet socket: \(errnoText(errno))")) }
        // ARP request: Ethernet, IPv4, op 1; sender = target = the address; target MAC unknown (0).
        let packet: [UInt8] = [0, 1, 0x08, 0x00, 6, 4, 0, 1] + link.mac + address + [0, 0, 0, 0, 0, 0] + address
        // sockaddr_ll: family, protocol (BE), ifindex, hatype, pkttype, halen, addr[8].
        var destination = [UInt8](repeating: 0, count: 20)
        withUnsafeBytes(of: UInt16(AF_PACKET)) { destination.replaceSubrange(0..<2, with: $0) }
        withUnsafeBytes(of: ethTypeARP.bigEndian) { destination.replaceSubrange(2..<4, with: $0) }
        withUnsafeBytes(of: Int32(link.index)) { destination.replaceSubrange(4..<8, with: $0) }
        destination[11] = 6
        destination.replaceSubrange(12..<18, with: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        return .success(Announcer(fd: fd, packet: packet, destination: destination, link: link))
    }

    private static func neighbourAdvertisement(link: LinkInfo, address: [UInt8]) -> Result<Announcer, Failure> {
        let fd = socket(AF_INET6, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_ICMPV6))
        guard fd >= 0 else { return .failure(Failure(description: "ICMPv6 raw socket: \(errnoText(errno))")) }
        // Receive nothing (ICMP6_FILTER blocking every type): the socket only sends.
        var blockAll = [UInt32](repeating: 0xffff_ffff, count: 8)
        setsockopt(fd, Int32(IPPROTO_ICMPV6), 1 /* ICMP6_FILTER */, &blockAll, socklen_t(32))
        var hops: Int32 = 255
        var index = Int32(link.index)
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_HOPS, &hops, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_UNICAST_HOPS, &hops, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_IF, &index, socklen_t(MemoryLayout<Int32>.size))
        // Source: the address itself (best effort; the kernel picks one otherwise).
        var source = sockaddr_in6()
        source.sin6_family = sa_family_t(AF_INET6)
        withUnsafeMutableBytes(of: &source.sin6_addr) { $0.copyBytes(from: address) }
        _ = withUnsafePointer(to: &source) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        // Type 136, code 0, checksum (the kernel fills it in), flags: override (O), then the
        // target address and the target link-layer address option (type 2, length 1 × 8).
        let packet: [UInt8] = [136, 0, 0, 0, 0x20, 0, 0, 0] + address + [2, 1] + link.mac
        var destination = sockaddr_in6()
        destination.sin6_family = sa_family_t(AF_INET6)
        destination.sin6_scope_id = link.index
        withUnsafeMutableBytes(of: &destination.sin6_addr) {
            $0.copyBytes(from: [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] as [UInt8])
        }
        return .success(Announcer(fd: fd, packet: packet, destination: withUnsafeBytes(of: destination) { Array($0) }, link: link))
    }

    /// Sends the announcement once; the errno when it failed.
    func send() -> Int32? {
        let sent = packet.withUnsafeBytes { payload in
            destination.withUnsafeBytes { address in
                sendto(fd, payload.baseAddress, payload.count, 0, address.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                       socklen_t(address.count))
            }
        }
        return sent < 0 ? errno : nil
    }
}

/// An interface as getifaddrs sees it: index, Ethernet address, IPv4 and IPv6 addresses.
struct LinkInfo {
    var index: UInt32 = 0
    var mac: [UInt8] = []
    var addresses: [[UInt8]] = []

    /// Index and hardware address only, by two ioctls: what an announcement needs, read on
    /// the activation path without a getifaddrs dump of every interface and address.
    static func hardware(device: String) -> LinkInfo? {
        let index = if_nametoindex(device)
        guard index != 0 else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var request = ifreq()
        let name = Array(device.utf8.prefix(Int(IFNAMSIZ) - 1))
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { $0.copyBytes(from: name) }
        guard ioctl(fd, UInt(SIOCGIFHWADDR), &request) == 0 else { return nil }
        var info = LinkInfo()
        info.index = index
        // Ethernet (ARPHRD_ETHER = 1) has a 6-byte address; other link types have none usable.
        if request.ifr_ifru.ifru_hwaddr.sa_family == 1 {
            info.mac = withUnsafeBytes(of: request.ifr_ifru.ifru_hwaddr.sa_data) { Array($0.prefix(6)) }
        }
        return info
    }

    /// Reads `device` in the calling thread's network namespace; nil when there is no such device.
    static func read(device: String) -> LinkInfo? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return nil }
        defer { freeifaddrs(list) }
        var info = LinkInfo()
        var found = false
        var entry = list
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            guard String(cString: current.pointee.ifa_name) == device, let address = current.pointee.ifa_addr else { continue }
            switch Int32(address.pointee.sa_family) {
            case AF_PACKET:
                found = true
                // sockaddr_ll: ifindex at 4, halen at 11, addr at 12.
                let raw = UnsafeRawPointer(address)
                info.index = UInt32(raw.load(fromByteOffset: 4, as: Int32.self))
                let length = Int(raw.load(fromByteOffset: 11, as: UInt8.self))
                info.mac = Array(UnsafeRawBufferPointer(start: raw + 12, count: min(length, 8)))
            case AF_INET:
                found = true
                address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    info.addresses.append(withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) })
                }
            case AF_INET6:
                found = true
                address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    info.addresses.append(withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) })
                }
            default:
                break
            }
        }
        if found && info.index == 0 { info.index = if_nametoindex(device) }
        return found ? info : nil
    }
}

/// The 4 or 16 bytes of an IP address literal; nil when it is not one.
func parseAddress(_ text: String, ipv6: Bool) -> [UInt8]? {
    var bytes = [UInt8](repeating: 0, count: ipv6 ? 16 : 4)
    let ok = bytes.withUnsafeMutableBytes { inet_pton(ipv6 ? AF_INET6 : AF_INET, text, $0.baseAddress) }
    return ok == 1 ? bytes : nil
}

/// Runs `body` with the calling thread inside network namespace `name` (/run/netns/NAME, as
/// `ip netns add` makes them), then moves it back; with `name == nil`, just runs `body`. Nil
/// when the namespace cannot be entered. `body` is synchronous, so the whole call stays on one
/// thread (setns acts on the calling thread only). Sockets keep the namespace they were made in.
func inNetworkNamespace<T>(_ name: String?, _ body: () -> T) -> T? {
    guard let name else { return body() }
    guard let setns = setnsFunction else { return nil }
    let target = open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
    guard target >= 0 else { return nil }
    defer { close(target) }
    let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
    guard home >= 0 else { return nil }
    defer { close(home) }
    let cloneNewNet: Int32 = 0x4000_0000
    guard setns(target, cloneNewNet) == 0 else { return nil }
    let result = body()
    guard setns(home, cloneNewNet) == 0 else {
        // A pool thread left in a foreign namespace would corrupt everything it touches later.
        fatalError("cannot return to the agent's network namespace: \(errnoText(errno))")
    }
    return result
}

/// setns(2), looked up at run time (glibc declares it only with _GNU_SOURCE).
private let setnsFunction: (@convention(c) (Int32, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
}()
