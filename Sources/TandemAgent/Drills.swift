import Foundation
import Logging
import TandemConfig
import TandemCore
import TandemStore
import TandemWire

/// What a drill is asked to do (`POST /v1/drills`, `tandem drill run`).
public struct DrillRequest: Codable, Sendable, Equatable {
    /// switchover, active-failure, service-failure, link-failure, isolation, recovery, observe.
    public var scenario: String
    /// The group (default: the configuration's first).
    public var group: String?
    /// tcp://HOST:PORT, http://HOST:PORT/PATH or udp://HOST:PORT (a `tandem echo`).
    public var probe: String?
    /// The longest client-visible interruption that passes (default: none checked).
    public var maxInterruptionMs: Double?
    /// Who confirms the record (a person's name).
    public var `operator`: String?
    /// How long the fault lasts at most (default 10 s; at most 600 s): it ends then whatever
    /// happens to the drill.
    public var faultSeconds: Double?
    /// `observe`: how long to watch (default 60 s).
    public var observeSeconds: Double?

    public init(scenario: String, group: String? = nil, probe: String? = nil, maxInterruptionMs: Double? = nil,
                operator: String? = nil, faultSeconds: Double? = nil, observeSeconds: Double? = nil) {
        self.scenario = scenario
        self.group = group
        self.probe = probe
        self.maxInterruptionMs = maxInterruptionMs
        self.operator = `operator`
        self.faultSeconds = faultSeconds
        self.observeSeconds = observeSeconds
    }
}

/// The acceptance record of one drill (DESIGN §9): what was expected, what was measured,
/// what the log says, and the verdict. Stored replicated in the KV store under
/// `tandem/drills/ID`.
public struct DrillRecord: Codable, Sendable, Equatable {
    public struct Phase: Codable, Sendable, Equatable {
        public var name: String
        /// Milliseconds after the fault (or the request) began; nil: not seen.
        public var atMs: Double?
        public var detail: String
    }
    public struct Check: Codable, Sendable, Equatable {
        public var what: String
        public var passed: Bool
        public var detail: String
    }
    public struct ProbeResult: Codable, Sendable, Equatable {
        public var target: String
        public var intervalMs: Double
        public var sent: Int
        public var answered: Int
        /// The longest time without an answer during the drill (ms).
        public var longestGapMs: Double
        /// Every span without answers longer than five intervals: [start ms after the fault, length ms].
        public var gaps: [[Double]]
        /// Runs of attempts with the same outcome: [start ms after the fault, end ms, 1 answered / 0 not].
        public var timeline: [[Double]]
        /// Who answered (a UDP echo names its node), in order, runs collapsed; empty otherwise.
        public var answeredBy: [String]
    }
    public struct Consistency: Codable, Sendable, Equatable {
        /// Per node: "applied INDEX, kv revision R, digest D".
        public var replicas: [String: String]
        /// Every replica that answered had the same KV digest at the same applied index.
        public var equal: Bool
        /// Marker writes made during the drill: tried, acknowledged, and present afterwards.
        public var markersWritten: Int
        public var markersAcknowledged: Int
        public var markersPresent: Int
        public var missing: [String]
    }

    public var id: String
    public var scenario: String
    public var group: String
    public var expected: String
    /// running, passed, failed.
    public var state: String
    public var startedBy: String
    /// The node that ran the drill (and its probe).
    public var node: String
    public var startWallMs: Int64
    public var faultWallMs: Int64?
    public var endWallMs: Int64?
    public var faultTarget: String?
    public var fault: String?
    public var ownerBefore: String?
    public var epochBefore: UInt64
    public var ownerAfter: String?
    public var epochAfter: UInt64?
    public var probe: ProbeResult?
    public var interruptionMs: Double?
    public var maxInterruptionMs: Double?
    public var phases: [Phase]
    public var consistency: Consistency?
    public var alarmsRaised: [String]
    public var alarmsCleared: [String]
    public var events: [AgentStatus.EventRow]
    public var checks: [Check]
    public var `operator`: String?
    public var openIssues: [String]
    /// What the drill did, step by step.
    public var steps: [String]
}

/// Why a drill was not started.
public struct DrillError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var status: Int
    public var message: String
    public var description: String { message }
}

extension NodeRuntime {
    /// The scenarios and what each expects.
    static let drillScenarios: [String: String] = [
        "switchover": "a planned switchover moves the group to a ready standby; the client sees at most the allowed interruption",
        "active-failure": "the active node stops taking part at once (power loss: every link silent, its resources stopped); a standby takes the group over",
        "service-failure": "the group's checks fail on the active node; the group moves to a ready standby",
        "link-failure": "one link of the active node goes silent; nothing moves and the client sees no interruption",
        "isolation": "the active node loses every link; it demotes itself (its standing ends) and a standby takes the group over",
        "recovery": "the active node fails (power loss) and a standby takes over; when the node returns it rejoins as a ready standby (and takes the group back if failback is auto)",
        "observe": "nothing is injected: the drill watches while a person causes the fault; the group must have an owner at the end",
    ]

    /// KV prefix of the drill records (replicated with everything else).
    public static let drillPrefix = "tandem/drills/"
    static let markerPrefix = "tandem/drill-markers/"
    /// Per group: the newest drill that passed (`ProvenBy`).
    static let provenPrefix = "tandem/drills-proven/"
    /// Per scheduled drill (by its place in `drills.schedule`): when the leader last started it.
    static let schedulePrefix = "tandem/drill-schedule/"

    /// The newest passed drill of `group`, from the replicated store.
    func provenBy(_ group: GroupID) -> ProvenBy? {
        node.state.kv.get(Self.provenPrefix + group.name).flatMap { try? JSONDecoder().decode(ProvenBy.self, from: Data($0.value)) }
    }

    /// The leader runs the scheduled drills that are due (checked every 10 s).
    func runScheduledDrills() {
        // Not in the first 15 s of an agent: the cluster settles first (and its alarms say
        // what they say before the first drill).
        guard node.role == .leader, !file.drills.schedule.isEmpty, !schedulingDrill, AgentClock.now() - started >= .seconds(15),
              !drills.values.contains(where: { $0.state == "running" })
        else { return }
        let now = AgentClock.wallMilliseconds()
        let minute = Int((now / 60_000) % 1440)
        for (index, entry) in file.drills.schedule.enumerated() {
            let key = Self.schedulePrefix + String(index)
            let last = node.state.kv.get(key).flatMap { Int64(String(decoding: $0.value, as: UTF8.self)) } ?? 0
            guard Double(now - last) >= Double(entry.every.components.seconds) * 1000, entry.allows(minute: minute) else { continue }
            let group = entry.group ?? node.state.config.groups.first?.id
            guard let group, node.state.groups[group]?.owner != nil else { continue }
            schedulingDrill = true
            Task { [self] in
                defer { self.schedulingDrill = false }
                // Noted first (replicated), so that a new leader does not run it again.
                let response = await requestRetryingWithoutLeader(
                    .kv(.put(key: key, value: Array(String(now).utf8), ifRevision: nil), fence: nil), until: AgentClock.now() + .seconds(5))
                guard case .written = response else { return }
                let request = DrillRequest(
                    scenario: entry.scenario, group: group.name, probe: entry.probe,
                    maxInterruptionMs: entry.maxInterruption.map { Double($0.components.seconds) * 1000 + Double($0.components.attoseconds) / 1e15 })
                do throws(DrillError) {
                    _ = try self.startDrill(request, by: "schedule \(index + 1) (every \(entry.every))")
                } catch {
                    self.recordLocal(.drill, group: group, reason: "scheduled drill \(index + 1) (\(entry.scenario)) not started", evidence: error.message)
                }
            }
            return
        }
    }

    /// The longest a drill can run (an observe window of an hour, a fault of at most ten
    /// minutes, the waits around them), with a wide margin: markers of a drill that started
    /// longer ago than this belong to no running drill, whoever ran it.
    static let markerLifetime: Duration = .seconds(2 * 3600)

    /// The drills whose marker keys are left over, from the keys under `markerPrefix`: those
    /// `node` ran and runs no more (its runner died or a write was answered too late), and,
    /// for the leader, every drill that started longer ago than `markerLifetime` (its node may
    /// never come back). A key that does not parse as a drill's marker is left alone.
    static func staleMarkerDrills(
        keys: [String], node: NodeID, running: Set<String>, leader: Bool, nowWallMs: Int64
    ) -> [String] {
        // Each drill's id is parsed once, however many markers it left.
        Set(keys.compactMap(markerDrillID)).filter { drillID in
            guard !running.contains(drillID), let (startWallMs, ranOn) = parseDrillID(drillID) else { return false }
            return ranOn == node || (leader && nowWallMs - startWallMs > Int64(markerLifetime.components.seconds) * 1000)
        }.sorted()
    }

    /// The drill id in a marker key, `markerPrefix` + ID + "/" + N; nil for another key.
    static func markerDrillID(_ key: String) -> String? {
        guard key.hasPrefix(markerPrefix) else { return nil }
        let rest = key.dropFirst(markerPrefix.count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        return String(rest[..<slash])
    }

    /// The UTC time stamp that starts drill and report ids: `yyyyMMddTHHmmss`.
    static func drillStampFormatter() -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss"
        return formatter
    }

    /// A drill id, `yyyyMMddTHHmmss-SCENARIO-NODE`: when it started (ms since 1970) and the
    /// node that ran it; nil for anything else.
    static func parseDrillID(_ drillID: String) -> (startWallMs: Int64, node: NodeID)? {
        let stamp = String(drillID.prefix(15))
        guard drillID.count > 17, drillID.dropFirst(15).first == "-" else { return nil }
        let formatter = Self.drillStampFormatter()
        guard let date = formatter.date(from: stamp) else { return nil }
        let rest = drillID.dropFirst(16)
        // No scenario is another's prefix followed by "-", so at most one matches.
        guard let scenario = drillScenarios.keys.first(where: { rest.hasPrefix($0 + "-") }) else { return nil }
        let node = String(rest.dropFirst(scenario.count + 1))
        guard !node.isEmpty else { return nil }
        return (Int64((date.timeIntervalSince1970 * 1000).rounded()), NodeID(node))
    }

    /// Every 10 s: removes the marker keys of drills that can no longer remove their own
    /// (`staleMarkerDrills`), at most 500 keys a sweep. Not while this node runs a drill.
    func sweepDrillMarkers() {
        guard !sweepingMarkers, runningDrills().isEmpty else { return }
        let keys = node.state.kv.range(prefix: Self.markerPrefix).map(\.key)
        guard !keys.isEmpty else { return }
        let stale = Self.staleMarkerDrills(
            keys: keys, node: id, running: Set(runningDrills().map(\.id)), leader: node.role == .leader,
            nowWallMs: AgentClock.wallMilliseconds())
        guard !stale.isEmpty else { return }
        let staleSet = Set(stale)
        let doomed = Array(keys.filter { Self.markerDrillID($0).map(staleSet.contains) ?? false }.prefix(500))
        sweepingMarkers = true
        Task { [self] in
            defer { self.sweepingMarkers = false }
            var removed = 0
            for key in doomed {
                let response = await requestRetryingWithoutLeader(
                    .kv(.delete(key: key, ifRevision: nil), fence: nil), until: AgentClock.now() + .seconds(2))
                if case .written = response { removed += 1 }
            }
            // Nothing removed (no leader now): the next sweep tries again, without an event.
            guard removed > 0 else { return }
            self.recordLocal(.drill, reason: "removed \(removed) of \(doomed.count) leftover marker keys of drill \(stale.joined(separator: ", "))",
                             evidence: "their drill runs no more (its runner stopped before it removed them, or a write was answered too late)")
        }
    }

    // MARK: - Starting

    /// Checks the request and starts the drill in the background; the record says
    /// "running" until it is done (`drill(id:)`).
    public func startDrill(_ request: DrillRequest, by who: String) throws(DrillError) -> DrillRecord {
        func bad(_ message: String) -> DrillError { DrillError(code: "invalid_drill", status: 400, message: message) }
        guard let expected = Self.drillScenarios[request.scenario] else {
            throw bad("unknown scenario \(request.scenario.debugDescription); use one of \(Self.drillScenarios.keys.sorted().joined(separator: ", "))")
        }
        let groupID = GroupID(request.group ?? node.state.config.groups.first?.id.name ?? "")
        guard node.state.config.group(groupID) != nil else {
            throw DrillError(code: "unknown_group", status: 404, message: "no group \(groupID.name.debugDescription) in the configuration")
        }
        var probe: DrillProbe?
        if let text = request.probe {
            do { probe = DrillProbe(try DrillProbe.Target(parsing: text)) } catch { throw bad(error.description) }
        }
        if let max = request.maxInterruptionMs, !(max >= 0 && max.isFinite) { throw bad("maxInterruptionMs must be a number of milliseconds of at least 0") }
        let maxFault = Double(Self.maxFaultDuration.components.seconds)
        if let s = request.faultSeconds, !(s >= 0.1 && s <= maxFault) {
            throw bad("faultSeconds must be from 0.1 to \(Int(maxFault))")
        }
        if let s = request.observeSeconds, !(s >= 1 && s <= 3600) { throw bad("observeSeconds must be from 1 to 3600") }
        if let running = drills.values.first(where: { $0.state == "running" }) {
            throw DrillError(code: "busy", status: 409, message: "drill \(running.id) is still running on \(id); one drill at a time")
        }
        let g = node.state.groups[groupID]
        if request.scenario != "observe", g?.owner == nil {
            throw DrillError(code: "not_ready", status: 409, message: "\(groupID) has no owner now: there is nothing to drill (see tandem status)")
        }
        if activeFault != nil {
            throw DrillError(code: "busy", status: 409, message: "\(id) has a drill's fault active; wait for it to end")
        }
        let start = AgentClock.wallMilliseconds()
        let formatter = Self.drillStampFormatter()
        let drillID = formatter.string(from: Date(timeIntervalSince1970: Double(start) / 1000)) + "-" + request.scenario + "-" + id.name
        let record = DrillRecord(
            id: drillID, scenario: request.scenario, group: groupID.name, expected: expected, state: "running", startedBy: who,
            node: id.name, startWallMs: start, ownerBefore: g?.owner?.name, epochBefore: g?.epoch ?? 0,
            maxInterruptionMs: request.maxInterruptionMs, phases: [], alarmsRaised: [], alarmsCleared: [], events: [], checks: [],
            operator: request.operator, openIssues: [], steps: [])
        drills[drillID] = record
        recordLocal(.drill, group: groupID, reason: "drill \(drillID) started by \(who): \(request.scenario) of \(groupID)", evidence: expected)
        Task { [self] in await self.runDrill(drillID, request, probe: probe) }
        return record
    }

    /// A drill this node runs or ran since it started (the stored records are in the KV store).
    public func drill(id drillID: String) -> DrillRecord? { drills[drillID] }

    /// The drills running on this node now.
    public func runningDrills() -> [DrillRecord] { drills.values.filter { $0.state == "running" } }

    // MARK: - Running

    func step(_ drillID: String, _ text: String) {
        let at = Double(AgentClock.wallMilliseconds() - (drills[drillID]?.startWallMs ?? 0)) / 1000
        drills[drillID]?.steps.append(String(format: "%.3f s ", at) + text)
    }

    func runDrill(_ drillID: String, _ request: DrillRequest, probe: DrillProbe?) async {
        guard let initial = drills[drillID] else { return }
        let group = GroupID(initial.group)
        let faultFor = Duration.milliseconds(Int64((request.faultSeconds ?? 10) * 1000))
        probe?.start()
        let markers = MarkerWriter(prefix: Self.markerPrefix + drillID + "/")
        let writer = Task { [self] in await self.writeMarkers(markers) }
        // A second of the service as it was, so that the probe's baseline is in the record.
        if probe != nil { try? await Task.sleep(for: .seconds(1)) }
        let t0 = AgentClock.wallMilliseconds()
        drills[drillID]?.faultWallMs = t0
        let owner = initial.ownerBefore.map { NodeID($0) }
        var target: NodeID?
        let scenario = request.scenario
        switch scenario {
        case "switchover":
            step(drillID, "switchover of \(group) asked")
            let response = await operate(.switchover(group, to: nil), by: "drill \(drillID) (\(initial.startedBy))", timeout: .seconds(30))
            step(drillID, "switchover answered: \(response)")
        case "active-failure", "recovery", "isolation", "link-failure", "service-failure":
            let fault: DrillFault = switch scenario {
            case "isolation": .isolation
            case "link-failure": .link(0)
            case "service-failure": .service(group)
            default: .powerLoss
            }
            target = owner
            drills[drillID]?.faultTarget = owner?.name
            drills[drillID]?.fault = fault.description
            if let owner, let problem = await injectFault(fault, drill: drillID, on: owner, for: faultFor) {
                step(drillID, "the fault could not be injected on \(owner): \(problem)")
                drills[drillID]?.checks.append(DrillRecord.Check(
                    what: "the fault was injected", passed: false, detail: "\(owner): \(problem)"))
            } else {
                step(drillID, "fault injected on \(owner?.name ?? "?"): \(fault), for at most \(faultFor)")
            }
        default:
            step(drillID, "observing for \(request.observeSeconds ?? 60) s; cause the fault now")
        }
        // Wait for the outcome.
        let before = node.state.groups[group]
        func moved() -> Bool {
            guard let g = node.state.groups[group], let o = g.owner else { return false }
            return g.epoch > initial.epochBefore && o.name != initial.ownerBefore
        }
        switch scenario {
        case "link-failure":
            try? await Task.sleep(for: faultFor)
        case "observe":
            let end = AgentClock.now() + .milliseconds(Int64((request.observeSeconds ?? 60) * 1000))
            while AgentClock.now() < end { try? await Task.sleep(for: .milliseconds(50)) }
        case "switchover":
            break
        default:
            let end = AgentClock.now() + faultFor + .seconds(20)
            while !moved(), AgentClock.now() < end { try? await Task.sleep(for: .milliseconds(20)) }
            step(drillID, moved() ? "\(group) moved to \(node.state.groups[group]?.owner?.name ?? "?")" : "\(group) did not move")
        }
        _ = before
        // The client is answered again (or a second passes), then the fault ends.
        if let probe {
            let asked = AgentClock.wallMilliseconds()
            let end = AgentClock.now() + .seconds(10)
            while AgentClock.now() < end, (probe.lastAnswered ?? 0) < asked { try? await Task.sleep(for: .milliseconds(20)) }
        }
        if let target {
            await endFault(drill: drillID, on: target)
            step(drillID, "fault on \(target) ended")
        }
        if scenario == "recovery", let target {
            let end = AgentClock.now() + .seconds(30)
            var back = false
            while AgentClock.now() < end {
                if target == id || transport.isReachable(target), node.state.nodes[target]?.health[group] == true,
                   node.state.groups[group]?.owner != nil {
                    back = true
                    break
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
            step(drillID, back ? "\(target) is back and reports \(group) healthy" : "\(target) did not come back within 30 s")
            drills[drillID]?.checks.append(DrillRecord.Check(
                what: "\(target) rejoins as a standby", passed: back,
                detail: back ? "reachable again, reporting \(group) healthy" : "not back within 30 s of the fault's end"))
        }
        // A second more of the service as it is now.
        if probe != nil { try? await Task.sleep(for: .seconds(1)) }
        markers.stop()
        await writer.value
        let samples = await probe?.stop() ?? []
        let endWall = AgentClock.wallMilliseconds()
        drills[drillID]?.endWallMs = endWall
        let after = node.state.groups[group]
        drills[drillID]?.ownerAfter = after?.owner?.name
        drills[drillID]?.epochAfter = after?.epoch
        await conclude(drillID, request: request, samples: samples, probe: probe, markers: markers, t0: t0, end: endWall)
    }

    /// Injects `fault` on `target` (this node, or another over the links) for `duration`.
    func injectFault(_ fault: DrillFault, drill drillID: String, on target: NodeID, for duration: Duration) async -> String? {
        let number = drillNumber(drillID)
        if target == id { return startFault(fault, drill: number, duration: duration) }
        let answers = await ask([target], within: .seconds(2)) {
            .drillFault(id: $0, drill: number, fault: fault, milliseconds: UInt32(duration.milliseconds))
        }
        guard case .drillAck(_, let problem)? = answers[target] else { return "\(target) did not answer within 2 s" }
        return problem.isEmpty ? nil : problem
    }

    func endFault(drill drillID: String, on target: NodeID) async {
        let number = drillNumber(drillID)
        if target == id {
            endFault(drill: number, why: "the drill ended it")
            return
        }
        // Drill messages pass the silenced links; the time limit ends it anyway.
        _ = await ask([target], within: .seconds(2)) { .drillEnd(id: $0, drill: number) }
    }

    /// A number for the drill's fault messages.
    func drillNumber(_ drillID: String) -> UInt64 {
        var d = Digest()
        d.add(drillID)
        return d.value
    }

    /// Writes marker keys every 100 ms until stopped (the drill's data consistency check).
    func writeMarkers(_ markers: MarkerWriter) async {
        var n = 0
        while !markers.isStopped {
            n += 1
            let key = markers.prefix + String(format: "%06d", n)
            markers.written += 1
            let response = await requestRetryingWithoutLeader(
                .kv(.put(key: key, value: Array(String(n).utf8), ifRevision: nil), fence: nil), until: AgentClock.now() + .seconds(2))
            if case .written = response { markers.acknowledged.append(key) }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    // MARK: - The record

    func conclude(
        _ drillID: String, request: DrillRequest, samples: [DrillProbe.Sample], probe: DrillProbe?, markers: MarkerWriter,
        t0: Int64, end: Int64
    ) async {
        guard var record = drills[drillID] else { return }
        let group = GroupID(record.group)
        // The client's view.
        if let probe {
            var namesNode = false
            if case .udp = probe.target { namesNode = true }
            let result = Self.summarize(samples, target: probe.target.description, interval: 5, t0: t0, namesNode: namesNode)
            record.probe = result
            if result.answered == 0 {
                // Nothing measured: a probe that never reached the service says nothing about it.
                record.checks.append(DrillRecord.Check(
                    what: "the probe reached the service", passed: false,
                    detail: "none of \(result.sent) attempts to \(result.target) was answered (\(samples.first?.detail ?? "no attempt"))"))
            } else {
                record.interruptionMs = result.longestGapMs
            }
        }
        // Data: every replica's digest at the same applied index; every acknowledged marker present.
        record.consistency = await consistency(markers)
        // The log: every node's events in the window.
        if let merged = try? await clusterEvents(limit: AgentAPILimits.clusterEvents) {
            record.events = merged.events.filter { $0.wallTime >= record.startWallMs - 500 && $0.wallTime <= end + 500 }
                .map(AgentStatus.EventRow.init)
            if !merged.missing.isEmpty { record.openIssues.append("events of \(merged.missing.joined(separator: ", ")) are not in the record (no answer)") }
        }
        for e in record.events {
            if e.kind == Event.Kind.alarmRaised.name { record.alarmsRaised.append("\(e.node): \(e.reason)") }
            if e.kind == Event.Kind.alarmCleared.name { record.alarmsCleared.append("\(e.node): \(e.reason)") }
        }
        record.phases = Self.phases(record, samples: samples, t0: t0)
        record.checks += Self.expectations(record)
        if let max = record.maxInterruptionMs {
            if let measured = record.interruptionMs {
                record.checks.append(DrillRecord.Check(
                    what: "client-visible interruption at most \(Self.ms(max))", passed: measured <= max,
                    detail: "measured \(Self.ms(measured)) by \(record.probe?.target ?? "the probe")"))
            } else {
                record.checks.append(DrillRecord.Check(what: "client-visible interruption at most \(Self.ms(max))", passed: false,
                                                       detail: "no probe was given, so the interruption was not measured"))
            }
        }
        if let c = record.consistency {
            record.checks.append(DrillRecord.Check(
                what: "every replica holds the same data", passed: c.equal,
                detail: c.replicas.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")))
            record.checks.append(DrillRecord.Check(
                what: "every acknowledged write made during the drill is present", passed: c.missing.isEmpty,
                detail: "\(c.markersPresent) of \(c.markersAcknowledged) acknowledged (\(c.markersWritten) tried)"
                    + (c.missing.isEmpty ? "" : "; missing \(c.missing.prefix(5).joined(separator: ", "))")))
        }
        if node.state.groups[group]?.owner == nil {
            record.openIssues.append("\(group) has no owner at the end of the drill")
        }
        record.state = record.checks.allSatisfy(\.passed) ? "passed" : "failed"
        // Stored replicated before it reads as done here; then the markers are removed.
        if let json = try? JSONEncoder().encode(record) {
            let response = await requestRetryingWithoutLeader(
                .kv(.put(key: Self.drillPrefix + drillID, value: Array(json), ifRevision: nil), fence: nil),
                until: AgentClock.now() + .seconds(10))
            if case .written = response {} else {
                record.openIssues.append("the record could not be stored in the replicated store: \(response)")
            }
        }
        drills[drillID] = record
        // The group's standby is proven by a drill that passed and moved the group to it
        // (observe and link-failure do not use the standby).
        if record.state == "passed", ["switchover", "active-failure", "service-failure", "isolation", "recovery"].contains(record.scenario) {
            let proven = ProvenBy(id: drillID, scenario: record.scenario, wallMs: record.endWallMs ?? end)
            if let json = try? JSONEncoder().encode(proven) {
                _ = await requestRetryingWithoutLeader(
                    .kv(.put(key: Self.provenPrefix + record.group, value: Array(json), ifRevision: nil), fence: nil),
                    until: AgentClock.now() + .seconds(10))
            }
        }
        // Every marker here, also those whose write was answered too late to count (one still
        // in flight is removed by the next sweep, `sweepDrillMarkers`).
        for key in node.state.kv.range(prefix: markers.prefix).map(\.key) {
            _ = await requestRetryingWithoutLeader(.kv(.delete(key: key, ifRevision: nil), fence: nil), until: AgentClock.now() + .seconds(2))
        }
        let failed = record.checks.filter { !$0.passed }.map(\.what)
        recordLocal(.drill, group: group, reason: "drill \(drillID) \(record.state): \(record.scenario) of \(group)"
                        + (record.interruptionMs.map { ", interruption \(Self.ms($0))" } ?? ""),
                    evidence: failed.isEmpty ? "every check passed" : "failed: " + failed.joined(separator: "; "))
    }

    func consistency(_ markers: MarkerWriter) async -> DrillRecord.Consistency {
        // Let the last writes reach every replica, then compare them at the same index.
        _ = await requestRetryingWithoutLeader(.readBarrier, until: AgentClock.now() + .seconds(5))
        let peers = file.cluster.nodes.map(\.id).filter { $0 != id && transport.isReachable($0) }
        var replicas: [String: String] = [:]
        var equal = false
        let deadline = AgentClock.now() + .seconds(5)
        repeat {
            let answers = await ask(peers, within: .seconds(1)) { .digestQuery(id: $0) }
            var seen: [NodeID: (UInt64, UInt64, UInt64)] = [id: (node.state.applied, node.state.kv.revision, node.state.kv.digest)]
            for (peer, answer) in answers {
                if case .digestAnswer(_, let applied, let revision, let digest) = answer { seen[peer] = (applied, revision, digest) }
            }
            replicas = Dictionary(uniqueKeysWithValues: seen.map { ($0.key.name, "applied \($0.value.0), kv revision \($0.value.1), digest \(String($0.value.2, radix: 16))") })
            equal = Set(seen.values.map { "\($0.0)/\($0.2)" }).count == 1 && seen.count == peers.count + 1
            if equal { break }
            try? await Task.sleep(for: .milliseconds(100))
        } while AgentClock.now() < deadline
        let present = markers.acknowledged.filter { node.state.kv.get($0) != nil }
        let missing = markers.acknowledged.filter { node.state.kv.get($0) == nil }
        return DrillRecord.Consistency(
            replicas: replicas, equal: equal, markersWritten: markers.written, markersAcknowledged: markers.acknowledged.count,
            markersPresent: present.count, missing: missing)
    }

    static func ms(_ value: Double) -> String { String(format: "%.1f ms", value) }

    /// The probe's attempts as the record keeps them (times in ms after the fault).
    /// `namesNode`: the answers name the node that gave them (a `tandem echo`).
    static func summarize(_ samples: [DrillProbe.Sample], target: String, interval: Double, t0: Int64, namesNode: Bool) -> DrillRecord.ProbeResult {
        var timeline: [[Double]] = []
        var gaps: [[Double]] = []
        var longest = 0.0
        var lastOK: Int64?
        var by: [String] = []
        for sample in samples {
            let at = Double(sample.at - t0)
            let ok = sample.ok ? 1.0 : 0.0
            if let last = timeline.last, last[2] == ok {
                timeline[timeline.count - 1][1] = at
            } else {
                timeline.append([at, at, ok])
            }
            if sample.ok {
                if let lastOK {
                    let gap = Double(sample.at - lastOK)
                    longest = max(longest, gap)
                    if gap > 5 * interval { gaps.append([Double(lastOK - t0), gap]) }
                }
                lastOK = sample.at
                if namesNode, let who = sample.detail, by.last != who { by.append(who) }
            }
        }
        // An outage that had not ended when the probe stopped.
        if let last = samples.last, let lastOK, last.at > lastOK {
            let gap = Double(last.at - lastOK)
            if gap > 5 * interval {
                longest = max(longest, gap)
                gaps.append([Double(lastOK - t0), gap])
            }
        } else if lastOK == nil, let first = samples.first, let last = samples.last {
            longest = Double(last.at - first.at)
            gaps.append([Double(first.at - t0), longest])
        }
        return DrillRecord.ProbeResult(
            target: target, intervalMs: interval, sent: samples.count, answered: samples.filter(\.ok).count, longestGapMs: longest,
            gaps: gaps, timeline: timeline, answeredBy: by)
    }

    /// The phases of the move, from the events of every node and the probe.
    static func phases(_ record: DrillRecord, samples: [DrillProbe.Sample], t0: Int64) -> [DrillRecord.Phase] {
        let after = record.events.filter { $0.wallMilliseconds >= t0 && $0.kind != Event.Kind.drill.name }
        let target = record.faultTarget ?? record.ownerBefore
        func at(_ e: AgentStatus.EventRow?) -> Double? { e.map { Double($0.wallMilliseconds - t0) } }
        let detection = after.first { e in
            (e.kind == Event.Kind.linkDown.name && e.reason.contains(" to \(target ?? "?")"))
                || (e.kind == Event.Kind.check.name && e.node == target && e.reason.contains("fail"))
                || (e.kind == Event.Kind.operatorAction.name)
                || (e.kind == Event.Kind.steppedDown.name) || (e.kind == Event.Kind.campaign.name)
                || (e.kind == Event.Kind.deactivated.name && e.node == target)
        }
        let decision = after.first { $0.kind == Event.Kind.assigned.name && $0.group == record.group }
        let activation = after.first { $0.kind == Event.Kind.activated.name && $0.group == record.group && $0.node != record.ownerBefore }
        let stopped = after.first { $0.kind == Event.Kind.deactivated.name && $0.group == record.group && $0.node == record.ownerBefore }
        // The outage is the longest span without answers after the fault (one lost datagram
        // before it is not the outage).
        var outageStart: Int64?
        var firstAnswer: Int64?
        var lastOK: Int64?
        var longest: Int64 = 0
        for sample in samples where sample.ok {
            if let lastOK, sample.at >= t0, sample.at - lastOK > longest {
                longest = sample.at - lastOK
                outageStart = lastOK
                firstAnswer = sample.at
            }
            lastOK = sample.at
        }
        if longest <= 25 { outageStart = nil; firstAnswer = nil }
        if let lastOK, let last = samples.last, last.at - lastOK > max(longest, 25) {
            outageStart = lastOK
            firstAnswer = nil
        }
        var phases: [DrillRecord.Phase] = [
            .init(name: "fault", atMs: 0, detail: record.fault ?? (record.scenario == "observe" ? "observed (caused by hand)" : "operator request")),
            .init(name: "detection", atMs: at(detection), detail: detection.map { "\($0.node) \($0.kind): \($0.reason)" } ?? "not seen"),
        ]
        if let stopped {
            phases.append(.init(name: "old owner stopped", atMs: at(stopped), detail: "\(stopped.node): \(stopped.reason)"))
        }
        phases.append(.init(name: "decision", atMs: at(decision), detail: decision.map { "\($0.node): \($0.reason) [\($0.evidence)]" } ?? "no new assignment"))
        if let detectionAt = at(detection), let decisionAt = at(decision) {
            phases.append(.init(name: "fencing wait", atMs: decisionAt, detail: String(format: "%.1f ms from detection to decision (the standing wait of rule 4)", decisionAt - detectionAt)))
        }
        phases.append(.init(name: "activation", atMs: at(activation), detail: activation.map { "\($0.node): \($0.reason)" } ?? "no other node activated"))
        if let outageStart {
            phases.append(.init(name: "first answer", atMs: firstAnswer.map { Double($0 - t0) },
                                detail: firstAnswer.map { String(format: "the client was answered again %.1f ms after its last answer before the outage", Double($0 - outageStart)) }
                                    ?? "the client was not answered again"))
        } else if !samples.isEmpty {
            phases.append(.init(name: "first answer", atMs: nil, detail: "every attempt was answered: no interruption"))
        }
        return phases
    }

    /// The scenario's expected behaviour, checked against the record.
    static func expectations(_ record: DrillRecord) -> [DrillRecord.Check] {
        let movedAway = record.ownerAfter != nil && record.ownerAfter != record.ownerBefore && (record.epochAfter ?? 0) > record.epochBefore
        let owner = "\(record.ownerBefore ?? "none") → \(record.ownerAfter ?? "none") (epoch \(record.epochBefore) → \(record.epochAfter.map(String.init) ?? "?"))"
        var checks: [DrillRecord.Check] = []
        switch record.scenario {
        case "switchover", "active-failure", "service-failure":
            checks.append(.init(what: "the group moved to a standby", passed: movedAway, detail: owner))
        case "recovery":
            // With failback: auto the group may be back on the returned node at a newer epoch.
            let moved = record.ownerAfter != nil && (record.epochAfter ?? 0) > record.epochBefore
            checks.append(.init(what: "the group moved to a standby (and back, if failback is auto)", passed: moved, detail: owner))
        case "isolation":
            checks.append(.init(what: "the group moved to a standby", passed: movedAway, detail: owner))
            let demoted = record.events.contains {
                $0.kind == Event.Kind.deactivated.name && $0.node == record.ownerBefore && $0.group == record.group
            }
            checks.append(.init(what: "the isolated node stopped the group itself", passed: demoted,
                                detail: demoted ? "its deactivation is in the log" : "no deactivation by \(record.ownerBefore ?? "?") in the log"))
        case "link-failure":
            let stayed = record.ownerAfter == record.ownerBefore && record.epochAfter == record.epochBefore
            checks.append(.init(what: "nothing moved", passed: stayed, detail: owner))
        default:
            checks.append(.init(what: "the group has an owner at the end", passed: record.ownerAfter != nil, detail: owner))
        }
        let split = (record.probe?.answeredBy.count ?? 0) > Set(record.probe?.answeredBy ?? []).count
        // (A recovery with failback may rightly be answered by the first node again.)
        if record.probe?.answeredBy.isEmpty == false, record.scenario != "recovery" {
            checks.append(.init(what: "no two nodes answered the client in turn (no split brain)", passed: !split,
                                detail: record.probe!.answeredBy.joined(separator: " → ")))
        }
        return checks
    }
}

/// The newest drill that passed for a group.
public struct ProvenBy: Codable, Sendable, Equatable {
    public var id: String
    public var scenario: String
    public var wallMs: Int64
}

/// The drill's marker writes: tried, and acknowledged (their keys).
final class MarkerWriter: @unchecked Sendable {
    let prefix: String
    var written = 0
    var acknowledged: [String] = []
    private var stopped = false
    var isStopped: Bool { stopped }
    init(prefix: String) { self.prefix = prefix }
    func stop() { stopped = true }
}

// MARK: - Post-failover reports

extension NodeRuntime {
    /// How long after an unplanned move its report waits (the new owner starts, the old one
    /// may rejoin) before it looks.
    static let failoverReportDelay: Duration = .seconds(5)

    /// After every unplanned failover this node decided as controller: the same kind of
    /// record as a drill's (scenario `failover`), with the checklist an operator owes after
    /// a failover: active role, standby health, synchronization, data integrity, alarms, the
    /// log and the root cause as the controller saw it.
    func postFailoverReport(_ group: GroupID, decision: StoredEvent) async {
        try? await Task.sleep(for: Self.failoverReportDelay)
        guard !stopping else { return }
        let t0 = decision.wallTime
        let formatter = Self.drillStampFormatter()
        let reportID = formatter.string(from: Date(timeIntervalSince1970: Double(t0) / 1000)) + "-failover-\(group.name)"
        let g = node.state.groups[group]
        var record = DrillRecord(
            id: reportID, scenario: "failover", group: group.name,
            expected: "after an unplanned failover: the new owner runs the group, a standby is ready again, every replica holds the same data, and the cause is in the log",
            state: "running", startedBy: "\(id) (the controller that decided the move)", node: id.name, startWallMs: t0 - 2000,
            faultWallMs: t0, endWallMs: AgentClock.wallMilliseconds(), ownerBefore: nil, epochBefore: (decision.event.epoch ?? 1) - 1,
            ownerAfter: g?.owner?.name, epochAfter: g?.epoch, phases: [], alarmsRaised: [], alarmsCleared: [], events: [], checks: [],
            openIssues: [], steps: ["the controller's decision: \(decision.event.reason) [\(decision.event.evidence)]"])
        if let merged = try? await clusterEvents(limit: AgentAPILimits.clusterEvents) {
            record.events = merged.events.filter { $0.wallTime >= t0 - 10_000 }.map(AgentStatus.EventRow.init)
            if !merged.missing.isEmpty { record.openIssues.append("events of \(merged.missing.joined(separator: ", ")) are not in the report (no answer)") }
        }
        // The old owner: the last owner named before this decision.
        record.ownerBefore = record.events.last { $0.kind == Event.Kind.activated.name && $0.group == group.name && $0.wallMilliseconds < t0
            && $0.epoch == record.epochBefore }?.node
        for e in record.events {
            if e.kind == Event.Kind.alarmRaised.name { record.alarmsRaised.append("\(e.node): \(e.reason)") }
            if e.kind == Event.Kind.alarmCleared.name { record.alarmsCleared.append("\(e.node): \(e.reason)") }
            if e.kind == Event.Kind.drill.name, e.reason.contains("fault on") { record.openIssues.append("caused by a drill: \(e.reason)") }
        }
        record.phases = Self.phases(record, samples: [], t0: t0)
        record.consistency = await consistency(MarkerWriter(prefix: ""))
        let now = AgentClock.now()
        let owner = node.state.groups[group]?.owner
        let ownerRuns = owner.map { node.state.nodes[$0]?.health[group] == true } ?? false
        var ready: [String] = []
        var notReady: [String] = []
        if let config = node.state.config.group(group) {
            for candidate in node.state.config.candidates(for: config) where candidate != owner {
                switch node.readiness(of: candidate, for: group, now: now) {
                case .ready: ready.append(candidate.name)
                case .notReady(let why): notReady.append("\(candidate): \(why)")
                case .unknown: notReady.append("\(candidate): not known here (\(id) no longer leads)")
                }
            }
        }
        record.checks = [
            .init(what: "active role: a node owns the group and reports it healthy", passed: owner != nil && ownerRuns,
                  detail: owner.map { "\($0) at epoch \(node.state.groups[group]?.epoch ?? 0)" } ?? "no owner"),
            .init(what: "standby health: a standby is ready to take over again", passed: !ready.isEmpty,
                  detail: ready.isEmpty ? "none ready: " + notReady.joined(separator: "; ") : "ready: " + ready.joined(separator: ", ")),
            .init(what: "synchronization and data integrity: every replica holds the same data", passed: record.consistency?.equal == true,
                  detail: (record.consistency?.replicas ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")),
            .init(what: "root cause recorded", passed: !decision.event.evidence.isEmpty, detail: decision.event.evidence),
            .init(what: "alarms: every alarm raised since the failure was cleared", passed: record.alarmsRaised.count <= record.alarmsCleared.count,
                  detail: "\(record.alarmsRaised.count) raised, \(record.alarmsCleared.count) cleared"),
        ]
        record.openIssues.append("user impact was not measured (no client probe runs outside drills); service logs: see the events above and each node's log")
        record.endWallMs = AgentClock.wallMilliseconds()
        record.state = record.checks.allSatisfy(\.passed) ? "passed" : "failed"
        if let json = try? JSONEncoder().encode(record) {
            let response = await requestRetryingWithoutLeader(
                .kv(.put(key: Self.drillPrefix + reportID, value: Array(json), ifRevision: nil), fence: nil), until: AgentClock.now() + .seconds(10))
            if case .written = response {} else { logger.warning("the post-failover report \(reportID) could not be stored: \(response)") }
        }
        recordLocal(.drill, group: group, reason: "post-failover report \(reportID): \(record.state)",
                    evidence: record.checks.filter { !$0.passed }.map(\.what).joined(separator: "; "))
    }
}
