import TandemCore

/// The messages nodes send each other (`Message` and its parts).

enum MessageTag: UInt8 {
    case preVote = 0, preVoteReply, vote, voteReply, append, appendReply, snapshot, timeoutNow
    case released, activated, releaseRequest, report, forward, refused, answered, readIndex, readIndexReply
}

/// The longest remaining standing a `TimeoutNow` may claim (2⁶⁰ ns, about 36 years): the
/// core turns it into a deadline with floating-point arithmetic that must stay in range.
let maxStandingLeftNanoseconds: Int128 = 1 << 60

extension WireWriter {
    mutating func message(_ message: Message) {
        switch message {
        case .preVote(let request):
            u8(MessageTag.preVote.rawValue)
            voteRequest(request)
        case .preVoteReply(let reply):
            u8(MessageTag.preVoteReply.rawValue)
            voteReply(reply)
        case .vote(let request):
            u8(MessageTag.vote.rawValue)
            voteRequest(request)
        case .voteReply(let reply):
            u8(MessageTag.voteReply.rawValue)
            voteReply(reply)
        case .append(let append):
            u8(MessageTag.append.rawValue)
            self.append(append)
        case .appendReply(let reply):
            u8(MessageTag.appendReply.rawValue)
            appendReply(reply)
        case .snapshot(let transfer):
            u8(MessageTag.snapshot.rawValue)
            varint(transfer.term)
            snapshot(transfer.snapshot)
            varint(transfer.round)
        case .timeoutNow(let timeout):
            u8(MessageTag.timeoutNow.rawValue)
            varint(timeout.term)
            duration(timeout.standingLeft)
        case .released(let term, let group, let epoch):
            u8(MessageTag.released.rawValue)
            termGroupEpoch(term, group, epoch)
        case .activated(let term, let group, let epoch):
            u8(MessageTag.activated.rawValue)
            termGroupEpoch(term, group, epoch)
        case .releaseRequest(let term, let group, let epoch):
            u8(MessageTag.releaseRequest.rawValue)
            termGroupEpoch(term, group, epoch)
        case .report(let term, let report):
            u8(MessageTag.report.rawValue)
            varint(term)
            nodeReport(report)
        case .forward(let term, let origin, let request):
            u8(MessageTag.forward.rawValue)
            varint(term)
            requestOrigin(origin)
            self.request(request)
        case .refused(let origin, let refusal):
            u8(MessageTag.refused.rawValue)
            requestOrigin(origin)
            self.refusal(refusal)
        case .answered(let origin, let response):
            u8(MessageTag.answered.rawValue)
            requestOrigin(origin)
            self.response(response)
        case .readIndex(let term, let origin):
            u8(MessageTag.readIndex.rawValue)
            varint(term)
            requestOrigin(origin)
        case .readIndexReply(let term, let origin, let index):
            u8(MessageTag.readIndexReply.rawValue)
            varint(term)
            requestOrigin(origin)
            varint(index)
        }
    }

    mutating func termGroupEpoch(_ term: Term, _ group: GroupID, _ epoch: Epoch) {
        varint(term)
        self.group(group)
        varint(epoch)
    }

    mutating func voteRequest(_ request: VoteRequest) {
        varint(request.term)
        varint(request.lastIndex)
        varint(request.lastTerm)
        bool(request.transfer)
    }

    mutating func voteReply(_ reply: VoteReply) {
        varint(reply.term)
        bool(reply.granted)
    }

    mutating func append(_ append: Append) {
        varint(append.term)
        varint(append.prevIndex)
        varint(append.prevTerm)
        array(append.entries) { $0.entry($1) }
        varint(append.commit)
        varint(append.round)
        dictionary(append.owned, key: { $0.group($1) }, value: { $0.varint($1) })
        optional(append.echo) { $0.stamp($1) }
    }

    mutating func appendReply(_ reply: AppendReply) {
        varint(reply.term)
        bool(reply.success)
        varint(reply.match)
        varint(reply.round)
        optional(reply.stamp) { $0.stamp($1) }
        varint(reply.applied)
    }

    mutating func stamp(_ stamp: Stamp) {
        signed(stamp.at.nanoseconds)
        varint(stamp.incarnation)
    }

    mutating func duration(_ duration: Duration) { signed128(duration.attoseconds) }
}

extension WireReader {
    mutating func message() throws -> Message {
        switch try tag(MessageTag.self, "Message") {
        case .preVote:
            return .preVote(try field("preVote") { try $0.voteRequest() })
        case .preVoteReply:
            return .preVoteReply(try field("preVoteReply") { try $0.voteReply() })
        case .vote:
            return .vote(try field("vote") { try $0.voteRequest() })
        case .voteReply:
            return .voteReply(try field("voteReply") { try $0.voteReply() })
        case .append:
            return .append(try field("append") { try $0.append() })
        case .appendReply:
            return .appendReply(try field("appendReply") { try $0.appendReply() })
        case .snapshot:
            return try field("snapshot") { r in
                let term = try r.field("term") { try $0.counter() }
                let snapshot = try r.field("snapshot") { try $0.snapshot() }
                let round = try r.field("round") { try $0.varint() }
                return .snapshot(SnapshotTransfer(term: term, snapshot: snapshot, round: round))
            }
        case .timeoutNow:
            return try field("timeoutNow") { r in
                let term = try r.field("term") { try $0.counter() }
                let left = try r.field("standingLeft") { r in
                    let left = try r.duration()
                    guard left >= .zero, left.attoseconds / 1_000_000_000 <= maxStandingLeftNanoseconds else {
                        throw r.invalid("remaining standing \(left) is outside 0...2^60 ns")
                    }
                    return left
                }
                return .timeoutNow(TimeoutNow(term: term, standingLeft: left))
            }
        case .released:
            return try field("released") { r in
                let (term, group, epoch) = try r.termGroupEpoch()
                return .released(term: term, group: group, epoch: epoch)
            }
        case .activated:
            return try field("activated") { r in
                let (term, group, epoch) = try r.termGroupEpoch()
                return .activated(term: term, group: group, epoch: epoch)
            }
        case .releaseRequest:
            return try field("releaseRequest") { r in
                let (term, group, epoch) = try r.termGroupEpoch()
                return .releaseRequest(term: term, group: group, epoch: epoch)
            }
        case .report:
            return try field("report") { r in
                let term = try r.field("term") { try $0.counter() }
                let report = try r.nodeReport()
                return .report(term: term, report)
            }
        case .forward:
            return try field("forward") { r in
                let term = try r.field("term") { try $0.counter() }
                let origin = try r.field("origin") { try $0.requestOrigin() }
                let request = try r.field("request") { try $0.request() }
                return .forward(term: term, origin: origin, request)
            }
        case .refused:
            return try field("refused") { r in
                let origin = try r.field("origin") { try $0.requestOrigin() }
                let refusal = try r.field("refusal") { try $0.refusal() }
                return .refused(origin: origin, refusal)
            }
        case .answered:
            return try field("answered") { r in
                let origin = try r.field("origin") { try $0.requestOrigin() }
                let response = try r.field("response") { try $0.response() }
                return .answered(origin: origin, response)
            }
        case .readIndex:
            return try field("readIndex") { r in
                let term = try r.field("term") { try $0.counter() }
                let origin = try r.field("origin") { try $0.requestOrigin() }
                return .readIndex(term: term, origin: origin)
            }
        case .readIndexReply:
            return try field("readIndexReply") { r in
                let term = try r.field("term") { try $0.counter() }
                let origin = try r.field("origin") { try $0.requestOrigin() }
                let index = try r.field("index") { try $0.counter() }
                return .readIndexReply(term: term, origin: origin, index: index)
            }
        }
    }

    mutating func termGroupEpoch() throws -> (Term, GroupID, Epoch) {
        let term = try field("term") { try $0.counter() }
        let group = try field("group") { try $0.group() }
        let epoch = try field("epoch") { try $0.counter() }
        return (term, group, epoch)
    }

    mutating func voteRequest() throws -> VoteRequest {
        let term = try field("term") { try $0.counter() }
        let lastIndex = try field("lastIndex") { try $0.counter() }
        let lastTerm = try field("lastTerm") { try $0.counter() }
        let transfer = try field("transfer") { try $0.bool() }
        return VoteRequest(term: term, lastIndex: lastIndex, lastTerm: lastTerm, transfer: transfer)
    }

    mutating func voteReply() throws -> VoteReply {
        let term = try field("term") { try $0.counter() }
        let granted = try field("granted") { try $0.bool() }
        return VoteReply(term: term, granted: granted)
    }

    mutating func append() throws -> Append {
        let term = try field("term") { try $0.counter() }
        let prevIndex = try field("prevIndex") { try $0.counter() }
        let prevTerm = try field("prevTerm") { try $0.counter() }
        // The follower appends the entries one by one after `prevIndex`: a gap would trap it.
        let entries = try field("entries") { r in
            // Each entry is at least three bytes (term, index, command tag).
            let count = try r.count(minimumElementBytes: 3)
            var entries: [Entry] = []
            entries.reserveCapacity(WireReader.initialCapacity(count))
            for offset in 0..<count {
                entries.append(try r.element(offset) { r in
                    let entry = try r.entry()
                    let expected = prevIndex + 1 + UInt64(offset)
                    if entry.index != expected {
                        throw r.invalid("entry index \(entry.index), expected \(expected): entries must follow prevIndex \(prevIndex) one by one")
                    }
                    return entry
                })
            }
            return entries
        }
        let commit = try field("commit") { try $0.counter() }
        let round = try field("round") { try $0.varint() }
        let owned = try field("owned") { try $0.dictionary(key: { try $0.group() }, value: { try $0.counter() }) }
        let echo = try field("echo") { try $0.optional { try $0.stamp() } }
        return Append(
            term: term, prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: commit, round: round,
            owned: owned, echo: echo)
    }

    mutating func appendReply() throws -> AppendReply {
        let term = try field("term") { try $0.counter() }
        let success = try field("success") { try $0.bool() }
        let match = try field("match") { try $0.counter() }
        let round = try field("round") { try $0.varint() }
        let stamp = try field("stamp") { try $0.optional { try $0.stamp() } }
        let applied = try field("applied") { try $0.counter() }
        return AppendReply(term: term, success: success, match: match, round: round, stamp: stamp, applied: applied)
    }

    mutating func stamp() throws -> Stamp {
        let at = try field("at") { try $0.signed() }
        let incarnation = try field("incarnation") { try $0.varint() }
        return Stamp(at: Instant(nanoseconds: at), incarnation: incarnation)
    }

    mutating func duration() throws(WireError) -> Duration { Duration(attoseconds: try signed128()) }
}
