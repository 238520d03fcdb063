/// Identifiers, time and small value types shared by every part of the core.

/// A node's name in the cluster configuration (`a`, `b`, `w`). Unique per cluster.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let name: String
    public init(_ name: String) { self.name = name }
    public init(stringLiteral value: String) { self.name = value }
    public var description: String { name }
    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.name < rhs.name }
}

/// A service group's name: the unit that fails over (DESIGN §2).
public struct GroupID: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let name: String
    public init(_ name: String) { self.name = name }
    public init(stringLiteral value: String) { self.name = value }
    public var description: String { name }
    public static func < (lhs: GroupID, rhs: GroupID) -> Bool { lhs.name < rhs.name }
}

/// A Raft term.
public typealias Term = UInt64
/// A position in the replicated log (1-based; 0 means "before the first entry").
public typealias LogIndex = UInt64
/// The fencing token of a group: it increases every time the group changes owner (rule 6).
public typealias Epoch = UInt64
/// A node's boot counter, kept on disk and increased at every start; stamps carry it (rule 2).
public typealias Incarnation = UInt64

/// A reading of one node's monotonic clock, in nanoseconds. Readings of different nodes are
/// not comparable: every rule compares a node's readings only with its own (DESIGN §4).
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public static let zero = Instant(nanoseconds: 0)
    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
    public static func + (lhs: Instant, rhs: Duration) -> Instant {
        Instant(nanoseconds: lhs.nanoseconds &+ rhs.nanoseconds)
    }
    public static func - (lhs: Instant, rhs: Duration) -> Instant {
        Instant(nanoseconds: lhs.nanoseconds &- rhs.nanoseconds)
    }
    public static func - (lhs: Instant, rhs: Instant) -> Duration {
        .nanoseconds(lhs.nanoseconds &- rhs.nanoseconds)
    }
    public var description: String { formatMilliseconds(nanoseconds) }
}

extension Duration {
    /// The duration in whole nanoseconds (truncated), for arithmetic on `Instant`s.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
    }
    /// The duration in milliseconds, as a floating-point number (for reports).
    public var milliseconds: Double { Double(nanoseconds) / 1e6 }
}

/// "12.345ms": a nanosecond count written as milliseconds with three decimals.
public func formatMilliseconds(_ nanoseconds: Int64) -> String {
    let sign = nanoseconds < 0 ? "-" : ""
    let magnitude = nanoseconds.magnitude
    let whole = magnitude / 1_000_000
    let fraction = (magnitude % 1_000_000) / 1_000
    let padded = String(fraction)
    return "\(sign)\(whole).\(String(repeating: "0", count: 3 - padded.count))\(padded)ms"
}

/// A small deterministic pseudo-random generator (SplitMix64). The core draws all of its
/// randomness (election jitter) from one of these, seeded by its caller, so that a run is
/// a function of its inputs.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { self.state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// FNV-1a, 64 bits: a deterministic digest for comparing replicated state across nodes.
public struct Digest: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    public init() {}
    public mutating func add(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            value ^= UInt64(byte)
            value &*= 0x0000_0100_0000_01B3
        }
    }
    public mutating func add(_ string: String) { add(string.utf8); add(CollectionOfOne(0xFF)) }
    public mutating func add(_ number: UInt64) {
        withUnsafeBytes(of: number.littleEndian) { add($0) }
    }
}
