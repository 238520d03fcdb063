import NIOCore
import TandemCore
import TandemWire
import Testing

/// Round trips and determinism of the binary codec (`WireCodec`).
@Suite struct CodecTests {
    static func roundTrip(_ message: Message) throws -> Message {
        var buffer = ByteBuffer()
        WireCodec.encode(message, into: &buffer)
        let decoded = try WireCodec.decodeMessage(from: &buffer)
        #expect(buffer.readableBytes == 0)
        return decoded
    }

    @Test func test_everyMessageCase_roundTrip_equal() throws {
        let messages = Fixtures.messages()
        #expect(messages.count >= 17 + 5 + 7)
        for message in messages {
            #expect(try Self.roundTrip(message) == message)
        }
    }

    @Test func test_everyCommandCase_entryRoundTrip_equal() throws {
        for (offset, command) in Fixtures.commands.enumerated() {
            let entry = Entry(term: 3, index: LogIndex(offset + 1), command: command)
            let bytes = WireCodec.encode(entry)
            #expect(try WireCodec.decodeEntry(bytes) == entry)
        }
    }

    @Test func test_configWithEveryOption_roundTrip_equalAndValid() throws {
        try Fixtures.fullConfig.validate()
        let bytes = WireCodec.encode(Fixtures.fullConfig)
        let decoded = try WireCodec.decodeConfig(bytes)
        #expect(decoded == Fixtures.fullConfig)
        for profile in [Timing.fast, .balanced, .wan] {
            var config = Fixtures.pairConfig
            config.timing = profile
            #expect(try WireCodec.decodeConfig(WireCodec.encode(config)) == config)
        }
    }

    @Test func test_durationsOfEveryMagnitude_roundTrip_exact() throws {
        let durations: [Duration] = [
            .zero, .nanoseconds(1), .nanoseconds(-1), .milliseconds(45), .seconds(-7),
            Duration(secondsComponent: Int64.max, attosecondsComponent: 999_999_999_999_999_999),
            Duration(secondsComponent: Int64.min, attosecondsComponent: -999_999_999_999_999_999),
            Duration(attoseconds: 1), Duration(attoseconds: Int128.max), Duration(attoseconds: Int128.min),
        ]
        for duration in durations {
            var config = Fixtures.pairConfig
            config.groups[0].failback = .auto(holdDown: duration)
            config.timing.rho = -0.0
            let decoded = try WireCodec.decodeConfig(WireCodec.encode(config))
            #expect(decoded.groups[0].failback == .auto(holdDown: duration))
            #expect(decoded.timing.rho.bitPattern == (-0.0 as Double).bitPattern)
        }
    }

    @Test func test_richReplicatedState_snapshotRoundTrip_equalIncludingHiddenState() throws {
        let state = Fixtures.richState()
        #expect(state.kv.revision > 20)
        #expect(state.kv.retainedEventCount == Int(state.kv.revision))
        #expect(!state.parts.appliedOrigins.isEmpty)
        #expect(state.groups["pbx"]?.pending != nil)
        #expect(state.frozen)
        #expect(state.config.revision == 2)
        let snapshot = Fixtures.snapshot(state)
        let decoded = try WireCodec.decodeSnapshot(WireCodec.encode(snapshot))
        #expect(decoded == snapshot)
        #expect(decoded.state.digest == state.digest)
        #expect(decoded.state.parts == state.parts)
    }

    /// A follower that installed a decoded snapshot behaves like the leader: it applies the
    /// same next entries with the same effects (the dedupe memory and the history came along).
    @Test func test_decodedSnapshot_applyingMoreEntries_sameEffectsAndState() throws {
        var leader = Fixtures.richState()
        var follower = try WireCodec.decodeSnapshot(WireCodec.encode(Fixtures.snapshot(leader))).state
        let repeated = Command.kv(.put(key: "calls/2", value: [7], ifRevision: nil), fence: nil, origin: RequestOrigin(node: "b", incarnation: 1, id: 101))
        let fresh = Command.kv(.put(key: "calls/2", value: [8], ifRevision: nil), fence: nil, origin: RequestOrigin(node: "b", incarnation: 1, id: 5000))
        for command in [repeated, fresh, .leader("b")] {
            let entry = Entry(term: 12, index: leader.applied + 1, command: command)
            #expect(leader.apply(entry) == follower.apply(entry))
        }
        #expect(leader == follower)
        #expect(leader.kv.events(prefix: "calls/", fromRevision: 1) == follower.kv.events(prefix: "calls/", fromRevision: 1))
    }

    /// A store whose history was trimmed (limit reached, dead prefix in the array) and a full
    /// dedupe ring (the ring position in the middle) both survive a round trip.
    @Test func test_trimmedHistoryAndFullDedupeRing_roundTrip_equal() throws {
        var state = ReplicatedState(config: Fixtures.pairConfig)
        let limit = ReplicatedState.appliedOriginsLimit
        for i in 0..<(limit + 1234) {
            let origin = RequestOrigin(node: "a", incarnation: 1, id: UInt64(i))
            _ = state.apply(Entry(term: 1, index: LogIndex(i + 1), command: .kv(.put(key: "k\(i % 50)", value: [UInt8(i & 0xFF)], ifRevision: nil), fence: nil, origin: origin)))
        }
        let parts = state.parts
        #expect(parts.appliedOrigins.count == limit)
        #expect(parts.appliedOriginNext == 1234)
        #expect(state.kv.retainedEventCount == 10_000)
        #expect(state.kv.oldestRetainedRevision > 1)
        let snapshot = Fixtures.snapshot(state, term: 1)
        let decoded = try WireCodec.decodeSnapshot(WireCodec.encode(snapshot))
        #expect(decoded == snapshot)

        var store = KVStore(historyLimit: 3)
        for i in 0..<200 { _ = store.apply(.put(key: "k\(i % 7)", value: [UInt8(i)], ifRevision: nil)) }
        _ = store.apply(.delete(key: "k3", ifRevision: nil))
        var small = ReplicatedState(config: Fixtures.pairConfig).parts
        small.kv = store
        let smallState = ReplicatedState(parts: small)
        let again = try WireCodec.decodeSnapshot(WireCodec.encode(Snapshot(index: 0, term: 0, state: smallState)))
        #expect(again.state == smallState)
        #expect(again.state.kv.retainedHistory.count == 3)
        #expect(again.state.kv.events(prefix: "", fromRevision: store.oldestRetainedRevision) == store.events(prefix: "", fromRevision: store.oldestRetainedRevision))
    }

    /// The same value gives the same bytes, however its dictionaries were built.
    @Test func test_sameValueBuiltDifferently_sameBytes() throws {
        var forward: [GroupID: Epoch] = [:]
        var backward: [GroupID: Epoch] = [:]
        let names = (0..<200).map { GroupID("g\($0)") }
        for (i, name) in names.enumerated() { forward[name] = Epoch(i) }
        for (i, name) in names.enumerated().reversed() { backward[name] = Epoch(i) }
        backward.reserveCapacity(5000)
        let a = Message.append(Append(term: 1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, round: 0, owned: forward, echo: nil))
        let b = Message.append(Append(term: 1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, round: 0, owned: backward, echo: nil))
        #expect(a == b)
        #expect(WireCodec.encode(a) == WireCodec.encode(b))

        let one = Fixtures.snapshot(Fixtures.richState())
        let two = Fixtures.snapshot(Fixtures.richState())
        #expect(WireCodec.encode(one) == WireCodec.encode(two))
        // Re-encoding a decoded value gives the same bytes.
        let bytes = WireCodec.encode(one)
        #expect(WireCodec.encode(try WireCodec.decodeSnapshot(bytes)) == bytes)
        for message in Fixtures.messages() {
            let encoded = WireCodec.encode(message)
            #expect(WireCodec.encode(try WireCodec.decodeMessage(encoded)) == encoded)
        }
    }

    @Test func test_payloads_roundTrip_equal() throws {
        let payloads: [Payload] = [
            .probe(Probe(link: 0, sequence: 0, sentAt: 0, isReply: false)),
            .probe(Probe(link: 7, sequence: UInt64.max, sentAt: Int64.min, isReply: true)),
            .core(.voteReply(VoteReply(term: 1, granted: true))),
            .agent(.configCheck(id: 0, document: "")),
            .agent(.configCheck(id: UInt64.max, document: "cluster: lab\nrevision: 2 # é\n")),
            .agent(.configChecked(id: 7, problems: [])),
            .agent(.configChecked(id: 8, problems: ["nodes.w: its link or api addresses changed", ""])),
            .agent(.eventsQuery(id: 9, limit: UInt32.max)),
            .agent(.eventsAnswer(id: 10, events: [
                RecordedEvent(id: 1, wallTime: -5, event: Event(kind: .assigned, node: "a", term: 3, group: "pbx", epoch: 4, reason: "r", evidence: "e")),
                RecordedEvent(id: Int64.max, wallTime: 1_790_000_000_000, event: Event(kind: Event.Kind("x"), node: "b", term: 0, group: nil, epoch: nil, reason: "", evidence: "")),
            ])),
            .agent(.drillFault(id: 11, drill: 3, fault: .powerLoss, milliseconds: 1)),
            .agent(.drillFault(id: 12, drill: 3, fault: .isolation, milliseconds: UInt32.max)),
            .agent(.drillFault(id: 13, drill: 3, fault: .link(7), milliseconds: 5000)),
            .agent(.drillFault(id: 14, drill: 3, fault: .service("pbx"), milliseconds: 5000)),
            .agent(.drillEnd(id: 15, drill: UInt64.max)),
            .agent(.drillAck(id: 16, problem: "")),
            .agent(.digestQuery(id: 17)),
            .agent(.digestAnswer(id: 18, applied: 99, kvRevision: 7, digest: UInt64.max)),
        ]
        for payload in payloads {
            #expect(try WireCodec.decodePayload(WireCodec.encode(payload)) == payload)
        }
        let probe = Probe(link: 2, sequence: 5, sentAt: 77, isReply: false)
        #expect(probe.reply == Probe(link: 2, sequence: 5, sentAt: 77, isReply: true))
    }

    @Test func test_heartbeat_encoding_isCompact() {
        let heartbeat = Message.append(Append(
            term: 12, prevIndex: 3456, prevTerm: 12, entries: [], commit: 3456, round: 99_999,
            owned: ["pbx": 4], echo: Stamp(at: Instant(nanoseconds: 1_234_567_890_123), incarnation: 3)))
        #expect(WireCodec.encode(heartbeat).count < 40)
    }
}

/// A snapshot taken by a running node (log compaction) survives the codec, and a node
/// restored from the decoded snapshot has the same state.
@Suite struct NodeSnapshotTests {
    @Test func test_snapshotTakenByRunningNode_roundTrip_restoresSameState() throws {
        let config = ClusterConfig(
            name: "solo", timing: .fast, nodes: [NodeConfig("a")],
            groups: [GroupConfig("g", prefer: ["a"])], snapshotThreshold: 5)
        var node = TandemNode(id: "a", config: config, persisted: PersistentState(), seed: 1)
        var now = Instant(nanoseconds: 1_000_000_000)
        var disk = PersistentState()
        var timers: [TimerID: Instant] = [:]
        func run(_ input: Input) {
            for directive in node.step(input, now: now) {
                switch directive {
                case .persist(let op): disk.apply(op)
                case .schedule(let timer, let at): timers[timer] = at
                case .cancel(let timer): timers[timer] = nil
                default: break
                }
            }
        }
        run(.start)
        // Let timers fire until the node leads.
        for _ in 0..<50 where node.role != .leader {
            guard let (timer, at) = timers.min(by: { $0.value < $1.value }) else { break }
            timers[timer] = nil
            now = max(now, at)
            run(.timer(timer))
        }
        #expect(node.role == .leader)
        for i in 0..<23 {
            now = now + .milliseconds(1)
            run(.request(id: UInt64(i + 1), .kv(.put(key: "k\(i % 6)", value: [UInt8(i)], ifRevision: nil), fence: nil)))
        }
        let snapshot = try #require(disk.snapshot)
        #expect(snapshot.index >= 20)
        #expect(snapshot.state.kv.revision > 0)
        let decoded = try WireCodec.decodeSnapshot(WireCodec.encode(snapshot))
        #expect(decoded == snapshot)
        // The log entries after it round-trip too.
        for entry in disk.entries { #expect(try WireCodec.decodeEntry(WireCodec.encode(entry)) == entry) }

        var restoredDisk = disk
        restoredDisk.snapshot = decoded
        restoredDisk.entries = try disk.entries.map { try WireCodec.decodeEntry(WireCodec.encode($0)) }
        let restored = TandemNode(id: "a", config: config, persisted: restoredDisk, seed: 1)
        let original = TandemNode(id: "a", config: config, persisted: disk, seed: 1)
        #expect(restored.state == original.state)
    }
}
