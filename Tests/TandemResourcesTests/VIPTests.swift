import Glibc
import TandemConfig
import TandemCore
import Testing
@testable import TandemResources

/// Real addresses on a veth pair inside a network namespace of their own: the resource sends
/// its rtnetlink requests and opens its announcement sockets inside NS (VIPResource's `netns`);
/// the tests read the result back with `ip -n NS`.
@Suite(.serialized, .enabled(if: TestNamespace.usable, "needs root, iproute2, network namespaces and veth"))
struct VIPTests {
    @Test func ipv4AddressIsAddedAnnouncedByGratuitousARPAndRemoved() async throws {
        let ns = try TestNamespace("v4")
        defer { ns.remove() }
        let dir = TempDir()
        defer { dir.remove() }
        // Announcements 1 s apart: start must return after the first, not wait for all three.
        let spec = VIPSpec(address: "10.77.0.100", prefixLength: 24, device: "v0", isIPv6: false, announceCount: 3,
                           announceInterval: .seconds(1))
        let vip = VIPResource(spec, netns: ns.name, logger: testLogger)
        #expect(vip.name == "vip 10.77.0.100/24 dev v0")
        #expect(await vip.monitor(context()) == .notRunning)
        let capture = await ns.capture("arp", count: 3, in: dir)

        let start = ContinuousClock.now
        try await vip.start(context())
        let took = ContinuousClock.now - start
        print("vip start (rtnetlink add + first GARP) took \(took)")
        #expect(took < .milliseconds(1800))  // all three announcements would take at least 2 s
        #expect(await ns.addresses().contains("inet 10.77.0.100/24"))
        #expect(await vip.monitor(context()) == .running)

        if let capture {
            let output = await capture.value
            let garps = output.split(separator: "\n").filter { $0.contains("Request who-has 10.77.0.100") && $0.contains("tell 10.77.0.100") }
            #expect(garps.count == 3, "captured: \(output)")
            #expect(output.contains("ff:ff:ff:ff:ff:ff"))
        }

        try await vip.start(context())  // already there: success
        try await vip.stop(context(role: "stopping"))
        #expect(await !ns.addresses().contains("10.77.0.100"))
        #expect(await vip.monitor(context()) == .notRunning)
        try await vip.stop(context(role: "stopping"))  // already gone: success
    }

    /// The agent's loop adds a group's leading VIP at once (one rtnetlink request and one
    /// announcement on the calling thread), before the task that starts the group runs; that
    /// `start` then finds the address in place. Here the calling thread is moved into the
    /// test namespace, standing for the agent's own.
    @Test func addAtOnceAddsAndAnnouncesOnTheCallingThread() async throws {
        let ns = try TestNamespace("v4now")
        defer { ns.remove() }
        let dir = TempDir()
        defer { dir.remove() }
        let spec = VIPSpec(address: "10.77.0.101", prefixLength: 24, device: "v0", isIPv6: false, announceCount: 1,
                           announceInterval: .milliseconds(100))
        // A resource bound to another namespace never moves the calling thread.
        let bound = VIPResource(spec, netns: ns.name, logger: testLogger)
        #expect(!bound.addAtOnce())
        #expect(await !ns.addresses().contains("10.77.0.101"))

        let capture = await ns.capture("arp", count: 1, in: dir)
        let own = VIPResource(spec, logger: testLogger)
        #expect(inNetworkNamespace(ns.name) { own.addAtOnce() } == true)
        #expect(await ns.addresses().contains("inet 10.77.0.101/24"))
        // The announcement socket is kept, not closed after use (closing a packet socket
        // waits for an RCU grace period, milliseconds on the activation path).
        let first = inNetworkNamespace(ns.name) { try? own.keptAnnouncer(address: [10, 77, 0, 101]).get() } ?? nil
        let again = inNetworkNamespace(ns.name) { try? own.keptAnnouncer(address: [10, 77, 0, 101]).get() } ?? nil
        #expect(first != nil && first === again)
        if let capture {
            let output = await capture.value
            #expect(output.contains("Request who-has 10.77.0.101 tell 10.77.0.101"), "captured: \(output)")
        }
        try await bound.start(context())  // in place already: success
        #expect(await bound.monitor(context()) == .running)
        try await bound.stop(context(role: "stopping"))
        #expect(await !ns.addresses().contains("10.77.0.101"))
    }

    @Test func ipv6AddressIsUsableAtOnceAndAnnouncedByUnsolicitedNA() async throws {
        let ns = try TestNamespace("v6")
        defer { ns.remove() }
        let dir = TempDir()
        defer { dir.remove() }
        let spec = VIPSpec(address: "fd00:77::100", prefixLength: 64, device: "v0", isIPv6: true, announceCount: 2,
                           announceInterval: .milliseconds(50))
        let vip = VIPResource(spec, netns: ns.name, logger: testLogger)
        let capture = await ns.capture("icmp6 and ip6[40] == 136", count: 2, in: dir)
        try await vip.start(context())
        let shown = await ns.addresses()
        #expect(shown.contains("inet6 fd00:77::100/64") && shown.contains("nodad"))
        #expect(!shown.contains("fd00:77::100/64 scope global tentative"))
        #expect(await vip.monitor(context()) == .running)
        if let capture {
            let output = await capture.value
            #expect(output.contains("neighbor advertisement") && output.contains("tgt is fd00:77::100"), "captured: \(output)")
            #expect(output.contains("Flags [override]"), "captured: \(output)")
            #expect(output.contains("> ff02::1:"), "captured: \(output)")
            #expect(output.contains("hlim 255"), "captured: \(output)")
        }
        try await vip.stop(context(role: "stopping"))
        #expect(await !ns.addresses().contains("fd00:77::100"))
    }

    @Test func anAddressLeftOverByACrashCountsAsStarted() async throws {
        let ns = try TestNamespace("left")
        defer { ns.remove() }
        shSync("ip -n \(ns.name) addr add 10.77.0.101/24 dev v0")
        let vip = VIPResource(VIPSpec(address: "10.77.0.101", prefixLength: 24, device: "v0", isIPv6: false), netns: ns.name,
                              logger: testLogger)
        #expect(await vip.monitor(context()) == .running)
        try await vip.start(context())
        // The start-up sweep removes it unconditionally.
        let group = GroupResources(group: "g", resources: [vip], logger: testLogger)
        #expect(await group.sweep(context(role: "stopping", reason: "start-up sweep")).isEmpty)
        #expect(await !ns.addresses().contains("10.77.0.101"))
    }

    @Test func aMissingDeviceFailsTheStartButNotTheStop() async throws {
        let ns = try TestNamespace("nodev")
        defer { ns.remove() }
        let vip = VIPResource(VIPSpec(address: "10.77.0.102", prefixLength: 24, device: "nosuch0", isIPv6: false), netns: ns.name,
                              logger: testLogger)
        do {
            try await vip.start(context())
            Issue.record("start should have failed")
        } catch {
            #expect(error.code == .startFailed)
            #expect(error.message.contains("check that nosuch0 exists"))
        }
        try await vip.stop(context(role: "stopping"))
        #expect(await vip.monitor(context()) == .failed("device nosuch0 not found"))
    }

    @Test func aFailingLaterResourceRemovesTheAddressAgain() async throws {
        let ns = try TestNamespace("rollback")
        defer { ns.remove() }
        let vip = VIPResource(VIPSpec(address: "10.77.0.103", prefixLength: 24, device: "v0", isIPv6: false), netns: ns.name,
                              logger: testLogger)
        let group = GroupResources(group: "g", resources: [vip, ScriptResource(ExecSpec(start: "exit 1"), logger: testLogger)],
                                   logger: testLogger)
        await #expect(throws: ResourceError.self) { try await group.start(context()) }
        #expect(await !ns.addresses().contains("10.77.0.103"))
    }

    @Test func icmpEchoToASilentAddressFailsWithinItsTimeout() throws {
        let ns = try TestNamespace("ping")
        defer { ns.remove() }
        shSync("ip -n \(ns.name) addr add 10.77.0.1/24 dev v0")
        // Inside the namespace: our own address answers, a neighbour that does not exist does not,
        // and an address without a route fails at once.
        let own = inNetworkNamespace(ns.name) { icmpEcho(host: "10.77.0.1", timeout: .seconds(1)) }
        guard case .reply? = own else {
            Issue.record("no echo reply from the namespace's own address: \(String(describing: own))")
            return
        }
        let start = ContinuousClock.now
        let silent = inNetworkNamespace(ns.name) { icmpEcho(host: "10.77.0.200", timeout: .milliseconds(300)) }
        guard case .failed(let why)? = silent else {
            Issue.record("expected a failure, got \(String(describing: silent))")
            return
        }
        #expect(why == "no echo reply within 300ms")
        #expect(ContinuousClock.now - start < .seconds(10))  // ended by its timeout, not hanging
        let unroutable = inNetworkNamespace(ns.name) { icmpEcho(host: "192.0.2.1", timeout: .milliseconds(300)) }
        guard case .failed(let unreachable)? = unroutable else {
            Issue.record("expected a failure, got \(String(describing: unroutable))")
            return
        }
        #expect(unreachable == "network is unreachable")
    }
}
