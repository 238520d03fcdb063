import Crypto
import Foundation
import NIOCore
import TandemCore

/// Sealing: every datagram and frame is encrypted and authenticated with ChaCha20-Poly1305
/// under a key derived from the cluster key (DESIGN §5).
///
/// Packet layout (the clear header is authenticated as associated data):
///
/// | bytes | field |
/// |---|---|
/// | 3 | magic `TDM` |
/// | 1 | version (`Sealing.version`) |
/// | 1 | channel (`WireChannel`) |
/// | 8 | cluster id: the first 8 bytes of SHA-256 of the cluster name |
/// | 1 + n | sender node name, length-prefixed, 1...64 bytes of UTF-8 |
/// | 8 | sender's incarnation, little-endian |
/// | 8 | counter, little-endian |
/// | rest | ciphertext of the encoded `Payload`, then the 16-byte Poly1305 tag |
///
/// Nonces never repeat under one key: each (cluster, sender, incarnation, channel) has its own
/// subkey, HKDF-SHA256 of the cluster key, and within it the nonce is the counter (zero-padded
/// to 12 bytes), which a `Sealer` increases with every packet. This holds as long as a node
/// never seals with two `Sealer`s of the same incarnation (see `Sealer`).
public enum Sealing {
    /// The header version this build writes and reads.
    public static let version: UInt8 = 1
    /// `TDM`.
    static let magic: [UInt8] = [0x54, 0x44, 0x4D]
    /// The longest sender name, in UTF-8 bytes.
    public static let maxSenderBytes = 64
    /// The Poly1305 tag length.
    static let tagBytes = 16
    /// The smallest packet: header with a one-byte name, an empty ciphertext and the tag.
    static let minimumPacketBytes = 3 + 1 + 1 + 8 + 1 + 1 + 8 + 8 + tagBytes

    /// The 8-byte id of a cluster: the first 8 bytes of SHA-256 of its name. Traffic from
    /// another cluster is told apart from forgeries by it (and is never decrypted).
    public static func clusterID(_ cluster: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(cluster.utf8)).prefix(8))
    }

    /// The subkey for one (cluster, sender, incarnation, channel).
    static func subkey(
        key: ClusterKey, clusterID: [UInt8], sender: [UInt8], incarnation: Incarnation, channel: WireChannel
    ) -> SymmetricKey {
        var info = Array("tandem seal v1".utf8)
        info += clusterID
        info.append(channel.rawValue)
        info.append(UInt8(sender.count))
        info += sender
        withUnsafeBytes(of: incarnation.littleEndian) { info += $0 }
        return HKDF<SHA256>.deriveKey(
            inputKeyMaterial: key.symmetricKey, salt: clusterID, info: info, outputByteCount: 32)
    }

    /// The nonce for a counter: the counter, little-endian, then four zero bytes.
    static func nonceBytes(_ counter: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: counter.littleEndian) { raw in
            for offset in 0..<8 { bytes[offset] = raw[offset] }
        }
        return bytes
    }

    static func nonce(_ counter: UInt64) -> ChaChaPoly.Nonce {
        // 12 bytes is always a valid ChaCha20-Poly1305 nonce.
        try! ChaChaPoly.Nonce(data: nonceBytes(counter))
    }
}

/// Which kind of transport a packet travels on. Each channel has its own subkey, counter and
/// replay window, so datagrams and frames never interfere.
public enum WireChannel: UInt8, Sendable, Hashable, CaseIterable {
    /// UDP, sent on every healthy link at once (copies are dropped as duplicates).
    case datagram = 0
    /// A length-framed TCP stream.
    case stream = 1
}

/// A derived key, immutable once made. (`SymmetricKey` is an immutable value whose storage is
/// never mutated after creation, but it is not marked `Sendable`.)
struct SubKey: @unchecked Sendable {
    let key: SymmetricKey
}

/// Seals payloads for one node and incarnation.
///
/// Guarantees: every packet it seals has a counter one higher than the previous packet of the
/// same channel (starting at 0), so no nonce repeats under one subkey.
///
/// The caller MUST keep exactly one `Sealer` per incarnation (a struct: copying it and sealing
/// with both copies would repeat nonces) and MUST persist a new, higher incarnation at every
/// start before sealing anything. A message sent on several links at once is sealed once and
/// the same bytes are sent on every link: the receiver takes the first copy and drops the
/// others as duplicates.
public struct Sealer: Sendable {
    public let sender: NodeID
    public let incarnation: Incarnation
    /// The id of the key used (`ClusterKey.id`), for logs.
    public let keyID: String
    private let clusterID: [UInt8]
    private let senderBytes: [UInt8]
    private let keys: [SubKey]
    private var counters: [UInt64] = [0, 0]

    /// Precondition: `sender` is 1...64 bytes of UTF-8 (a valid node id always is).
    public init(cluster: String, key: ClusterKey, sender: NodeID, incarnation: Incarnation) {
        let name = Array(sender.name.utf8)
        precondition(!name.isEmpty && name.count <= Sealing.maxSenderBytes, "node name \(sender) must be 1...64 bytes to be sent")
        self.sender = sender
        self.incarnation = incarnation
        self.keyID = key.id
        self.clusterID = Sealing.clusterID(cluster)
        self.senderBytes = name
        self.keys = WireChannel.allCases.map { channel in
            SubKey(key: Sealing.subkey(
                key: key, clusterID: Sealing.clusterID(cluster), sender: name, incarnation: incarnation, channel: channel))
        }
    }

    /// The counter the next packet on `channel` will carry.
    public func nextCounter(on channel: WireChannel) -> UInt64 { counters[Int(channel.rawValue)] }

    /// Seals `payload` into one packet for `channel`; the channel's counter increases by one.
    public mutating func seal(_ payload: Payload, channel: WireChannel) -> ByteBuffer {
        seal(plaintext: WireCodec.encode(payload), channel: channel)
    }

    /// Seals `payload` for the datagram channel when the packet is at most `datagramLimit`
    /// bytes, else for the stream. The payload is encoded once, and only the channel it goes
    /// on advances its counter.
    public mutating func seal(_ payload: Payload, datagramLimit: Int) -> (packet: ByteBuffer, channel: WireChannel) {
        let plaintext = WireCodec.encode(payload)
        let channel: WireChannel = packetBytes(plaintext: plaintext.count) <= datagramLimit ? .datagram : .stream
        return (seal(plaintext: plaintext, channel: channel), channel)
    }

    /// The size of the packet that sealing `count` bytes of plaintext makes.
    public func packetBytes(plaintext count: Int) -> Int {
        14 + senderBytes.count + 16 + count + Sealing.tagBytes
    }

    /// Seals already encoded bytes (the tests use it to make authentic but undecodable packets).
    mutating func seal(plaintext: [UInt8], channel: WireChannel) -> ByteBuffer {
        let slot = Int(channel.rawValue)
        let counter = counters[slot]
        // 2⁶⁴ packets cannot be sent in one incarnation; refuse rather than wrap.
        precondition(counter < UInt64.max, "counter exhausted for this incarnation")
        counters[slot] = counter + 1

        var header: [UInt8] = Sealing.magic
        header.reserveCapacity(40 + senderBytes.count)
        header.append(Sealing.version)
        header.append(channel.rawValue)
        header += clusterID
        header.append(UInt8(senderBytes.count))
        header += senderBytes
        withUnsafeBytes(of: incarnation.littleEndian) { header += $0 }
        withUnsafeBytes(of: counter.littleEndian) { header += $0 }

        // Sealing with a 32-byte key and a 12-byte nonce cannot fail.
        let box = try! ChaChaPoly.seal(
            plaintext, using: keys[slot].key, nonce: Sealing.nonce(counter), authenticating: header)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(header.count + plaintext.count + Sealing.tagBytes)
        buffer.writeBytes(header)
        buffer.writeBytes(box.ciphertext)
        buffer.writeBytes(box.tag)
        return buffer
    }
}

/// A packet that was authenticated and decoded.
public struct Opened: Sendable, Equatable {
    public var sender: NodeID
    public var incarnation: Incarnation
    public var counter: UInt64
    public var channel: WireChannel
    public var payload: Payload

    public init(sender: NodeID, incarnation: Incarnation, counter: UInt64, channel: WireChannel, payload: Payload) {
        self.sender = sender
        self.incarnation = incarnation
        self.counter = counter
        self.channel = channel
        self.payload = payload
    }
}

/// Why a packet was dropped.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// An extensible reason: compare with the `static let`s.
    public struct Reason: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Shorter than a header, or than its own header plus the tag.
        public static let truncated = Reason("truncated")
        /// Larger than `Opener.maxPacketBytes`.
        public static let oversized = Reason("oversized")
        /// Does not start with `TDM`: not Tandem traffic.
        public static let badMagic = Reason("bad_magic")
        /// A header version (or channel) this build does not read.
        public static let unsupportedVersion = Reason("unsupported_version")
        /// Tandem traffic of another cluster (its cluster id differs): a misconfiguration,
        /// not an attack, and never decrypted.
        public static let foreignCluster = Reason("foreign_cluster")
        /// A sender that is not one of the cluster's other nodes.
        public static let unknownSender = Reason("unknown_sender")
        /// A packet claiming to come from the receiver itself (a loop, or a reflection).
        public static let selfSent = Reason("self_sent")
        /// Authentication failed under every configured key: forged, corrupted, or sealed
        /// with a key this node does not have.
        public static let forged = Reason("forged")
        /// A counter already accepted, or too old for the replay window. This is how the
        /// copies of a datagram sent on several links are dropped; a replay by an attacker
        /// is indistinguishable from such a copy.
        public static let duplicate = Reason("duplicate")
        /// An incarnation older than the newest seen (authenticated) from that sender.
        public static let staleIncarnation = Reason("stale_incarnation")
        /// Authentic, but the payload does not decode (a bug or a version mismatch).
        public static let malformed = Reason("malformed")
    }

    public var reason: Reason
    /// Makes `detail` when somebody reads it: half of all datagrams are the copies of the
    /// other links, dropped as duplicates, and none of their texts is ever read.
    private let makeDetail: @Sendable () -> String

    /// What was seen, e.g. `counter 17 from b (incarnation 3) already accepted`.
    public var detail: String { makeDetail() }

    /// `detail` is evaluated only when read, so it must capture copies, never pointers into
    /// the packet.
    public init(_ reason: Reason, _ detail: @autoclosure @escaping @Sendable () -> String) {
        self.reason = reason
        self.makeDetail = detail
    }

    public var description: String { "\(reason): \(detail)" }

    public static func == (lhs: Rejection, rhs: Rejection) -> Bool {
        lhs.reason == rhs.reason && lhs.detail == rhs.detail
    }
}

/// Opens packets for one receiving node: checks the header, authenticates under each key,
/// drops duplicates and replays, and decodes the payload.
///
/// Guarantees:
/// - A packet is accepted only if it authenticates under one of `keys`, names this cluster,
///   comes from one of `senders`, is of the newest incarnation seen from that sender, and its
///   counter was not accepted before on that channel (and is not older than the 1024 newest).
/// - Each (sender, channel, incarnation, counter) is accepted at most once.
/// - Only authenticated packets change its state: a forgery never advances a replay window,
///   never raises an incarnation and never fills a cache.
/// - Every rejection is counted in `rejections` by reason. The checks that need no key
///   (size, magic, version, cluster id, sender, stale incarnation, counter already seen) run
///   first and cost no cryptography; their reasons describe what the packet claims, so a
///   forgery can be counted under them, but never accepted.
///
/// A value with mutating `open`: keep exactly one per receiving node and channel set (two
/// copies would keep two replay windows, and each would accept the same packet once).
public struct Opener: Sendable {
    /// The largest packet accepted (64 MiB): frames carry snapshots, whose size grows with
    /// the key-value store. Datagrams are limited by UDP anyway.
    public static let maxPacketBytes = 64 << 20
    /// How many counters behind the newest one are still accepted (once each).
    public static let windowSize = ReplayWindow.size

    public let receiver: NodeID
    /// The senders accepted: the cluster's other nodes.
    public let senders: Set<NodeID>
    /// How many packets were rejected, per reason.
    public private(set) var rejections: [Rejection.Reason: Int] = [:]

    private let clusterID: [UInt8]
    private let keys: [ClusterKey]
    /// Per sender: the newest authenticated incarnation.
    private var incarnations: [NodeID: Incarnation] = [:]
    /// Per (sender, channel): the replay window of the sender's newest incarnation.
    private var windows: [WindowID: ReplayWindow] = [:]
    /// Subkeys of the newest incarnation of each sender, per key and channel.
    private var subkeys: [SubKeyID: SubKey] = [:]

    struct WindowID: Hashable {
        var sender: NodeID
        var channel: WireChannel
    }

    struct SubKeyID: Hashable {
        var key: Int
        var sender: NodeID
        var incarnation: Incarnation
        var channel: WireChannel
    }

    /// `keys`: one key, or two during a rotation (both are accepted; seal with the first).
    /// Precondition: `keys` is not empty.
    public init(cluster: String, keys: [ClusterKey], receiver: NodeID, senders: Set<NodeID>) {
        precondition(!keys.isEmpty, "an Opener needs at least one key")
        self.clusterID = Sealing.clusterID(cluster)
        self.keys = keys
        self.receiver = receiver
        self.senders = senders.subtracting([receiver])
    }

    /// Opens one packet (all the readable bytes of `buffer`).
    public mutating func open(_ buffer: ByteBuffer) -> Result<Opened, Rejection> {
        let result = openUncounted(buffer)
        if case .failure(let rejection) = result { rejections[rejection.reason, default: 0] += 1 }
        return result
    }

    /// The total number of rejected packets.
    public var rejectedCount: Int { rejections.values.reduce(0, +) }

    private mutating func openUncounted(_ buffer: ByteBuffer) -> Result<Opened, Rejection> {
        let size = buffer.readableBytes
        if size > Self.maxPacketBytes {
            return .failure(Rejection(.oversized, "packet of \(size) bytes, over the limit of \(Self.maxPacketBytes)"))
        }
        // The checks read the packet in place; only what authenticates is copied.
        return buffer.withUnsafeReadableBytes { openUncounted($0) }
    }

    private mutating func openUncounted(_ bytes: UnsafeRawBufferPointer) -> Result<Opened, Rejection> {
        let size = bytes.count
        guard size >= 4 else {
            return .failure(Rejection(.truncated, "packet of \(size) bytes is shorter than a header"))
        }
        guard bytes[0] == Sealing.magic[0], bytes[1] == Sealing.magic[1], bytes[2] == Sealing.magic[2] else {
            return .failure(Rejection(.badMagic, "packet does not start with TDM"))
        }
        guard bytes[3] == Sealing.version else {
            let version = bytes[3]
            return .failure(Rejection(.unsupportedVersion, "header version \(version), this build reads \(Sealing.version)"))
        }
        guard size >= Sealing.minimumPacketBytes else {
            return .failure(Rejection(.truncated, "packet of \(size) bytes is shorter than the smallest packet (\(Sealing.minimumPacketBytes))"))
        }
        guard let channel = WireChannel(rawValue: bytes[4]) else {
            let raw = bytes[4]
            return .failure(Rejection(.unsupportedVersion, "unknown channel \(raw)"))
        }
        guard bytes[5..<13].elementsEqual(clusterID) else {
            let (theirs, ours) = (Array(bytes[5..<13]), clusterID)
            return .failure(Rejection(.foreignCluster, "cluster id \(hex(theirs)) is not this cluster's \(hex(ours))"))
        }
        let nameLength = Int(bytes[13])
        guard nameLength >= 1, nameLength <= Sealing.maxSenderBytes else {
            return .failure(Rejection(.unknownSender, "sender name of \(nameLength) bytes (must be 1...\(Sealing.maxSenderBytes))"))
        }
        let headerLength = 14 + nameLength + 16
        guard size >= headerLength + Sealing.tagBytes else {
            return .failure(Rejection(.truncated, "packet of \(size) bytes is shorter than its header and tag (\(headerLength + Sealing.tagBytes))"))
        }
        guard let name = String(validating: bytes[14..<(14 + nameLength)], as: UTF8.self) else {
            return .failure(Rejection(.unknownSender, "sender name is not valid UTF-8"))
        }
        let sender = NodeID(name)
        if sender == receiver {
            let receiver = receiver
            return .failure(Rejection(.selfSent, "packet claims to come from this node (\(receiver))"))
        }
        guard senders.contains(sender) else {
            return .failure(Rejection(.unknownSender, "sender \(name.debugDescription) is not a node of this cluster"))
        }
        let incarnation = littleEndian(bytes, at: 14 + nameLength)
        let counter = littleEndian(bytes, at: 22 + nameLength)
        @Sendable func from() -> String { "from \(sender) (incarnation \(incarnation), \(channel) counter \(counter))" }

        // Cheap checks before any cryptography; neither changes any state.
        let newest = incarnations[sender]
        if let newest, incarnation < newest {
            return .failure(Rejection(.staleIncarnation, "\(from()): the newest incarnation seen is \(newest)"))
        }
        let windowID = WindowID(sender: sender, channel: channel)
        if let newest, incarnation == newest, let problem = windows[windowID]?.problem(counter, incarnation: incarnation) {
            return .failure(Rejection(.duplicate, "\(from()): \(problem)"))
        }

        // Authenticate under each key, the cached subkeys first. ChaChaPoly's box is the
        // nonce, the ciphertext and the tag, the last two as they lie in the packet.
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let header = Data(bytes: base, count: headerLength)
        var combined = Data(capacity: 12 + size - headerLength)
        combined.append(contentsOf: Sealing.nonceBytes(counter))
        combined.append(base + headerLength, count: size - headerLength)
        guard let box = try? ChaChaPoly.SealedBox(combined: combined) else {
            return .failure(Rejection(.truncated, "\(from()): malformed sealed box"))
        }
        var plaintext: [UInt8]?
        var usedKey: (id: SubKeyID, key: SubKey)?
        for index in keys.indices {
            let id = SubKeyID(key: index, sender: sender, incarnation: incarnation, channel: channel)
            let key = subkeys[id] ?? SubKey(key: Sealing.subkey(
                key: keys[index], clusterID: clusterID, sender: Array(name.utf8), incarnation: incarnation,
                channel: channel))
            if let opened = try? ChaChaPoly.open(box, using: key.key, authenticating: header) {
                plaintext = Array(opened)
                usedKey = (id, key)
                break
            }
        }
        guard let plaintext, let usedKey else {
            let ids = keys.map(\.id)
            return .failure(Rejection(.forged, "\(from()): authentication failed under \(ids.count == 1 ? "the key" : "every key") (\(ids.joined(separator: ", ")))"))
        }

        // Authentic: now the state may change.
        if newest == nil || incarnation > newest! {
            incarnations[sender] = incarnation
            subkeys = subkeys.filter { $0.key.sender != sender || $0.key.incarnation == incarnation }
        }
        subkeys[usedKey.id] = usedKey.key
        if windows[windowID]?.incarnation != incarnation { windows[windowID] = ReplayWindow(incarnation: incarnation) }
        if let problem = windows[windowID]!.problem(counter, incarnation: incarnation) {
            // Unreachable after the check above, kept as the rule's last word.
            return .failure(Rejection(.duplicate, "\(from()): \(problem)"))
        }
        // In place: the window's bitmap is not copied.
        windows[windowID]!.accept(counter)

        do {
            let payload = try WireCodec.decodePayload(plaintext)
            return .success(Opened(sender: sender, incarnation: incarnation, counter: counter, channel: channel, payload: payload))
        } catch {
            return .failure(Rejection(.malformed, "\(from()): authentic but does not decode: \(error)"))
        }
    }

    private func littleEndian(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
        return value
    }
}

/// The sliding replay window of one (sender, channel, incarnation), as in IPsec and
/// WireGuard: the newest counter accepted and a bitmap of the `size` counters up to it.
struct ReplayWindow: Sendable, Equatable {
    static let size = 1024
    private static let words = size / 64

    let incarnation: Incarnation
    /// The newest counter accepted, or nil before the first.
    private(set) var newest: UInt64?
    /// Bit `c % size` is set when counter `c` (within the window) was accepted.
    private var bits = [UInt64](repeating: 0, count: words)

    init(incarnation: Incarnation) { self.incarnation = incarnation }

    /// Why a counter cannot be accepted.
    enum Problem: Sendable, Equatable, CustomStringConvertible {
        case tooOld(counter: UInt64, newest: UInt64)
        case alreadyAccepted(counter: UInt64)

        var description: String {
            switch self {
            case .tooOld(let counter, let newest):
                "counter \(counter) is older than the replay window (newest \(newest), window \(ReplayWindow.size))"
            case .alreadyAccepted(let counter): "counter \(counter) already accepted"
            }
        }
    }

    /// Why `counter` of `incarnation` cannot be accepted, or nil if it can (a window of an
    /// older incarnation has nothing to say).
    func problem(_ counter: UInt64, incarnation: Incarnation) -> Problem? {
        guard incarnation == self.incarnation, let newest, counter <= newest else { return nil }
        if newest - counter >= UInt64(Self.size) { return .tooOld(counter: counter, newest: newest) }
        return isSet(counter) ? .alreadyAccepted(counter: counter) : nil
    }

    /// Records `counter` as accepted. Precondition: `problem(counter, incarnation: incarnation) == nil`.
    mutating func accept(_ counter: UInt64) {
        if let newest, counter <= newest {
            set(counter)
            return
        }
        if let newest, counter - newest < UInt64(Self.size) {
            // Clear the slots of the counters skipped over (they leave the window's past).
            var c = newest + 1
            while c < counter {
                clear(c)
                c += 1
            }
        } else {
            for index in bits.indices { bits[index] = 0 }
        }
        newest = counter
        set(counter)
    }

    private func isSet(_ counter: UInt64) -> Bool {
        let slot = Int(counter % UInt64(Self.size))
        return bits[slot / 64] & (1 << UInt64(slot % 64)) != 0
    }

    private mutating func set(_ counter: UInt64) {
        let slot = Int(counter % UInt64(Self.size))
        bits[slot / 64] |= 1 << UInt64(slot % 64)
    }

    private mutating func clear(_ counter: UInt64) {
        let slot = Int(counter % UInt64(Self.size))
        bits[slot / 64] &= ~(1 << UInt64(slot % 64))
    }
}
