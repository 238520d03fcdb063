import TandemCore
import TandemWire
import Testing

/// The decoder on hostile input: it fails with an error naming what is wrong, and never traps,
/// hangs or allocates absurdly.
@Suite struct HostileInputTests {
    /// Valid encodings of every kind, with the decoder for each.
    static func samples() -> [(name: String, bytes: [UInt8], decode: ([UInt8]) throws(WireError) -> Void)] {
        var out: [(String, [UInt8], ([UInt8]) throws(WireError) -> Void)] = []
        for (i, message) in Fixtures.messages().enumerated() {
            out.append(("message \(i)", WireCodec.encode(message), { (b: [UInt8]) throws(WireError) in _ = try WireCodec.decodeMessage(b) }))
        }
        for (i, command) in Fixtures.commands.enumerated() {
            out.append(("entry \(i)", WireCodec.encode(Entry(term: 2, index: 9, command: command)), { (b: [UInt8]) throws(WireError) in _ = try WireCodec.decodeEntry(b) }))
        }
        out.append(("snapshot", WireCodec.encode(Fixtures.snapshot(Fixtures.richState(kvWrites: 15))), { (b: [UInt8]) throws(WireError) in _ = try WireCodec.decodeSnapshot(b) }))
        out.append(("config", WireCodec.encode(Fixtures.fullConfig), { (b: [UInt8]) throws(WireError) in _ = try WireCodec.decodeConfig(b) }))
        return out
    }

    @Test func test_everyTruncation_ofEveryEncoding_failsWithError() throws {
        var checked = 0
        for sample in Self.samples() {
            for length in 0..<sample.bytes.count {
                do {
                    try sample.decode(Array(sample.bytes[..<length]))
                    Issue.record("\(sample.name) truncated to \(length) of \(sample.bytes.count) bytes decoded")
                } catch {
                    #expect(error.code == .truncated, "\(sample.name) at \(length): \(error)")
                    checked += 1
                }
            }
            try sample.decode(sample.bytes)
        }
        #expect(checked > 3000)
    }

    /// Seeded random corruption: flipped bits, random bytes, inserted and deleted bytes. A
    /// corrupted encoding either fails, or decodes to a value that encodes back to exactly
    /// those bytes (one encoding per value).
    @Test func test_randomCorruption_seeded_neverTrapsAndCanonicalWhenAccepted() throws {
        var rng = SplitMix64(seed: 0x7A4D_E11E)
        let samples = Self.samples()
        var accepted = 0, refused = 0
        for _ in 0..<4000 {
            let sample = samples[Int(rng.next() % UInt64(samples.count))]
            var bytes = sample.bytes
            let edits = 1 + Int(rng.next() % 3)
            for _ in 0..<edits {
                let position = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[position] ^= UInt8(1 << (rng.next() % 8))
                case 1: bytes[position] = UInt8(truncatingIfNeeded: rng.next())
                case 2: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: position)
                default: if bytes.count > 1 { bytes.remove(at: position) }
                }
            }
            do {
                try sample.decode(bytes)
                accepted += 1
            } catch {
                refused += 1
                #expect(!error.description.isEmpty)
            }
        }
        #expect(refused > 1000)
        // Accepted corruptions are canonical: check it on messages, entries and snapshots.
        var rng2 = SplitMix64(seed: 99)
        for message in Fixtures.messages() {
            let bytes = WireCodec.encode(message)
            for _ in 0..<50 {
                var corrupt = bytes
                corrupt[Int(rng2.next() % UInt64(corrupt.count))] ^= UInt8(1 << (rng2.next() % 8))
                if let decoded = try? WireCodec.decodeMessage(corrupt) {
                    #expect(WireCodec.encode(decoded) == corrupt)
                }
            }
        }
        _ = accepted
    }

    /// Random bytes after a valid prefix (version and a tag) never trap either.
    @Test func test_randomGarbage_afterValidTags_neverTraps() {
        var rng = SplitMix64(seed: 4242)
        for _ in 0..<3000 {
            let length = Int(rng.next() % 64)
            var bytes: [UInt8] = [WireCodec.version, UInt8(rng.next() % 18)]
            for _ in 0..<length { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
            _ = try? WireCodec.decodeMessage(bytes)
            bytes[1] = UInt8(rng.next() % 8)
            _ = try? WireCodec.decodeSnapshot(bytes)
            _ = try? WireCodec.decodeEntry(bytes)
            _ = try? WireCodec.decodeConfig(bytes)
        }
    }

    @Test func test_hugeClaimedCounts_failFastWithoutAllocating() throws {
        // version, Message.append, term 1, prevIndex 0, prevTerm 0, then 2^62 entries.
        var bytes: [UInt8] = [WireCodec.version, 4, 1, 0, 0]
        bytes += [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]
        let error = try #require(throws: WireError.self) { try WireCodec.decodeMessage(bytes) }
        #expect(error.code == .truncated)
        #expect(error.path == "Message.append.entries")
        #expect(error.description.contains("claims 4611686018427387904 elements"))

        // A byte string claiming 1 TiB.
        let put = WireCodec.encode(Entry(term: 1, index: 1, command: .kv(.put(key: "k", value: [1, 2], ifRevision: nil), fence: nil, origin: nil)))
        var huge = Array(put.prefix(7))  // version, term, index, kv tag, put tag, key "k"
        huge += [0x80, 0x80, 0x80, 0x80, 0x80, 0x20]
        let stringError = try #require(throws: WireError.self) { try WireCodec.decodeEntry(huge) }
        #expect(stringError.code == .truncated)
        #expect(stringError.path == "Entry.command.kv.put.value")
    }

    @Test func test_errors_nameTheFieldAndTheProblem() throws {
        let unknown = try #require(throws: WireError.self) { try WireCodec.decodeMessage([WireCodec.version, 42]) }
        #expect(unknown.code == .unknownTag)
        #expect(unknown.description == "unknown Message tag 42 in Message")

        let version = try #require(throws: WireError.self) { try WireCodec.decodeEntry([9, 1, 1, 0, 1, 0x61]) }
        #expect(version.code == .unsupportedVersion)

        // Truncated inside the command of the fourth entry of an append.
        let append = Message.append(Append(
            term: 1, prevIndex: 0, prevTerm: 0,
            entries: Fixtures.entries(from: 1, term: 1, commands: [.leader("a"), .leader("b"), .leader("c"), .assign(group: "pbx", owner: "a", epoch: 1, reason: "long enough reason")]),
            commit: 0, round: 0, owned: [:], echo: nil))
        let bytes = WireCodec.encode(append)
        let cut = Array(bytes[..<(bytes.count - 12)])
        let truncated = try #require(throws: WireError.self) { try WireCodec.decodeMessage(cut) }
        #expect(truncated.code == .truncated)
        #expect(truncated.path.hasPrefix("Message.append.entries[3].command"))

        let trailing = try #require(throws: WireError.self) { try WireCodec.decodeMessage(bytes + [0]) }
        #expect(trailing.code == .trailingBytes)
        #expect(trailing.description.contains("1 trailing byte"))
    }

    @Test func test_invalidUTF8_refused() throws {
        var bytes = WireCodec.encode(Entry(term: 1, index: 1, command: .leader("ab")))
        let position = try #require(bytes.firstIndex(of: UInt8(ascii: "a")))
        bytes[position] = 0xFF
        let error = try #require(throws: WireError.self) { try WireCodec.decodeEntry(bytes) }
        #expect(error.code == .invalidUTF8)
        #expect(error.path == "Entry.command.leader")
    }

    @Test func test_nonMinimalVarintsAndBadBooleans_refused() throws {
        // term 1 written as 0x81 0x00.
        let padded: [UInt8] = [WireCodec.version, 0x81, 0x00, 1, 0, 1, 0x61]
        #expect(throws: WireError.self) { try WireCodec.decodeEntry(padded) }
        // An eleven-byte varint.
        let long: [UInt8] = [WireCodec.version] + Array(repeating: 0xFF, count: 10) + [0x01, 1, 0, 1, 0x61]
        let overflow = try #require(throws: WireError.self) { try WireCodec.decodeEntry(long) }
        #expect(overflow.code == .invalidValue)
        // preVoteReply with granted = 2.
        let vote = try #require(throws: WireError.self) { try WireCodec.decodeMessage([WireCodec.version, 1, 5, 2]) }
        #expect(vote.code == .invalidValue)
        #expect(vote.path == "Message.preVoteReply.granted")
    }

    /// Values the core would trap on are refused.
    @Test func test_valuesTheCoreWouldTrapOn_refused() throws {
        // Entries that do not follow prevIndex one by one.
        let gap = Message.append(Append(
            term: 1, prevIndex: 5, prevTerm: 1,
            entries: [Entry(term: 1, index: 6, command: .leader("a")), Entry(term: 1, index: 8, command: .leader("a"))],
            commit: 0, round: 0, owned: [:], echo: nil))
        let gapError = try #require(throws: WireError.self) { try WireCodec.decodeMessage(WireCodec.encode(gap)) }
        #expect(gapError.code == .invalidValue)
        #expect(gapError.path == "Message.append.entries[1]")
        let wrongStart = Message.append(Append(
            term: 1, prevIndex: 5, prevTerm: 1, entries: [Entry(term: 1, index: 5, command: .leader("a"))],
            commit: 0, round: 0, owned: [:], echo: nil))
        #expect(throws: WireError.self) { try WireCodec.decodeMessage(WireCodec.encode(wrongStart)) }

        // A term the core would overflow on.
        let term = try #require(throws: WireError.self) { try WireCodec.decodeEntry(WireCodec.encode(Entry(term: .max, index: 1, command: .leader("a")))) }
        #expect(term.path == "Entry.term")

        // A negative remaining standing.
        let timeout = Message.timeoutNow(TimeoutNow(term: 1, standingLeft: .milliseconds(-1)))
        let timeoutError = try #require(throws: WireError.self) { try WireCodec.decodeMessage(WireCodec.encode(timeout)) }
        #expect(timeoutError.path == "Message.timeoutNow.standingLeft")

        // A key-value snapshot with a repeated key (patched bytes: "dupkeyB" becomes "dupkeyA").
        let store = KVStore(
            entries: [
                KVEntry(key: "dupkeyA", value: [1], createRevision: 1, modRevision: 1, version: 1),
                KVEntry(key: "dupkeyB", value: [2], createRevision: 2, modRevision: 2, version: 1),
            ],
            revision: 2)
        var parts = ReplicatedState(config: Fixtures.pairConfig).parts
        parts.kv = store
        var bytes = WireCodec.encode(Snapshot(index: 0, term: 0, state: ReplicatedState(parts: parts)))
        #expect(try WireCodec.decodeSnapshot(bytes).state.kv == store)
        let b = Array("dupkeyB".utf8)
        let at = try #require((0...(bytes.count - b.count)).first { Array(bytes[$0..<($0 + b.count)]) == b })
        bytes[at + 6] = UInt8(ascii: "A")
        let duplicate = try #require(throws: WireError.self) { try WireCodec.decodeSnapshot(bytes) }
        #expect(duplicate.code == .invalidValue)
        #expect(duplicate.path == "Snapshot.state.kv.entries[1]")
        #expect(duplicate.message.contains("repeated"))
        // Out of order: "dupkeyB" becomes "dupkey0" (sorts before "dupkeyA").
        bytes[at + 6] = UInt8(ascii: "0")
        let order = try #require(throws: WireError.self) { try WireCodec.decodeSnapshot(bytes) }
        #expect(order.message.contains("out of order"))
    }

    /// A repeated dictionary key is refused (there is one encoding per dictionary).
    @Test func test_repeatedDictionaryKey_refused() throws {
        let report = Message.report(term: 1, NodeReport(health: ["ga": true, "gb": false], upstream: true))
        var bytes = WireCodec.encode(report)
        let at = try #require((0..<(bytes.count - 1)).first { bytes[$0] == UInt8(ascii: "g") && bytes[$0 + 1] == UInt8(ascii: "b") })
        bytes[at + 1] = UInt8(ascii: "a")
        let error = try #require(throws: WireError.self) { try WireCodec.decodeMessage(bytes) }
        #expect(error.code == .invalidValue)
        #expect(error.path == "Message.report.health[1]")
    }
}
