import Logging
import NIOCore
import NIOPosix
import TandemConfig
import TandemCore
import TandemResources
import TandemStore
import TandemWire

/// The node runtime (DESIGN §3): interprets the core's directives on a real clock, real
/// sockets, a real disk and real resources, and feeds it messages, timers, check results,
/// stalls and operator requests. It decides nothing the core could decide.
///
/// An actor whose executor is the agent's one event loop: socket handlers, timers and the
/// core all run on that thread without hops, so a step's directives are carried out in order.
/// Persisting happens on that thread too (one fsync per step, before anything after it:
/// `PersistOp`'s contract); resources start and stop in tasks that report back as inputs.
public actor NodeRuntime {
    nonisolated let loop: any EventLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }

    public nonisolated let id: NodeID
    /// The configuration this node runs: its file, then each revision applied from the log.
    public internal(set) var file: TandemFile
    /// `file`'s text (nil when the agent was given a parsed file without one).
    var fileText: String?
    /// The newest revision the log made current that this node tried to apply, and why it
    /// could not (an alarm while set).
    var attemptedRevision: UInt64 = 0
    var configProblem: String?
    /// Per group: the epoch of its present owner and when this node learned of it (wall ms).
    var ownerSince: [GroupID: (epoch: Epoch, wall: Int64?)] = [:]
    var ownersSeenAt: LogIndex = 0
    /// A drill's fault injected here (`DrillFaults.swift`), and the drills this node runs.
    var activeFault: ActiveFault?
    var drills: [String: DrillRecord] = [:]
    var schedulingDrill = false
    /// A sweep of stale drill markers is under way (`sweepDrillMarkers`).
    var sweepingMarkers = false
    var lastScheduleCheck: Instant = .zero
    /// Queries to the other nodes' runtimes waiting for answers (`ConfigSync.swift`).
    var peerQueries: [UInt64: PeerQuery] = [:]
    let logger: Logger
    let store: Store
    var node: TandemNode
    var transport: Transport!
    let guardian: GuardClient
    let hands: Hands
    let notifier: SystemdNotifier
    let started = AgentClock.now()

    var timers: [TimerID: ArmedTimer] = [:]
    var timerGeneration: UInt64 = 0
    var tick: RepeatedTask?
    var lastTick: Instant
    var lastWatchdog: Instant = .zero
    var lastProbe: Instant = .zero
    var stalls = 0
    var longestStall: Duration = .zero

    var nextRequestID: UInt64 = 0
    var waiting: [UInt64: CheckedContinuation<Response, Never>] = [:]
    var recentEvents: [StoredEvent] = []
    /// Per group: the chain of resource operations (start and stop never overlap).
    var groupWork: [GroupID: Task<Void, Never>] = [:]
    /// Starts and stops of each group not finished yet (the leading VIPs are added at once
    /// only when there are none).
    var groupsInFlight: [GroupID: Int] = [:]
    var stopping = false
    var failed: String?

    /// Followers of the event stream and of KV watches (`Operations.swift`).
    var eventSubscribers: [UInt64: AsyncStream<StoredEvent>.Continuation] = [:]
    var kvWatchers: [UInt64: KVWatcher] = [:]
    var nextSubscriberID: UInt64 = 0
    /// The KV revision the watchers were last told about.
    var watchedRevision: UInt64 = 0
    var lastRecordedEventID: Int64 = 0
    /// Events recorded since the store was last pruned to `file.eventRetention`.
    var eventsSincePrune = 0
    /// Owner changes this node decided as controller since start, by group and kind of reason (metrics).
    var ownerChanges: [OwnerChangeKey: Int] = [:]
    /// Open alarms by id, and self-demotions not yet followed by a quorum (`Alarms.swift`).
    var openAlarms: [String: Alarm] = [:]
    var demotions: [GroupID: String] = [:]
    var lastAlarmCheck: Instant = .zero
    /// A read-only connection to the store, for the API's event history.
    nonisolated let historyReader: StoreReader

    /// Opens the store, tears down whatever a previous run left active, binds the links and
    /// starts the core. Throws with a message naming what is wrong (key, address, store).
    public init(
        file: TandemFile, document: String? = nil, configPath: String, node id: NodeID, keys: [ClusterKey], executable: String,
        group: any EventLoopGroup, logger: Logger, environment: [String: String]
    ) async throws(AgentError) {
        self.loop = group.next()
        self.id = id
        self.file = file
        self.fileText = document
        self.logger = logger
        self.notifier = SystemdNotifier(environment: environment)
        self.lastTick = AgentClock.now()
        let storePath = file.dataDir + "/\(id).sqlite"
        do {
            self.store = try Store(path: storePath)
        } catch {
            throw AgentError("cannot open the store \(storePath): \(error)")
        }
        let persisted: PersistentState
        do {
            persisted = try store.load()
            historyReader = try StoreReader(path: storePath)
            lastRecordedEventID = try historyReader.lastEventID()
            // Retention at every start too, so a lowered `events.keep` applies at once.
            try store.pruneEvents(keepingNewest: file.eventRetention)
        } catch {
            throw AgentError("cannot read the store \(storePath): \(error)")
        }
        var seed = SystemRandomNumberGenerator()
        self.node = TandemNode(id: id, config: file.cluster, persisted: persisted, seed: seed.next(), fencing: file.fence != nil)
        let hands = Hands(file: file, node: id, logger: logger)
        self.hands = hands
        // Whatever a dead agent left running is stopped before this one takes part.
        await hands.sweepAll(reason: "agent start: stopping what a previous run may have left active")
        self.guardian = try GuardClient(executable: executable, arguments: ["--config", configPath, "--node", id.name])
        // The incarnation the core takes at `.start`, made durable before anything is sealed:
        // a crash before the core's own persist must not let the next run reuse its counters
        // (the counter is the nonce under this incarnation's subkey).
        let incarnation = persisted.incarnation + 1
        do {
            try store.persist([.incarnation(incarnation)])
        } catch {
            throw AgentError("cannot write the store \(storePath): \(error)")
        }
        let sealer = Sealer(cluster: file.cluster.name, key: keys[0], sender: id, incarnation: incarnation)
        let others = Set(file.cluster.nodes.map(\.id).filter { $0 != id })
        let opener = Opener(cluster: file.cluster.name, keys: keys, receiver: id, senders: others)
        // Probes measure RTT and loss per link; liveness of a link counts every datagram
        // (heartbeats too), so probes need not be as frequent as heartbeats.
        let probeInterval = max(file.cluster.timing.heartbeat, .milliseconds(50))
        let loop = self.loop
        let transport = try Transport(
            loop: loop, me: id, file: file, sealer: sealer, opener: opener, probeInterval: probeInterval,
            deliver: { [unowned self] from, message in
                self.assumeIsolated { $0.feed(.message(from: from, message)) }
            },
            log: { [logger] in logger.info("\($0)") })
        transport.deliverAgent = { [unowned self] from, message in
            self.assumeIsolated { $0.received(message, from: from) }
        }
        transport.linkChanged = { [unowned self] peer, link, up, detail in
            self.assumeIsolated {
                $0.recordLocal(up ? .linkUp : .linkDown, reason: "link \(link) to \(peer) is \(up ? "up" : "down")", evidence: detail)
            }
        }
        try await transport.bind(group: group)
        await self.begin(transport)
    }

    func begin(_ transport: Transport) {
        self.transport = transport
        // Owners from before this start: when they took over is not known here.
        for (group, g) in node.state.groups where g.owner != nil { ownerSince[group] = (g.epoch, nil) }
        ownersSeenAt = node.state.applied
        feed(.start)
        precondition(node.incarnation == transport.sealer.incarnation, "the core's incarnation differs from the sealer's")
        feed(.running(software: TandemVersion.current, configRevision: file.cluster.revision))
        let interval = max(file.cluster.timing.heartbeat, .milliseconds(10))
        lastTick = AgentClock.now()
        tick = loop.scheduleRepeatedTask(initialDelay: .nanoseconds(interval.nanoseconds), delay: .nanoseconds(interval.nanoseconds)) {
            [unowned self] _ in
            self.assumeIsolated { $0.onTick(interval) }
        }
        let (changes, sink) = AsyncStream<Hands.HealthChange>.makeStream()
        hands.startMonitoring { sink.yield($0) }
        // One consumer keeps the order of transitions. (The runtime's tasks capture it
        // strongly: with `unowned` the agent crashed after about 20 group moves.)
        Task { [self] in
            for await change in changes { self.healthChanged(change) }
        }
        notifier.notify("READY=1\nSTATUS=member of \(file.cluster.name) as \(id)")
        logger.info("agent \(id) started: incarnation \(node.incarnation), term \(node.term), log through \(node.lastLogIndex)")
    }

    // MARK: - Inputs

    /// Steps the core once and carries out what it says.
    func feed(_ input: Input) {
        guard failed == nil else { return }
        let now = AgentClock.now()
        let directives = node.step(input, now: now)
        execute(directives)
        if !kvWatchers.isEmpty, node.state.kv.revision != watchedRevision { notifyWatchers() }
        if node.state.config.revision != file.cluster.revision { followConfig() }
        if node.state.applied != ownersSeenAt { noteOwners() }
    }

    func execute(_ directives: [Directive]) {
        // Group commit: every persist of the step in one transaction (moving a persist
        // earlier is safe), with the step's events (no second fsync on the loop). What the
        // core put before its first persist is carried out before it, datagrams on the wire
        // (a leader's appends: it replicates while it writes its own log); everything after
        // waits until the write is durable.
        var ops: [PersistOp] = []
        var events: [StoredEvent] = []
        for directive in directives {
            switch directive {
            case .persist(let op): ops.append(op)
            case .event(let event): events.append(StoredEvent(id: 0, wallTime: AgentClock.wallMilliseconds(), event: event))
            default: break
            }
        }
        let firstPersist = directives.firstIndex { if case .persist = $0 { true } else { false } } ?? directives.count
        for directive in directives[..<firstPersist] { carryOut(directive) }
        if !ops.isEmpty {
            transport?.flush()
            do {
                events = try store.persist(ops, events: events)
            } catch {
                fail("cannot persist to \(store.path): \(error)")
                return
            }
        }
        for directive in directives[firstPersist...] {
            if case .persist = directive { continue }
            carryOut(directive)
        }
        // Datagrams can arrive between binding the links and `begin` (they step nothing yet).
        transport?.flush()
        if !events.isEmpty { record(events, stored: !ops.isEmpty) }
    }

    /// One directive other than a persist.
    func carryOut(_ directive: Directive) {
        switch directive {
        case .persist:
            break
        case .send(let to, let message):
            transport.send(message, to: to)
        case .schedule(let timer, let at):
            if let armed = timers[timer], armed.wakesAt <= at {
                // Moved later (a follower's election timer, at every heartbeat): the armed
                // wake-up stays and looks again when it comes, instead of a cancel and a new
                // task each time.
                timers[timer]!.deadline = at
            } else {
                timers[timer]?.task.cancel()
                arm(timer, at: at)
            }
        case .cancel(let timer):
            timers.removeValue(forKey: timer)?.task.cancel()
        case .activate(let group, _, let epoch, let until, let reason):
            activate(group, epoch: epoch, until: until, reason: reason)
        case .renew(let group, _, let until):
            if let epoch = node.activeGroups[group] { guardian.hold(group, epoch: epoch, until: until, revision: heldRevision(group)) }
        case .deactivate(let group, let epoch, let reason):
            deactivate(group, epoch: epoch, reason: reason)
        case .reply(let requestID, let response):
            waiting.removeValue(forKey: requestID)?.resume(returning: response)
        case .event(let event):
            logger.notice("\(event.description)")
            hands.notify(event)
        case .fence(let target, let group, let epoch, let reason):
            fence(target, group: group, epoch: epoch, reason: reason)
        }
    }

    /// A core timer: due at `deadline`; its event-loop task wakes at `wakesAt`, which is never
    /// later than the deadline. `generation` tells the current task from one cancelled while
    /// already taken for running.
    struct ArmedTimer {
        var deadline: Instant
        var wakesAt: Instant
        var task: Scheduled<Void>
        var generation: UInt64
    }

    func arm(_ timer: TimerID, at deadline: Instant) {
        timerGeneration &+= 1
        let generation = timerGeneration
        let delay = max(0, (deadline - AgentClock.now()).nanoseconds)
        let task = loop.scheduleTask(in: .nanoseconds(delay)) { [unowned self] in
            self.assumeIsolated { $0.timerWoke(timer, generation: generation) }
        }
        timers[timer] = ArmedTimer(deadline: deadline, wakesAt: deadline, task: task, generation: generation)
    }

    func timerWoke(_ timer: TimerID, generation: UInt64) {
        guard let armed = timers[timer], armed.generation == generation else { return }
        if AgentClock.now() < armed.deadline {
            arm(timer, at: armed.deadline)
            return
        }
        timers[timer] = nil
        feed(.timer(timer))
    }

    /// Every probe interval: probes, stall measurement, the systemd watchdog.
    func onTick(_ interval: Duration) {
        let now = AgentClock.now()
        let late = (now - lastTick) - interval
        lastTick = now
        let threshold = Duration.nanoseconds(file.cluster.timing.lease.nanoseconds / 2)
        if late > threshold {
            stalls += 1
            longestStall = max(longestStall, late)
            logger.warning("this agent was stalled for \(late) (its tick came late)")
            feed(.stalled(late))
        }
        if now - lastProbe + interval / 2 >= transport.probeInterval {
            lastProbe = now
            transport.probe(now: now)
        }
        if now - lastScheduleCheck >= .seconds(10) {
            lastScheduleCheck = now
            runScheduledDrills()
            sweepDrillMarkers()
        }
        if now - lastAlarmCheck >= .seconds(1) {
            lastAlarmCheck = now
            evaluateAlarms(status())
        }
        if let every = notifier.watchdogInterval, now - lastWatchdog >= every {
            lastWatchdog = now
            notifier.notify("WATCHDOG=1")
        }
        if guardian.isBroken { fail("the guard process died: without it a stall could leave a group active past its deadline") }
    }

    func healthChanged(_ change: Hands.HealthChange) {
        switch change {
        case .group(let group, let passing, let reason):
            recordLocal(.check, group: group, reason: "checks of \(group) on \(id) \(passing ? "pass" : "fail")", evidence: reason)
            feed(.checks(group: group, passing: passing))
        case .upstream(let reachable, let reason):
            recordLocal(.check, reason: "upstream of \(id) \(reachable ? "reachable" : "unreachable")", evidence: reason)
            feed(.upstream(reachable: reachable))
        }
    }

    // MARK: - Groups

    func activate(_ group: GroupID, epoch: Epoch, until: Instant, reason: String) {
        // The guard holds the deadline before anything starts.
        guardian.hold(group, epoch: epoch, until: until, revision: heldRevision(group))
        let previous = groupWork[group]
        let hands = self.hands
        let guardian = self.guardian
        // Nothing of this group is starting or stopping: its leading VIPs go on at once, here
        // on the loop (microseconds), rather than after the task hops that start the rest
        // (about a millisecond on a busy machine); `start` then finds them in place.
        if groupsInFlight[group, default: 0] == 0 { hands.addAddressesAtOnce(group) }
        groupsInFlight[group, default: 0] += 1
        groupWork[group] = Task { [self] in
            await previous?.value
            let result = await hands.start(group, epoch: epoch, reason: reason)
            for pid in result.processes { guardian.addProcess(group, pid: pid) }
            if let problem = result.problem { self.logger.error("\(group) epoch \(epoch) failed to start: \(problem)") }
            self.groupsInFlight[group, default: 1] -= 1
            self.started(group, epoch: epoch, ok: result.problem == nil)
        }
    }

    func started(_ group: GroupID, epoch: Epoch, ok: Bool) {
        hands.setActive(group, ok)
        feed(.groupStarted(group: group, epoch: epoch, ok: ok))
    }

    func deactivate(_ group: GroupID, epoch: Epoch, reason: String) {
        hands.setActive(group, false)
        let previous = groupWork[group]
        let hands = self.hands
        let guardian = self.guardian
        groupsInFlight[group, default: 0] += 1
        groupWork[group] = Task { [self] in
            await previous?.value
            await hands.stop(group, epoch: epoch, reason: reason)
            guardian.release(group)
            await self.stopped(group, epoch: epoch)
        }
    }

    func stopped(_ group: GroupID, epoch: Epoch) {
        groupsInFlight[group, default: 1] -= 1
        // A resource change of a new configuration revision waited for the group to stop.
        if groupsInFlight[group, default: 0] == 0, node.activeGroups[group] == nil { hands.settle(group) }
        feed(.groupStopped(group: group, epoch: epoch))
    }

    /// Notes when each group's owner changed, as this node learns it (for the status).
    func noteOwners() {
        ownersSeenAt = node.state.applied
        for (group, g) in node.state.groups where g.owner != nil && ownerSince[group]?.epoch != g.epoch {
            ownerSince[group] = (g.epoch, AgentClock.wallMilliseconds())
        }
    }

    /// The configuration revision of the group's resources here (the guard stops them by it).
    func heldRevision(_ group: GroupID) -> UInt64 {
        hands.revision(of: group) ?? file.cluster.revision
    }

    /// Rule 4(f): runs the fence hook in the background; its end, whatever it is, goes back
    /// to the core (the spec's timeout bounds it).
    func fence(_ target: NodeID, group: GroupID, epoch: Epoch, reason: String) {
        guard let spec = file.fence else {
            feed(.fenced(node: target, ok: false, detail: "no fence hook is configured on \(id)"))
            return
        }
        let (id, logger) = (self.id, self.logger)
        Task { [self] in
            let result = await runFence(spec, target: target, group: group, epoch: epoch, node: id, reason: reason, logger: logger)
            self.feed(.fenced(node: target, ok: result.ok, detail: result.detail))
        }
    }

    // MARK: - Requests

    /// Hands a request to the core and waits for its answer (or `timeout`).
    public func request(_ request: Request, timeout: Duration = .seconds(10)) async -> Response {
        if let failed { return .refused(Refusal(.busy, "this agent has failed: \(failed)")) }
        if stopping, case .action = request {
            return .refused(Refusal(.busy, "this agent is shutting down"))
        }
        return await take(request, timeout: timeout)
    }

    /// Hands a request to the core (also during shutdown: the hand-over uses it).
    func take(_ request: Request, timeout: Duration) async -> Response {
        nextRequestID += 1
        let requestID = nextRequestID
        let timer = loop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) { [unowned self] in
            self.assumeIsolated {
                $0.waiting.removeValue(forKey: requestID)?.resume(
                    returning: .refused(Refusal(.timedOut, "no answer within \(timeout); the outcome is unknown")))
            }
        }
        let response = await withCheckedContinuation { continuation in
            waiting[requestID] = continuation
            feed(.request(id: requestID, request))
        }
        timer.cancel()
        return response
    }

    /// The local replicated state (what this node has applied).
    public var state: ReplicatedState { node.state }

    // MARK: - Events

    func record(_ events: [StoredEvent], stored: Bool = false) {
        var events = events
        if !stored {
            do {
                events = try store.appendEvents(events)
            } catch {
                logger.error("cannot record \(events.count) events in \(store.path): \(error)")
            }
        }
        if let last = events.last?.id, last > 0 { lastRecordedEventID = last }
        noteDemotion(events)
        for stored in events where stored.event.kind == .assigned {
            guard let group = stored.event.group else { continue }
            let kind = OwnerChangeKey.kind(of: stored.event.evidence)
            ownerChanges[OwnerChangeKey(group: group.name, reason: kind), default: 0] += 1
            // An unplanned move decided here: a post-failover report once things settle.
            if stored.event.node == id, kind == "failover" || kind == "released" {
                Task { [self] in await self.postFailoverReport(group, decision: stored) }
            }
        }
        recentEvents.append(contentsOf: events)
        if recentEvents.count > 200 { recentEvents.removeFirst(recentEvents.count - 200) }
        for continuation in eventSubscribers.values {
            for event in events { continuation.yield(event) }
        }
        // Retention: prune once per thousand events (a DELETE of the oldest, rarely).
        eventsSincePrune += events.count
        if eventsSincePrune >= 1000 {
            eventsSincePrune = 0
            do {
                try store.pruneEvents(keepingNewest: file.eventRetention)
            } catch {
                logger.error("cannot prune events in \(store.path): \(error)")
            }
        }
    }

    // MARK: - Shutdown

    /// SIGTERM: hands every group this node owns to a standby (a planned switchover), hands
    /// leadership to another voter, then stops what is still active and closes everything.
    public func shutdown(handOverWithin limit: Duration) async {
        guard !stopping else { return }
        stopping = true
        notifier.notify("STOPPING=1\nSTATUS=handing over")
        let deadline = AgentClock.now() + limit
        if failed == nil {
            for group in file.cluster.groups.map(\.id) where node.state.groups[group]?.owner == id {
                let left = deadline - AgentClock.now()
                guard left > .zero else { break }
                logger.notice("shutdown: handing \(group) to a standby")
                let response = await take(.action(.switchover(group, to: nil)), timeout: left)
                logger.notice("shutdown: switchover of \(group): \(response)")
            }
            // Hand leadership over too, so that the new owner's standing never lapses waiting
            // for an election. The target may need a moment to catch up: retry briefly.
            let transferDeadline = min(deadline, AgentClock.now() + .seconds(3))
            while node.role == .leader, let target = transferTarget() {
                let left = transferDeadline - AgentClock.now()
                guard left > .zero else { break }
                let response = await take(.transferLeadership(to: target), timeout: left)
                logger.notice("shutdown: leadership to \(target): \(response)")
                if case .refused(let refusal) = response, refusal.code == .targetNotReady {
                    try? await Task.sleep(for: file.cluster.timing.heartbeat)
                    continue
                }
                break
            }
        }
        await stopAll(reason: "agent shutting down")
    }

    /// The voter to hand leadership to: the healthiest caught-up one, by configuration order.
    func transferTarget() -> NodeID? {
        let last = node.lastLogIndex
        return file.cluster.voters.first { $0 != id && (node.matchIndex(of: $0) ?? 0) >= last }
            ?? file.cluster.voters.first { $0 != id }
    }

    func stopAll(reason: String) async {
        tick?.cancel()
        for timer in timers.values { timer.task.cancel() }
        timers.removeAll()
        transport?.close()
        for (group, epoch) in node.activeGroups.sorted(by: { $0.key < $1.key }) {
            await groupWork[group]?.value
            await hands.stop(group, epoch: epoch, reason: reason)
            guardian.release(group)
        }
        for work in groupWork.values { await work.value }
        hands.stopMonitors()
        guardian.close()
        finishStreams()
        // The last events (the hand-over, the stop) still reach the webhooks, briefly.
        await hands.notifiers.shutdown(within: .seconds(2))
        for continuation in waiting.values {
            continuation.resume(returning: .refused(Refusal(.busy, "the agent stopped")))
        }
        waiting.removeAll()
    }

    /// Something the agent cannot carry on without (its disk, its guard): stop taking part.
    /// The guard stops the groups at their deadlines at the latest; this stops them now.
    func fail(_ reason: String) {
        guard failed == nil else { return }
        failed = reason
        logger.critical("agent failed: \(reason); stopping every group and leaving the cluster")
        Task { await self.stopAll(reason: reason) }
    }

    public var failure: String? { failed }
}
