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
    /// Your newest `limit` events, please (a cluster-wide timeline).
    case eventsQuery(id: UInt64, limit: UInt32)
    /// The answer: the node's newest events, oldest first.
    case eventsAnswer(id: UInt64, events: [RecordedEvent])
    /// A drill's fault: start it now on the receiving node, and end it after `milliseconds`
    /// whatever happens (or when `drillEnd` comes).
    case drillFault(id: UInt64, drill: UInt64, fault: DrillFault, milliseconds: UInt32)
    /// End drill `drill`'s fault now.
    case drillEnd(id: UInt64, drill: UInt64)
    /// The answer to a fault or an end: "" when done, else why not.
    case drillAck(id: UInt64, problem: String)
    /// What has this node applied, and what is its KV store's digest?
    case digestQuery(id: UInt64)
    case digestAnswer(id: UInt64, applied: UInt64, kvRevision: UInt64, digest: UInt64)

    /// The query an answer answers (nil for a query).
    public var answers: UInt64? {
        switch self {
        case .configChecked(let id, _), .eventsAnswer(let id, _), .drillAck(let id, _), .digestAnswer(let id, _, _, _): id
        case .configCheck, .eventsQuery, .drillFault, .drillEnd, .digestQuery: nil
        }
    }
}

/// A fault a drill injects into one node's agent (it always ends at its time limit).
public enum DrillFault: Sendable, Equatable, CustomStringConvertible {
    /// As if the node lost power: every link silent, its groups' resources stopped at once.
    case powerLoss
    /// Every link silent; the node keeps running (it must demote itself).
    case isolation
    /// One link silent (0-based).
    case link(UInt8)
    /// The group's health reported failing on this node.
    case service(GroupID)

    public var description: String {
        switch self {
        case .powerLoss: "power loss (every link silent, resources stopped)"
        case .isolation: "isolation (every link silent)"
        case .link(let k): "link \(Int(k) + 1) silent"
        case .service(let group): "\(group) reported failing"
        }
    }
}

enum DrillFaultTag: UInt8 {
    case powerLoss = 0, isolation, link, service
}

/// An event as a node's store recorded it: its id there and its wall-clock time (ms).
public struct RecordedEvent: Sendable, Equatable {
    public var id: Int64
    public var wallTime: Int64
    public var event: Event
    public init(id: Int64, wallTime: Int64, event: Event) {
        self.id = id
        self.wallTime = wallTime
        self.event = event
    }
}

enum AgentMessageTag: UInt8 {
    case configCheck = 0, configChecked, eventsQuery, eventsAnswer, drillFault, drillEnd, drillAck, digestQuery, digestAnswer
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
            case .eventsQuery(let id, let limit):
                w.u8(AgentMessageTag.eventsQuery.rawValue)
                w.varint(id)
                w.varint(UInt64(limit))
            case .eventsAnswer(let id, let events):
                w.u8(AgentMessageTag.eventsAnswer.rawValue)
                w.varint(id)
                w.array(events) { w, recorded in
                    w.signed(recorded.id)
                    w.signed(recorded.wallTime)
                    let e = recorded.event
                    w.string(e.kind.name)
                    w.node(e.node)
                    w.varint(e.term)
                    w.optional(e.group) { $0.group($1) }
                    w.optional(e.epoch) { $0.varint($1) }
                    w.string(e.reason)
                    w.string(e.evidence)
                }
            case .drillFault(let id, let drill, let fault, let milliseconds):
                w.u8(AgentMessageTag.drillFault.rawValue)
                w.varint(id)
                w.varint(drill)
                switch fault {
                case .powerLoss: w.u8(DrillFaultTag.powerLoss.rawValue)
                case .isolation: w.u8(DrillFaultTag.isolation.rawValue)
                case .link(let k):
                    w.u8(DrillFaultTag.link.rawValue)
                    w.u8(k)
                case .service(let group):
                    w.u8(DrillFaultTag.service.rawValue)
                    w.group(group)
                }
                w.varint(UInt64(milliseconds))
            case .drillEnd(let id, let drill):
                w.u8(AgentMessageTag.drillEnd.rawValue)
                w.varint(id)
                w.varint(drill)
            case .drillAck(let id, let problem):
                w.u8(AgentMessageTag.drillAck.rawValue)
                w.varint(id)
                w.string(problem)
            case .digestQuery(let id):
                w.u8(AgentMessageTag.digestQuery.rawValue)
                w.varint(id)
            case .digestAnswer(let id, let applied, let kvRevision, let digest):
                w.u8(AgentMessageTag.digestAnswer.rawValue)
                w.varint(id)
                w.varint(applied)
                w.varint(kvRevision)
                w.varint(digest)
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
                    case .eventsQuery:
                        let id = try r.field("id") { try $0.varint() }
                        let limit = try r.field("limit") { r in
                            let value = try r.varint()
                            guard value <= UInt64(UInt32.max) else { throw r.invalid("limit \(value) is beyond 2^32-1") }
                            return UInt32(value)
                        }
                        return .eventsQuery(id: id, limit: limit)
                    case .eventsAnswer:
                        let id = try r.field("id") { try $0.varint() }
                        // An event is at least eight bytes (two numbers, four strings, two markers).
                        let events = try r.field("events") { r in
                            try r.array(minimumElementBytes: 8) { r in
                                let stored = try r.field("id") { try $0.signed() }
                                let wallTime = try r.field("wallTime") { try $0.signed() }
                                let kind = try r.field("kind") { try $0.string() }
                                let node = try r.field("node") { try $0.node() }
                                let term = try r.field("term") { try $0.varint() }
                                let group = try r.field("group") { try $0.optional { try $0.group() } }
                                let epoch = try r.field("epoch") { try $0.optional { try $0.varint() } }
                                let reason = try r.field("reason") { try $0.string() }
                                let evidence = try r.field("evidence") { try $0.string() }
                                return RecordedEvent(id: stored, wallTime: wallTime, event: Event(
                                    kind: Event.Kind(kind), node: node, term: term, group: group, epoch: epoch,
                                    reason: reason, evidence: evidence))
                            }
                        }
                        return .eventsAnswer(id: id, events: events)
                    case .drillFault:
                        let id = try r.field("id") { try $0.varint() }
                        let drill = try r.field("drill") { try $0.varint() }
                        let fault = try r.field("fault") { r -> DrillFault in
                            switch try r.tag(DrillFaultTag.self, "DrillFault") {
                            case .powerLoss: return .powerLoss
                            case .isolation: return .isolation
                            case .link: return .link(try r.field("link") { try $0.u8() })
                            case .service: return .service(try r.field("group") { try $0.group() })
                            }
                        }
                        let milliseconds = try r.field("milliseconds") { r in
                            let value = try r.varint()
                            guard value <= UInt64(UInt32.max) else { throw r.invalid("\(value) ms is beyond 2^32-1") }
                            return UInt32(value)
                        }
                        return .drillFault(id: id, drill: drill, fault: fault, milliseconds: milliseconds)
                    case .drillEnd:
                        let id = try r.field("id") { try $0.varint() }
                        let drill = try r.field("drill") { try $0.varint() }
                        return .drillEnd(id: id, drill: drill)
                    case .drillAck:
                        let id = try r.field("id") { try $0.varint() }
                        let problem = try r.field("problem") { try $0.string() }
                        return .drillAck(id: id, problem: problem)
                    case .digestQuery:
                        return .digestQuery(id: try r.field("id") { try $0.varint() })
                    case .digestAnswer:
                        let id = try r.field("id") { try $0.varint() }
                        let applied = try r.field("applied") { try $0.varint() }
                        let kvRevision = try r.field("kvRevision") { try $0.varint() }
                        let digest = try r.field("digest") { try $0.varint() }
                        return .digestAnswer(id: id, applied: applied, kvRevision: kvRevision, digest: digest)
                    }
                })
            }
        }
    }
}
