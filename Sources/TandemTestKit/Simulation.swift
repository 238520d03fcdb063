@_spi(Mutants) import TandemCore

/// What a simulated run does besides running the cluster.
public struct SimOptions: Sendable {
    /// What the run's schedule does.
    public enum Mode: String, Sendable, CaseIterable {
        /// Random faults, operator actions and KV writes, then healing and the liveness check.
        case random
        /// A healthy cluster; the node running the first group loses power once; measures
        /// the failover time.
        case failover
    }
    public var mode: Mode = .random
    /// Record a readable trace of every event (a failing seed is re-run with this on).
    public var trace = false
    /// Also trace every message.
    public var traceMessages = false
    /// Test-only: remove rule 4's wait in every node (must be caught).
    public var mutantSkipStandingWait = false
    /// Whether nodes have a fence hook (rule 4(f)); nil: decided by the seed (half the runs).
    /// The simulated hook powers the node off and reports success, or fails (one time in
    /// five, and always after healing).
    public var fencing: Bool?
    public init() {}
}

/// A broken invariant, with the simulated real time at which it was seen.
public struct Violation: Sendable, CustomStringConvertible {
    public var invariant: String
    public var message: String
    public var at: Int64
    public var description: String { "[\(formatMilliseconds(at))] \(invariant): \(message)" }
}

/// The result of one seeded run.
public struct SimResult: Sendable {
    public var seed: UInt64
    public var scenario: String
    public var profile: String
    public var steps: Int
    public var simulatedNanoseconds: Int64
    public var violations: [Violation]
    /// Crash of the node running a group → the group running on another node (nanoseconds).
    public var failovers: [Int64]
    public var acknowledgedWrites: Int
    public var trace: [String]
}

/// One deterministic run of a whole cluster (DESIGN §10): manual clocks with drift, a
/// seeded network (drop, duplication, reordering, delay, partitions including one-way and
/// per-link cuts), crashes that lose unsynced writes, restarts, stalls; every invariant is
/// checked after every step.
public final class Simulation {
    // MARK: Simulated nodes

    struct Resource {
        var epoch: Epoch
        var running = false
        var stopping = false
        var until: Instant
        var guardGeneration: UInt64 = 0
    }

    struct SimNode {
        var id: NodeID
        var links: Int
        var core: TandemNode?
        var disk = PersistentState()
        var unsynced: [PersistOp] = []
        var outbox: [Directive] = []
        var outboxHead = 0
        var syncing = false
        var rate: Double
        var offset: Int64
        var life: UInt64 = 0
        var stalledUntil: Int64 = 0
        var deferred: [Input] = []
        var timerGeneration: [TimerID: UInt64] = [:]
        var resources: [GroupID: Resource] = [:]
        var failingChecks: Set<GroupID> = []
        var upstreamDown = false
        var checkedCommit: LogIndex = 0
        var wasLeader = false
        var crashed = false
        var faultHolds = 0
    }

    enum Kind {
        case deliver(to: Int, from: Int, Message)
        case timer(Int, TimerID, generation: UInt64, life: UInt64)
        case sync(Int, life: UInt64)
        case started(Int, GroupID, Epoch, life: UInt64)
        case stopped(Int, GroupID, Epoch, life: UInt64)
        case guardFires(Int, GroupID, Epoch, generation: UInt64, life: UInt64)
        case resume(Int, life: UInt64)
        case fault(Fault)
        case request(Int, UInt64, Request)
        case fenceDone(by: Int, target: Int, ok: Bool, life: UInt64)
        case write(Int, key: String, value: [UInt8], fenced: Bool, cas: Bool)
        case reconfigure(Int, timing: Bool)
        case heal
        case healCheck(UInt64)
        case liveness
    }

    enum Fault {
        case crash(Int), restart(Int)
        case cut(from: Int, to: Int, link: Int?), uncut(from: Int, to: Int, link: Int?)
        case stall(Int, Int64)
        case slow(from: Int, to: Int, extra: Int64)
        case checks(Int, GroupID, passing: Bool)
        case upstream(Int, reachable: Bool)
    }

    struct LinkKey: Hashable { var from: Int, to: Int, link: Int }

    public let scenario: Scenario
    public let seed: UInt64
    public let options: SimOptions
    let timing: Timing
    var rng: SplitMix64
    var nodes: [SimNode] = []
    var index: [NodeID: Int] = [:]
    var queue = EventQueue<Kind>()
    var now: Int64 = 0
    var steps = 0
    var cuts: [LinkKey: Int] = [:]
    /// Extra delay (upper bound) on a direction, for "delayed without bound" within a run.
    var slow: [LinkKey: Int64] = [:]
    var drop: Double = 0
    var duplicate: Double = 0
    var violations: [Violation] = []
    var trace: [String] = []
    var nextRequest: UInt64 = 1

    // Invariant bookkeeping.
    var leaderOfTerm: [Term: NodeID] = [:]
    var committed: [Entry?] = [nil]
    var lastActivatedEpoch: [GroupID: Epoch] = [:]
    var acked: [(node: Int, index: LogIndex, revision: UInt64)] = []
    var healRequests: [UInt64: (node: Int, request: Request)] = [:]
    var crashedWhileRunning: [GroupID: Int64] = [:]
    var failovers: [Int64] = []
    var healTime: Int64 = 0
    var livenessAt: Int64 = 0
    var endTime: Int64 = 0
    var failoverCrashDone = false
    var fencing = false

    public init(scenario: Scenario, seed: UInt64, options: SimOptions = SimOptions()) {
        self.scenario = scenario
        self.seed = seed
        self.options = options
        self.timing = scenario.config.timing
        var mixer = SplitMix64(seed: seed ^ 0x7A4D_E11A_5EED)
        for byte in scenario.name.utf8 { mixer = SplitMix64(seed: mixer.next() ^ UInt64(byte)) }
        self.rng = mixer
        do { try scenario.config.validate() } catch { preconditionFailure("scenario \(scenario.name) is invalid: \(error)") }
        let rho = timing.rho
        for (i, node) in scenario.config.nodes.enumerated() {
            // Every clock runs at its own rate within ρ, from its own origin.
            let rate = 1 - rho + 2 * rho * unit()
            let offset = Int64(rng.next() % 1_000_000_000_000)
            nodes.append(SimNode(id: node.id, links: node.links, rate: rate, offset: offset))
            index[node.id] = i
        }
        drop = unit() * 0.05
        duplicate = unit() * 0.03
        fencing = options.fencing ?? (rng.next() % 2 == 0)
    }

    // MARK: - Running

    /// Runs the whole scenario and returns its result.
    public func run() -> SimResult {
        let et = timing.electionTimeout.nanoseconds
        let warmup = 5 * et
        let faultPhase = 25 * et
        healTime = options.mode == .random ? warmup + faultPhase : warmup + 4 * et
        livenessAt = healTime + livenessBound
        endTime = livenessAt + 2 * timing.heartbeat.nanoseconds
        for i in nodes.indices { restart(i) }
        switch options.mode {
        case .random: scheduleRandomFaults(from: warmup, to: healTime - 2 * et)
        case .failover: queue.push(warmup + Int64(rng.next() % UInt64(et)), .fault(.crash(-1)))
        }
        queue.push(healTime, .heal)
        queue.push(livenessAt, .liveness)
        while let (time, kind) = queue.pop(), time <= endTime {
            now = time
            handle(kind)
            if !violations.isEmpty { break }
        }
        if violations.isEmpty { finalChecks() }
        return SimResult(
            seed: seed, scenario: scenario.name, profile: timing.profile ?? "custom", steps: steps,
            simulatedNanoseconds: now, violations: violations, failovers: failovers,
            acknowledgedWrites: acked.count, trace: trace)
    }

    /// The liveness bound (DESIGN §10): after healing, every group must be active within
    /// this long: elections (spread by priority), the unfreezing request, rule 4's waits,
    /// a stall exemption and a few heartbeats.
    public var livenessBound: Int64 {
        let et = timing.electionTimeout.nanoseconds, h = timing.heartbeat.nanoseconds
        return 6 * et + timing.echoWait.nanoseconds + timing.officeWait.nanoseconds + Int64(10 + nodes.count) * h
    }

    func unit() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
    func random(_ range: ClosedRange<Int64>) -> Int64 {
        range.lowerBound + Int64(rng.next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    func localTime(_ i: Int, _ real: Int64) -> Instant {
        Instant(nanoseconds: nodes[i].offset + Int64((Double(real) * nodes[i].rate).rounded(.down)))
    }

    func realTime(_ i: Int, of local: Instant) -> Int64 {
        var real = Int64((Double(local.nanoseconds - nodes[i].offset) / nodes[i].rate).rounded(.up))
        while localTime(i, real) < local { real += 1 }
        return max(real, now)
    }

    func log(_ line: @autoclosure () -> String) {
        guard options.trace else { return }
        trace.append("[\(formatMilliseconds(now).leftPadded(12))] \(line())")
    }

    func violate(_ invariant: String, _ message: String) {
        violations.append(Violation(invariant: invariant, message: message, at: now))
        log("VIOLATION \(invariant): \(message)")
    }

    // MARK: - Events

    func handle(_ kind: Kind) {
        switch kind {
        case .deliver(let to, let from, let message):
            guard nodes[to].core != nil else { return }
            if options.traceMessages { log("\(nodes[from].id) → \(nodes[to].id): \(message.summary)") }
            input(to, .message(from: nodes[from].id, message))
        case .timer(let i, let timer, let generation, let life):
            guard nodes[i].life == life, nodes[i].timerGeneration[timer] == generation else { return }
            input(i, .timer(timer))
        case .sync(let i, let life):
            guard nodes[i].life == life else { return }
            for op in nodes[i].unsynced { nodes[i].disk.apply(op) }
            nodes[i].unsynced.removeAll(keepingCapacity: true)
            nodes[i].syncing = false
            runOutbox(i)
        case .started(let i, let group, let epoch, let life):
            guard nodes[i].life == life, var r = nodes[i].resources[group], r.epoch == epoch, !r.stopping else { return }
            r.running = true
            nodes[i].resources[group] = r
            log("\(nodes[i].id): \(group) running at epoch \(epoch)")
            if let crashed = crashedWhileRunning.removeValue(forKey: group) {
                failovers.append(now - crashed)
                log("failover of \(group) took \(formatMilliseconds(now - crashed))")
            }
            input(i, .groupStarted(group: group, epoch: epoch, ok: true))
        case .stopped(let i, let group, let epoch, let life):
            guard nodes[i].life == life, let r = nodes[i].resources[group], r.epoch == epoch else { return }
            nodes[i].resources[group] = nil
            log("\(nodes[i].id): \(group) stopped at epoch \(epoch)")
            input(i, .groupStopped(group: group, epoch: epoch))
        case .guardFires(let i, let group, let epoch, let generation, let life):
            guard nodes[i].life == life, var r = nodes[i].resources[group], r.epoch == epoch,
                  r.guardGeneration == generation, !r.stopping
            else { return }
            // The runtime's guard stops the group at its deadline even if the core is stalled.
            r.stopping = true
            nodes[i].resources[group] = r
            log("\(nodes[i].id): standing guard stops \(group) at epoch \(epoch)")
            queue.push(now + stopDelay(), .stopped(i, group, epoch, life: life))
        case .resume(let i, let life):
            guard nodes[i].life == life, nodes[i].stalledUntil <= now else { return }
            let deferred = nodes[i].deferred
            nodes[i].deferred = []
            log("\(nodes[i].id): resumes after a stall with \(deferred.count) inputs waiting")
            for item in deferred where nodes[i].core != nil && nodes[i].life == life { input(i, item) }
        case .fault(let fault):
            apply(fault)
        case .request(let i, let requestID, let request):
            guard nodes[i].core != nil else { return }
            log("\(nodes[i].id): request #\(requestID) \(request.summary)")
            input(i, .request(id: requestID, request))
        case .write(let i, let key, let value, let fenced, let cas):
            // Compare-and-set and fencing use what this node's replica says now.
            guard let core = nodes[i].core else { return }
            let ifRevision: UInt64? = cas ? (core.state.kv.get(key)?.modRevision ?? 0) : nil
            var fence: Fence?
            if fenced, let group = scenario.config.groups.first?.id, let epoch = core.state.groups[group]?.epoch {
                fence = Fence(group: group, epoch: epoch)
            }
            let requestID = nextRequest
            nextRequest += 1
            handle(.request(i, requestID, .kv(.put(key: key, value: value, ifRevision: ifRevision), fence: fence)))
        case .reconfigure(let i, let timing):
            // A new configuration revision built from this node's view: a valid change (a
            // group's failback), or a timing change, which must be refused.
            guard let core = nodes[i].core else { return }
            var config = core.state.config
            config.revision += 1
            if timing {
                config.timing = config.timing == Timing.fast ? .balanced : .fast
            } else if let first = config.groups.indices.first {
                config.groups[first].failback = config.groups[first].failback == .manual
                    ? .auto(holdDown: self.timing.electionTimeout * 4) : .manual
            }
            let requestID = nextRequest
            nextRequest += 1
            handle(.request(i, requestID, .configure(config, source: nil)))
        case .fenceDone(let by, let target, let ok, let life):
            // The hook ran on `by`: if that node crashed meanwhile, so did the hook.
            guard nodes[by].life == life else { return }
            if ok {
                // The hook powered the node off (it may be off already), then confirms.
                crash(target)
                let et = timing.electionTimeout.nanoseconds
                queue.push(min(now + random(et...(4 * et)), healTime), .fault(.restart(target)))
            }
            log("\(nodes[by].id): fence hook against \(nodes[target].id) \(ok ? "succeeded: it is off" : "FAILED")")
            input(by, .fenced(node: nodes[target].id, ok: ok, detail: ok ? "powered off" : "fence device did not answer"))
        case .heal:
            heal()
        case .healCheck(let requestID):
            // Unanswered (the node may have crashed with it): ask again.
            if let pending = healRequests.removeValue(forKey: requestID) { retryHeal(pending.request) }
        case .liveness:
            checkLiveness()
        }
    }

    /// Hands an input to a node's core (or holds it while the node is stalled).
    func input(_ i: Int, _ input: Input) {
        guard nodes[i].core != nil else { return }
        if nodes[i].stalledUntil > now {
            nodes[i].deferred.append(input)
            return
        }
        steps += 1
        let directives = nodes[i].core!.step(input, now: localTime(i, now))
        checkAfterStep(i)
        nodes[i].outbox.append(contentsOf: directives)
        runOutbox(i)
    }

    func stopDelay() -> Int64 { random(0...(timing.margin.nanoseconds / 2)) }
    func startDelay() -> Int64 { random(50_000...1_000_000) }

    /// Carries out directives in order; a persist holds everything after it until synced.
    func runOutbox(_ i: Int) {
        while !nodes[i].syncing, nodes[i].outboxHead < nodes[i].outbox.count {
            let directive = nodes[i].outbox[nodes[i].outboxHead]
            nodes[i].outboxHead += 1
            execute(i, directive)
        }
        if nodes[i].outboxHead == nodes[i].outbox.count {
            nodes[i].outbox.removeAll(keepingCapacity: true)
            nodes[i].outboxHead = 0
        }
    }

    func execute(_ i: Int, _ directive: Directive) {
        let life = nodes[i].life
        switch directive {
        case .persist(let op):
            nodes[i].unsynced.append(op)
            // Group commit: every persist up to the next other directive goes in one sync.
            if nodes[i].outboxHead < nodes[i].outbox.count, case .persist = nodes[i].outbox[nodes[i].outboxHead] { return }
            nodes[i].syncing = true
            queue.push(now + random(20_000...300_000), .sync(i, life: life))
        case .send(let to, let message):
            send(from: i, to: index[to]!, message)
        case .schedule(let timer, let at):
            let generation = (nodes[i].timerGeneration[timer] ?? 0) &+ 1
            nodes[i].timerGeneration[timer] = generation
            queue.push(realTime(i, of: at), .timer(i, timer, generation: generation, life: life))
        case .cancel(let timer):
            nodes[i].timerGeneration[timer] = (nodes[i].timerGeneration[timer] ?? 0) &+ 1
        case .activate(let group, let term, let epoch, let until, let reason):
            log("\(nodes[i].id): ACTIVATE \(group) term \(term) epoch \(epoch) until \(until): \(reason)")
            for (j, other) in nodes.enumerated() where j != i {
                if let r = other.resources[group] {
                    violate("at most one active", "\(group) activated on \(nodes[i].id) at epoch \(epoch) while \(other.id) has it \(r.stopping ? "stopping" : "active") at epoch \(r.epoch)")
                }
            }
            if let last = lastActivatedEpoch[group], epoch <= last {
                violate("epochs increase", "\(group) activated on \(nodes[i].id) at epoch \(epoch) after epoch \(last) was activated")
            }
            lastActivatedEpoch[group] = epoch
            nodes[i].resources[group] = Resource(epoch: epoch, until: until)
            queue.push(now + startDelay(), .started(i, group, epoch, life: life))
            armGuard(i, group)
        case .renew(let group, let epoch, let until):
            guard var r = nodes[i].resources[group], r.epoch == epoch, !r.stopping else { return }
            r.until = until
            nodes[i].resources[group] = r
            armGuard(i, group)
        case .deactivate(let group, let epoch, let reason):
            log("\(nodes[i].id): DEACTIVATE \(group) epoch \(epoch): \(reason)")
            guard var r = nodes[i].resources[group], r.epoch == epoch, !r.stopping else { return }
            r.stopping = true
            nodes[i].resources[group] = r
            queue.push(now + stopDelay(), .stopped(i, group, epoch, life: life))
        case .reply(let requestID, let response):
            log("\(nodes[i].id): reply #\(requestID) \(response)")
            if case .written(let revision, let index) = response {
                // Checked at the end: the entry may have been compacted on this node before
                // the checker saw it, and is then recorded from another replica.
                acked.append((i, index, revision))
            }
            if let heal = healRequests[requestID] {
                if case .done = response {
                    healRequests[requestID] = nil
                } else {
                    healRequests[requestID] = nil
                    retryHeal(heal.request)
                }
            }
        case .event(let event):
            log("\(event)")
        case .fence(let node, _, _, let reason):
            log("\(nodes[i].id): FENCE \(node): \(reason)")
            let ok = now < healTime && unit() >= 0.2
            queue.push(now + random(0...(2 * timing.lease.nanoseconds)), .fenceDone(by: i, target: index[node]!, ok: ok, life: life))
        }
    }

    func armGuard(_ i: Int, _ group: GroupID) {
        guard var r = nodes[i].resources[group] else { return }
        r.guardGeneration &+= 1
        nodes[i].resources[group] = r
        queue.push(realTime(i, of: r.until), .guardFires(i, group, r.epoch, generation: r.guardGeneration, life: nodes[i].life))
    }

    /// Sends on every link the two nodes share (control messages go on all links at once);
    /// each copy may be cut, dropped, delayed, reordered or duplicated.
    func send(from: Int, to: Int, _ message: Message) {
        let links = min(nodes[from].links, nodes[to].links)
        let (base, spread) = scenario.delay(nodes[from].id, nodes[to].id)
        for link in 0..<links {
            if let c = cuts[LinkKey(from: from, to: to, link: link)], c > 0 { continue }
            if unit() < drop { continue }
            let extra = slow[LinkKey(from: from, to: to, link: 0)].map { random(0...$0) } ?? 0
            queue.push(now + base + random(0...spread) + extra, .deliver(to: to, from: from, message))
            if unit() < duplicate { queue.push(now + base + random(0...(spread * 3)), .deliver(to: to, from: from, message)) }
        }
    }

    // MARK: - Crash, restart, faults

    func crash(_ i: Int) {
        guard nodes[i].core != nil else { return }
        log("\(nodes[i].id): CRASH (power lost; \(nodes[i].unsynced.count) unsynced writes lost)")
        for (group, r) in nodes[i].resources where r.running && !r.stopping { crashedWhileRunning[group] = now }
        nodes[i].core = nil
        nodes[i].life &+= 1
        nodes[i].unsynced = []
        nodes[i].outbox = []
        nodes[i].outboxHead = 0
        nodes[i].syncing = false
        nodes[i].deferred = []
        nodes[i].stalledUntil = 0
        nodes[i].resources = [:]
        nodes[i].wasLeader = false
    }

    func restart(_ i: Int) {
        guard nodes[i].core == nil else { return }
        nodes[i].life &+= 1
        var core = TandemNode(id: nodes[i].id, config: scenario.config, persisted: nodes[i].disk, seed: rng.next(), fencing: fencing)
        core.mutants.skipStandingWait = options.mutantSkipStandingWait
        nodes[i].core = core
        nodes[i].checkedCommit = core.commitIndex
        log("\(nodes[i].id): START (term \(nodes[i].disk.term), \(nodes[i].disk.entries.count) entries on disk)")
        input(i, .start)
        for group in nodes[i].failingChecks.sorted() { input(i, .checks(group: group, passing: false)) }
        if nodes[i].upstreamDown { input(i, .upstream(reachable: false)) }
    }

    func apply(_ fault: Fault) {
        switch fault {
        case .crash(let target):
            var i = target
            if i < 0 {
                // Failover mode: the node running the first group.
                guard let group = scenario.config.groups.first?.id,
                      let running = nodes.indices.first(where: { nodes[$0].resources[group]?.running == true })
                else {
                    queue.push(now + timing.heartbeat.nanoseconds, .fault(.crash(-1)))
                    return
                }
                i = running
            }
            crash(i)
        case .restart(let i):
            restart(i)
        case .cut(let from, let to, let link):
            log("cut \(nodes[from].id) → \(nodes[to].id) \(link.map { "link \($0)" } ?? "all links")")
            for l in link.map({ [$0] }) ?? Array(0..<8) { cuts[LinkKey(from: from, to: to, link: l), default: 0] += 1 }
        case .uncut(let from, let to, let link):
            for l in link.map({ [$0] }) ?? Array(0..<8) { cuts[LinkKey(from: from, to: to, link: l), default: 0] -= 1 }
        case .slow(let from, let to, let extra):
            log("link \(nodes[from].id) → \(nodes[to].id) \(extra > 0 ? "delays up to \(formatMilliseconds(extra))" : "back to normal delays")")
            slow[LinkKey(from: from, to: to, link: 0)] = extra > 0 ? extra : nil
        case .stall(let i, let duration):
            guard nodes[i].core != nil, nodes[i].stalledUntil <= now else { return }
            log("\(nodes[i].id): STALL for \(formatMilliseconds(duration))")
            nodes[i].stalledUntil = now + duration
            queue.push(now + duration, .resume(i, life: nodes[i].life))
        case .checks(let i, let group, let passing):
            if passing { nodes[i].failingChecks.remove(group) } else { nodes[i].failingChecks.insert(group) }
            log("\(nodes[i].id): checks of \(group) \(passing ? "pass" : "FAIL")")
            input(i, .checks(group: group, passing: passing))
        case .upstream(let i, let reachable):
            nodes[i].upstreamDown = !reachable
            log("\(nodes[i].id): upstream \(reachable ? "reachable" : "LOST")")
            input(i, .upstream(reachable: reachable))
        }
    }

    /// A random schedule of faults, operator actions and writes in `[from, to)`.
    func scheduleRandomFaults(from: Int64, to: Int64) {
        let et = timing.electionTimeout.nanoseconds
        let lease = timing.lease.nanoseconds
        let groups = scenario.config.groups.map(\.id)
        let servers = scenario.config.nodes.indices.filter { scenario.config.nodes[$0].kind == .node }
        var t = from
        while t < to {
            t += random((et / 4)...(2 * et))
            let n = nodes.count
            let i = Int(rng.next() % UInt64(n))
            let j = (i + 1 + Int(rng.next() % UInt64(n - 1))) % n
            let duration = random((et / 2)...(6 * et))
            let end = min(t + duration, to)
            switch rng.next() % 17 {
            case 0, 1:
                // Power loss of any node.
                queue.push(t, .fault(.crash(i)))
                queue.push(end, .fault(.restart(i)))
            case 2, 3:
                // Isolation: every link both ways.
                isolate(i, link: nil, from: t, to: end)
            case 4:
                // One-way cut.
                queue.push(t, .fault(.cut(from: i, to: j, link: nil)))
                queue.push(end, .fault(.uncut(from: i, to: j, link: nil)))
            case 5:
                // One link of a node dies (both ways): nothing must move.
                isolate(i, link: Int(rng.next() % UInt64(nodes[i].links)), from: t, to: end)
            case 6:
                queue.push(t, .fault(.stall(i, random((lease / 5)...(3 * lease)))))
            case 7:
                if let server = servers.randomElement(using: &rng), let group = groups.randomElement(using: &rng) {
                    queue.push(t, .fault(.checks(server, group, passing: false)))
                    queue.push(end, .fault(.checks(server, group, passing: true)))
                }
            case 8:
                if let server = servers.randomElement(using: &rng) {
                    queue.push(t, .fault(.upstream(server, reachable: false)))
                    queue.push(end, .fault(.upstream(server, reachable: true)))
                }
            case 9:
                if let group = groups.randomElement(using: &rng) {
                    let to: NodeID? = rng.next() % 2 == 0 ? nil : scenario.config.nodes[servers.randomElement(using: &rng)!].id
                    request(i, at: t, .action(.switchover(group, to: to)))
                }
            case 10:
                if let server = servers.randomElement(using: &rng) {
                    request(i, at: t, .action(.maintenance(nodes[server].id, on: true)))
                    request(j, at: end, .action(.maintenance(nodes[server].id, on: false)))
                }
            case 11:
                request(i, at: t, .action(.freeze(on: true)))
                request(j, at: end, .action(.freeze(on: false)))
            case 12:
                let target = scenario.config.voters.randomElement(using: &rng)!
                request(i, at: t, .transferLeadership(to: target))
            case 13:
                if let group = groups.randomElement(using: &rng) { request(i, at: t, .action(.failback(group))) }
            case 14 where rng.next() % 2 == 0:
                queue.push(t, .reconfigure(i, timing: rng.next() % 4 == 0))
            case 14:
                // A slow direction: delays up to a few election timeouts.
                queue.push(t, .fault(.slow(from: i, to: j, extra: random(et...(4 * et)))))
                queue.push(end, .fault(.slow(from: i, to: j, extra: 0)))
            default:
                // A burst of application writes, some compare-and-set, some fenced.
                for k in 0..<Int(1 + rng.next() % 6) {
                    let key = "calls/\(rng.next() % 8)"
                    let value = Array("v\(rng.next() % 1000)".utf8)
                    let fenced = rng.next() % 3 == 0
                    let cas = rng.next() % 3 == 0
                    queue.push(t + Int64(k) * 200_000, .write(i, key: key, value: value, fenced: fenced, cas: cas))
                }
            }
        }
    }

    /// Cuts `link` (or every link) of node `i`, both ways, from `start` to `end`.
    func isolate(_ i: Int, link: Int?, from start: Int64, to end: Int64) {
        for k in nodes.indices where k != i {
            queue.push(start, .fault(.cut(from: i, to: k, link: link)))
            queue.push(start, .fault(.cut(from: k, to: i, link: link)))
            queue.push(end, .fault(.uncut(from: i, to: k, link: link)))
            queue.push(end, .fault(.uncut(from: k, to: i, link: link)))
        }
    }

    func request(_ i: Int, at time: Int64, _ request: Request) {
        let requestID = nextRequest
        nextRequest += 1
        queue.push(time, .request(i, requestID, request))
    }

    // MARK: - Healing and liveness

    func heal() {
        log("HEAL: links restored (no more loss), nodes restarted, checks pass, maintenance and freeze lifted")
        // A connected, healthy network from here on (the liveness bound is for that case;
        // under loss a group may still flap for a moment when two rounds in a row are lost).
        cuts = [:]
        slow = [:]
        drop = 0
        for i in nodes.indices {
            if nodes[i].core == nil { restart(i) }
            for group in nodes[i].failingChecks.sorted() { apply(.checks(i, group, passing: true)) }
            if nodes[i].upstreamDown { apply(.upstream(i, reachable: true)) }
        }
        if options.mode == .random {
            retryHeal(.action(.freeze(on: false)))
            for node in scenario.config.nodes where node.kind == .node { retryHeal(.action(.maintenance(node.id, on: false))) }
        }
    }

    /// Operator requests that must succeed once the cluster is healed; retried until done.
    func retryHeal(_ request: Request) {
        guard now < livenessAt else { return }
        let i = Int(rng.next() % UInt64(nodes.count))
        let requestID = nextRequest
        nextRequest += 1
        healRequests[requestID] = (i, request)
        queue.push(now + timing.heartbeat.nanoseconds, .request(i, requestID, request))
        queue.push(now + 3 * timing.electionTimeout.nanoseconds, .healCheck(requestID))
    }

    /// Liveness: a healed cluster runs every group somewhere within the bound.
    func checkLiveness() {
        for group in scenario.config.groups.map(\.id) {
            let running = nodes.filter { $0.resources[group]?.running == true && $0.resources[group]?.stopping == false }
            if running.isEmpty {
                violate("liveness", "\(group) is not active anywhere \(formatMilliseconds(livenessBound)) after the cluster was healed (bound from the timing profile)")
            }
        }
    }

    // MARK: - Invariants after every step

    func checkAfterStep(_ i: Int) {
        guard let core = nodes[i].core else { return }
        if core.role == .leader {
            if let other = leaderOfTerm[core.term], other != core.id {
                violate("one leader per term", "\(core.id) and \(other) both lead term \(core.term)")
            }
            leaderOfTerm[core.term] = core.id
            if !nodes[i].wasLeader { checkLeaderCompleteness(i) }
        }
        nodes[i].wasLeader = core.role == .leader
        // Committed entries are never lost or changed.
        if core.commitIndex > nodes[i].checkedCommit {
            var k = nodes[i].checkedCommit + 1
            while k <= core.commitIndex {
                if let entry = core.entry(at: k) {
                    if Int(k) < committed.count, let known = committed[Int(k)] {
                        if known != entry {
                            violate("committed entries never change", "\(core.id) committed \(entry.command) (term \(entry.term)) at \(k) where \(known.command) (term \(known.term)) was committed")
                        }
                    } else {
                        while committed.count <= Int(k) { committed.append(nil) }
                        committed[Int(k)] = entry
                    }
                }
                k += 1
            }
            nodes[i].checkedCommit = core.commitIndex
        }
    }

    func checkLeaderCompleteness(_ i: Int) {
        guard let core = nodes[i].core else { return }
        let last = LogIndex(committed.count - 1)
        guard last > 0 else { return }
        if core.lastLogIndex < last {
            violate("committed entries never lost", "\(core.id) leads term \(core.term) with a log through \(core.lastLogIndex), but \(last) is committed")
            return
        }
        var k = max(core.snapshotIndex + 1, 1)
        while k <= last {
            if let known = committed[Int(k)], let entry = core.entry(at: k), entry != known {
                violate("committed entries never lost", "\(core.id) leads term \(core.term) with \(entry.command) at \(k) where \(known.command) was committed")
                return
            }
            k += 1
        }
    }

    func finalChecks() {
        for write in acked {
            let entry = committed.count > write.index ? committed[Int(write.index)] : nil
            if let entry, case .kv = entry.command { continue }
            if entry == nil, nodes.allSatisfy({ ($0.core?.snapshotIndex ?? 0) >= write.index || $0.core == nil }) { continue }
            violate("acknowledged writes survive", "\(nodes[write.node].id) acknowledged a write at index \(write.index) that is not committed as a KV write (\(entry.map { "\($0.command)" } ?? "never seen committed"))")
        }
        // Replicas that applied the same prefix hold the same state.
        var digests: [LogIndex: (NodeID, UInt64)] = [:]
        for node in nodes {
            guard let core = node.core else { continue }
            let digest = core.state.digest
            if let (other, known) = digests[core.appliedIndex], known != digest {
                violate("replicas agree", "\(core.id) and \(other) applied through \(core.appliedIndex) but hold different state")
            }
            digests[core.appliedIndex] = (core.id, digest)
            // Every acknowledged write is in the state of every replica that applied it.
            for write in acked where core.appliedIndex >= write.index && core.state.kv.revision < write.revision {
                violate("acknowledged writes survive", "\(core.id) applied through \(core.appliedIndex) but its store is at revision \(core.state.kv.revision) < acknowledged \(write.revision)")
            }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

extension Request {
    /// One line for traces.
    public var summary: String {
        switch self {
        case .configure(let config, _): "configure revision \(config.revision) (timing \(config.timing.profile ?? "custom"))"
        case .kv(let operation, let fence): "kv \(operation)\(fence.map { " fenced by \($0.group)@\($0.epoch)" } ?? "")"
        case .action(let action): "\(action)"
        case .readBarrier: "read barrier"
        case .transferLeadership(let to): "transfer leadership to \(to)"
        }
    }
}

extension Message {
    /// One line for traces.
    public var summary: String {
        switch self {
        case .preVote(let m): "pre-vote t\(m.term) last \(m.lastIndex)/\(m.lastTerm)"
        case .preVoteReply(let m): "pre-vote reply t\(m.term) \(m.granted ? "granted" : "refused")"
        case .vote(let m): "vote t\(m.term) last \(m.lastIndex)/\(m.lastTerm)\(m.transfer ? " transfer" : "")"
        case .voteReply(let m): "vote reply t\(m.term) \(m.granted ? "granted" : "refused")"
        case .append(let m):
            "append t\(m.term) prev \(m.prevIndex)/\(m.prevTerm) +\(m.entries.count) commit \(m.commit) round \(m.round) owned \(m.owned.map { "\($0.key)@\($0.value)" }.sorted()) echo \(m.echo.map { "\($0.at)" } ?? "-")"
        case .appendReply(let m):
            "append reply t\(m.term) \(m.success ? "ok" : "no") match \(m.match) round \(m.round) stamp \(m.stamp.map { "\($0.at)" } ?? "-")"
        case .snapshot(let m): "snapshot t\(m.term) at \(m.snapshot.index)"
        case .timeoutNow(let m): "timeout-now t\(m.term) standing left \(m.standingLeft)"
        default: "\(self)"
        }
    }
}
