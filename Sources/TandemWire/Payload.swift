import TandemCore

/// What one sealed datagram or frame carries: a core message, a link probe, or a message
/// between the agents' runtimes.
public enum Payload: Sendable, Equatable {
    /// A message for the core (`Input.message`).
    case core(Message)
    /// A per-link RTT probe or its reply; never shown to the core.
    case probe(Probe)
    /// Between runtimes, never shown to the core.
    case agent(AgentMessage)
}

/// What the runtimes say to each other outside the protocol.
public enum AgentMessage: Sendable, Equatable {
    /// Would you take this configuration file as the next revision? (Checked on every
    /// reachable node before a revision is proposed.)
    case configCheck(id: UInt64, document: String)
    /// The answer: no problems, or why this node would refuse it.
    case configChecked(id: UInt64, problems: [String])
}

enum AgentMessageTag: UInt8 {
    case configCheck = 0, configChecked
}

/// A link probe: a node sends one on link `link`, the peer replies on the same link echoing
/// `sequence` and `sentAt` with `isReply` set; the sender's RTT for that link is its clock now
/// minus `sentAt`. Only the sender ever reads `sentAt` (clocks of different nodes are not
/// comparable).
public struct Probe: Sendable, Equatable {
    /// The link index (0-based, below the node's link count: at most 8 links).
    public var link: UInt8
    /// The sender's probe sequence number on that link.
    public var sequence: UInt64
    /// The original sender's monotonic clock when it sent the probe, in nanoseconds.
    public var sentAt: Int64
    /// False on the probe, true on the echo.
    public var isReply: Bool

    public init(link: UInt8, sequence: UInt64, sentAt: Int64, isReply: Bool) {
        self.link = link
        self.sequence = sequence
        self.sentAt = sentAt
        self.isReply = isReply
    }

    /// The answer to this probe: the same link, sequence and `sentAt`, marked as a reply.
    public var reply: Probe { Probe(link: link, sequence: sequence, sentAt: sentAt, isReply: true) }
}

enum PayloadTag: UInt8 {
    case core = 0, probe, agent
}

extension WireCodec {
    /// The encoding of a payload (the plaintext that `Sealer` seals): the format version, a
    /// tag, then the message or the probe.
    public static func encode(_ payload: Payload) -> [UInt8] {
        var w = WireWriter(capacity: 64)
        w.u8(version)
        switch payload {
        case .core(let message):
            w.u8(PayloadTag.core.rawValue)
            w.message(message)
        case .probe(let probe):
            w.u8(PayloadTag.probe.rawValue)
            w.u8(probe.link)
            w.varint(probe.sequence)
            w.signed(probe.sentAt)
            w.bool(probe.isReply)
        case .agent(let message):
            w.u8(PayloadTag.agent.rawValue)
            switch message {
            case .configCheck(let id, let document):
                w.u8(AgentMessageTag.configCheck.rawValue)
                w.varint(id)
                w.string(document)
            case .configChecked(let id, let problems):
                w.u8(AgentMessageTag.configChecked.rawValue)
                w.varint(id)
                w.array(problems) { $0.string($1) }
            }
        }
        return w.bytes
    }

    /// Decodes a payload from exactly `bytes`.
    public static func decodePayload(_ bytes: [UInt8]) throws(WireError) -> Payload {
        try decode(bytes, root: "Payload") { r in
            switch try r.tag(PayloadTag.self, "Payload") {
            case .core:
                return .core(try r.field("core") { try $0.message() })
            case .probe:
                return try r.field("probe") { r in
                    let link = try r.field("link") { try $0.u8() }
                    let sequence = try r.field("sequence") { try $0.varint() }
                    let sentAt = try r.field("sentAt") { try $0.signed() }
                    let isReply = try r.field("isReply") { try $0.bool() }
                    return .probe(Probe(link: link, sequence: sequence, sentAt: sentAt, isReply: isReply))
                }
            case .agent:
                return .agent(try r.field("agent") { r in
                    switch try r.tag(AgentMessageTag.self, "AgentMessage") {
                    case .configCheck:
                        let id = try r.field("id") { try $0.varint() }
                        let document = try r.field("document") { try $0.string() }
                        return .configCheck(id: id, document: document)
                    case .configChecked:
                        let id = try r.field("id") { try $0.varint() }
                        let problems = try r.field("problems") { try $0.array { try $0.string() } }
                        return .configChecked(id: id, problems: problems)
                    }
                })
            }
        }
    }
}
