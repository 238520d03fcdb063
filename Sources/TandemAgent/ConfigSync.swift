#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import TandemConfig
import TandemCore
import TandemStore
import TandemWire

extension Event.Kind {
    /// A configuration revision applied on a node (or not: the reason says why).
    public static let config = Event.Kind("config")
}

/// One revision of the configuration as the API shows it.
public struct ConfigView: Codable, Sendable, Equatable {
    public var revision: UInt64
    /// The file (YAML).
    public var document: String
    /// Who made it and when; "the nodes' files" for the revision every node started from.
    public var author: String
    public var time: String
    /// The log index that made it current (0: it came from the nodes' files).
    public var index: UInt64
    /// Whether it is the cluster's current revision.
    public var current: Bool
}

/// A configuration change carried out, or checked only (`dry_run`).
public struct ConfigChangeResult: Codable, Sendable, Equatable {
    public var revision: UInt64
    /// The log index that made it current; nil for a dry run.
    public var index: UInt64?
    /// The nodes that checked it and would take it (this node included).
    public var checkedBy: [String]
    /// Nodes no link reached: they check it when they apply it, and raise an alarm if they cannot.
    public var unreachable: [String]
}

/// Why a configuration change was not made: an API error code and status, a message, and
/// each node's problems.
public struct ConfigChangeError: Error, Sendable, Equatable {
    public var code: String
    public var status: Int
    public var message: String
    /// Per node, what it would refuse.
    public var problems: [String: [String]]
}

extension NodeRuntime {
    /// How long the nodes have to answer a configuration check.
    static let configCheckTimeout: Duration = .seconds(3)

    // MARK: - Reading

    /// The current revision, or revision `revision` from the history.
    public func config(revision: UInt64? = nil) -> ConfigView? {
        let current = node.state.config.revision
        let wanted = revision ?? current
        if let record = node.state.configHistory.last(where: { $0.revision == wanted }) {
            return ConfigView(
                revision: record.revision, document: record.source.document, author: record.source.author,
                time: record.source.time, index: record.index, current: record.revision == current)
        }
        // No revision made through the log yet: every node runs its own file.
        if wanted == file.cluster.revision, let fileText {
            return ConfigView(
                revision: wanted, document: fileText, author: "the nodes' files", time: "", index: 0,
                current: wanted == current)
        }
        return nil
    }

    /// Every revision kept, oldest first, without their files.
    public func configHistory() -> [ConfigView] {
        let current = node.state.config.revision
        var history = node.state.configHistory.map {
            ConfigView(revision: $0.revision, document: "", author: $0.source.author, time: $0.source.time, index: $0.index,
                       current: $0.revision == current)
        }
        if history.isEmpty, let view = config() {
            history = [ConfigView(revision: view.revision, document: "", author: view.author, time: "", index: 0, current: view.current)]
        }
        return history
    }

    // MARK: - Changing

    /// Checks `document` as the next revision on every reachable node, then (unless
    /// `dryRun`) commits it through the log. Refused whole when any node would refuse it.
    public func changeConfig(document: String, who: String, dryRun: Bool) async -> Result<ConfigChangeResult, ConfigChangeError> {
        let current = node.state.config.revision
        let parsed: TandemFile
        do {
            parsed = try ConfigFile.parse(yaml: document, source: "the new configuration")
        } catch {
            return .failure(ConfigChangeError(
                code: "invalid_config", status: 400, message: "the configuration does not read: \(error.problems.count) problem(s)",
                problems: [id.name: error.problems.map(\.description)]))
        }
        let revision = parsed.cluster.revision
        guard revision > current else {
            return .failure(ConfigChangeError(
                code: "revision_conflict", status: 409,
                message: "revision \(revision) is not newer than the cluster's revision \(current); set revision: \(current + 1) (someone else may have changed it: read it again with GET /v1/config)",
                problems: [:]))
        }
        var problems: [String: [String]] = [:]
        let mine = configProblems(document).problems
        if !mine.isEmpty { problems[id.name] = mine }
        let peers = file.cluster.nodes.map(\.id).filter { $0 != id }
        let reachable = peers.filter { transport.isReachable($0) }
        let unreachable = peers.filter { !reachable.contains($0) }
        let answers = await askPeers(reachable, document)
        for peer in reachable {
            if let theirs = answers[peer] {
                if !theirs.isEmpty { problems[peer.name] = theirs }
            } else {
                problems[peer.name] = ["did not answer the check within \(Self.configCheckTimeout); try again"]
            }
        }
        guard problems.isEmpty else {
            let names = problems.keys.sorted().joined(separator: ", ")
            return .failure(ConfigChangeError(
                code: "config_rejected", status: 422, message: "revision \(revision) would be refused by \(names); nothing was changed",
                problems: problems))
        }
        let checked = ([id] + reachable).map(\.name)
        if dryRun {
            return .success(ConfigChangeResult(revision: revision, index: nil, checkedBy: checked, unreachable: unreachable.map(\.name)))
        }
        // The first change stores the file every node started from, for history and rollback.
        let baseline = node.state.configHistory.isEmpty && file.cluster.revision == current ? fileText : nil
        let source = ConfigSource(
            document: document, author: who, time: ISO8601DateFormatter().string(from: Date()), baseline: baseline)
        recordLocal(.config, reason: "\(who) asks for configuration revision \(revision)", evidence: "checked by \(checked.joined(separator: ", "))")
        let response = await requestRetryingWithoutLeader(
            .configure(parsed.cluster, source: source), until: AgentClock.now() + .seconds(10))
        switch response {
        case .done(let index):
            return .success(ConfigChangeResult(revision: revision, index: index, checkedBy: checked, unreachable: unreachable.map(\.name)))
        case .refused(let refusal):
            let (code, status) = switch refusal.code {
            case .invalid: refusal.message.contains("not newer") ? ("revision_conflict", 409) : ("config_rejected", 422)
            case .noLeader, .noQuorum: ("no_quorum", 503)
            case .timedOut, .outcomeUnknown: ("outcome_unknown", 504)
            default: (refusal.code.name, 409)
            }
            return .failure(ConfigChangeError(code: code, status: status, message: refusal.message, problems: [:]))
        default:
            return .failure(ConfigChangeError(code: "internal", status: 500, message: "unexpected answer \(response)", problems: [:]))
        }
    }

    /// Makes revision `revision` of the history current again, as a new revision.
    public func rollbackConfig(to revision: UInt64, who: String) async -> Result<ConfigChangeResult, ConfigChangeError> {
        let current = node.state.config.revision
        guard revision != current else {
            return .failure(ConfigChangeError(
                code: "revision_conflict", status: 409, message: "revision \(revision) is already the current one", problems: [:]))
        }
        guard let old = config(revision: revision) else {
            let kept = configHistory().map { String($0.revision) }.joined(separator: ", ")
            return .failure(ConfigChangeError(
                code: "not_found", status: 404,
                message: "revision \(revision) is not in the history (it keeps the last \(ReplicatedState.configHistoryLimit): \(kept))",
                problems: [:]))
        }
        let document = ConfigRevisions.document(old.document, withRevision: current + 1)
        return await changeConfig(document: document, who: "\(who) (rollback to revision \(revision))", dryRun: false)
    }

    /// Sends `document` to `peers` for a check and waits for their answers (at most
    /// `configCheckTimeout`).
    func askPeers(_ peers: [NodeID], _ document: String) async -> [NodeID: [String]] {
        let answers = await ask(peers, within: Self.configCheckTimeout) { .configCheck(id: $0, document: document) }
        return answers.compactMapValues { if case .configChecked(_, let problems) = $0 { problems } else { nil } }
    }

    /// Sends each of `peers` the query `make(id)` and waits for their answers, at most
    /// `timeout` (the silent ones are missing from the result).
    func ask(_ peers: [NodeID], within timeout: Duration, _ make: (UInt64) -> AgentMessage) async -> [NodeID: AgentMessage] {
        guard !peers.isEmpty else { return [:] }
        nextRequestID += 1
        let queryID = nextRequestID
        let timer = loop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) { [self] in
            self.assumeIsolated {
                guard let query = $0.peerQueries.removeValue(forKey: queryID) else { return }
                query.continuation.resume(returning: query.answers)
            }
        }
        let message = make(queryID)
        let answers = await withCheckedContinuation { continuation in
            peerQueries[queryID] = PeerQuery(waitingFor: Set(peers), answers: [:], continuation: continuation)
            for peer in peers { transport.send(.agent(message), to: peer) }
            transport.flush()
        }
        timer.cancel()
        return answers
    }

    /// A message from another runtime: a query to answer, or an answer to one of ours.
    func received(_ message: AgentMessage, from peer: NodeID) {
        if let queryID = message.answers {
            guard var query = peerQueries[queryID], query.waitingFor.remove(peer) != nil else { return }
            query.answers[peer] = message
            if query.waitingFor.isEmpty {
                peerQueries[queryID] = nil
                query.continuation.resume(returning: query.answers)
            } else {
                peerQueries[queryID] = query
            }
            return
        }
        let answer: AgentMessage
        switch message {
        case .configCheck(let queryID, let document):
            answer = .configChecked(id: queryID, problems: configProblems(document).problems)
        case .eventsQuery(let queryID, let limit):
            let events = (try? newestEvents(Int(min(limit, UInt32(AgentAPILimits.clusterEvents))))) ?? []
            answer = .eventsAnswer(id: queryID, events: events.map { RecordedEvent(id: $0.id, wallTime: $0.wallTime, event: $0.event) })
        case .drillFault, .drillEnd, .digestQuery:
            guard let reply = drillMessage(message) else { return }
            answer = reply
        case .configChecked, .eventsAnswer, .drillAck, .digestAnswer:
            return
        }
        transport.send(.agent(answer), to: peer)
        transport.flush()
    }

    /// What this node would refuse in `document` as the next revision: what does not read,
    /// what the log refuses (revision, name, timing, voters; skipped with `asNext` false,
    /// for a revision the log already made current), what needs a restart, and what this
    /// machine lacks (a VIP's interface on a node that may run the group).
    func configProblems(_ document: String, asNext: Bool = true) -> (file: TandemFile?, problems: [String]) {
        let new: TandemFile
        do {
            new = try ConfigFile.parse(yaml: document, source: "the new configuration")
        } catch {
            return (nil, error.problems.map(\.description))
        }
        var problems: [String] = []
        if asNext, let problem = ReplicatedState.changeProblem(from: node.state.config, to: new.cluster) {
            problems.append(problem)
        }
        problems += ConfigRevisions.restartOnlyChanges(from: file, to: new)
        for group in new.cluster.groups where new.cluster.candidates(for: group).contains(id) {
            for case .vip(let vip) in new.groupSpecs[group.id]?.resources ?? [] where if_nametoindex(vip.device) == 0 {
                problems.append("groups.\(group.id): vip \(vip.address) is on interface \(vip.device), which \(id) does not have")
            }
        }
        return (new, problems)
    }

    // MARK: - Applying

    /// After every step: a revision the log made current and this node does not run yet is
    /// applied (once per revision; a failure is an alarm until a later revision applies).
    func followConfig() {
        let target = node.state.config.revision
        guard target > file.cluster.revision, target != attemptedRevision else { return }
        attemptedRevision = target
        guard let record = node.state.configHistory.last(where: { $0.revision == target }) else {
            configProblem = "revision \(target) was made without a file (a node started with a newer --config file); \(id) still runs revision \(file.cluster.revision): apply the file through the API"
            recordLocal(.config, reason: "configuration revision \(target) not applied on \(id)", evidence: configProblem!)
            return
        }
        let (parsed, problems) = configProblems(record.source.document, asNext: false)
        var found = problems
        if let parsed, parsed.cluster != node.state.config {
            found.append("its file does not read as the configuration the log carries")
        }
        if found.isEmpty, let parsed {
            do {
                try AppliedConfigs.write(record.source.document, dataDir: file.dataDir, node: id, revision: target)
            } catch {
                found.append(error.description)
            }
            if found.isEmpty {
                let busy = Set(node.activeGroups.keys).union(groupsInFlight.filter { $0.value > 0 }.keys)
                hands.reconfigure(parsed, busy: busy)
                file = parsed
                fileText = record.source.document
                configProblem = nil
                recordLocal(.config, reason: "configuration revision \(target) applied on \(id)",
                            evidence: "made by \(record.source.author) at \(record.source.time), log index \(record.index)")
                feed(.running(software: TandemVersion.current, configRevision: target))
                return
            }
        }
        configProblem = "revision \(target) cannot be applied on \(id), which still runs revision \(file.cluster.revision): " + found.joined(separator: "; ")
        recordLocal(.config, reason: "configuration revision \(target) not applied on \(id)", evidence: found.joined(separator: "; "))
    }
}

/// A query to other runtimes waiting for their answers.
struct PeerQuery {
    var waitingFor: Set<NodeID>
    var answers: [NodeID: AgentMessage]
    var continuation: CheckedContinuation<[NodeID: AgentMessage], Never>
}
