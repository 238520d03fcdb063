import Foundation
import TandemAgent
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension AgentProcesses {
    /// Real agents as separate processes on loopback (no root): sealed UDP and TCP links,
    /// SQLite stores, the guard process, exec resources. Every test ends by checking, from the
    /// resources' own journal, that no two nodes ever ran the group at once.
    @Suite(.serialized)
    struct ClusterTests {
        /// Starts a, b and w and waits until one node runs the group; returns that node.
        func settled(_ cluster: ProcessCluster) throws -> String {
            try cluster.startAll()
            var owner = ""
            let ok = cluster.wait(seconds: 20) {
                let running = cluster.runningNodes()
                if running.count == 1 { owner = running[0] }
                return running.count == 1
            }
            if !ok { Issue.record("the cluster did not settle:\n\(cluster.logs())") }
            try #require(ok)
            return owner
        }

        /// sd_notify(3) as systemd would see it, without systemd: the agent started with
        /// NOTIFY_SOCKET and WATCHDOG_USEC sends READY=1 once it runs, WATCHDOG=1 every half
        /// watchdog period, and STOPPING=1 when SIGTERM starts its shutdown.
        @Test func systemdNotificationsReadyWatchdogAndStopping() throws {
            let cluster = try ProcessCluster()
            defer { cluster.stopAll() }
            let path = cluster.directory + "/notify.sock"
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            try #require(fd >= 0)
            defer { close(fd) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            try #require(bound == 0, "bind \(path): errno \(errno)")
            var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var received: [String] = []
            func collect(seconds: Double, until done: () -> Bool) {
                let end = Date().addingTimeInterval(seconds)
                var buffer = [UInt8](repeating: 0, count: 4096)
                while Date() < end, !done() {
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n > 0 { received += String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").map(String.init) }
                }
            }

            // A 200 ms watchdog: a ping every 100 ms is expected.
            try cluster.start("a", environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"])
            collect(seconds: 20) { received.contains("READY=1") && received.filter { $0 == "WATCHDOG=1" }.count >= 5 }
            #expect(received.contains("READY=1"), "\(received)\n\(cluster.logs())")
            #expect(received.contains { $0.hasPrefix("STATUS=") })
            #expect(received.filter { $0 == "WATCHDOG=1" }.count >= 5, "\(received)")
            #expect(!received.contains("STOPPING=1"))

            cluster.signal("a", SIGTERM)
            collect(seconds: 20) { received.contains("STOPPING=1") }
            #expect(received.contains("STOPPING=1"), "\(received)\n\(cluster.logs())")
            #expect(cluster.waitExit("a", seconds: 20) == 0, "\(cluster.logs())")
        }

        @Test func crashOfTheActiveMovesTheGroup() throws {
            let cluster = try ProcessCluster()
            let owner = try settled(cluster)
            #expect(owner == "a", "a is first in the prefer list:\n\(cluster.logs())")
            let other = owner == "a" ? "b" : "a"
            cluster.signal(owner, SIGKILL)
            _ = cluster.waitExit(owner, seconds: 5)
            let moved = cluster.wait(seconds: 20) { cluster.runningNodes() == [other] }
            #expect(moved, "\(other) did not take over:\n\(cluster.logs())")
            // The dead agent's guard saw the pipe close and stopped its resources.
            let stopped = cluster.wait(seconds: 5) { cluster.journal().contains { $0.kind == "stop" && $0.node == owner } }
            #expect(stopped, "the guard did not stop \(owner)'s resources after the agent died:\n\(cluster.logs())")
            #expect(cluster.overlaps() == [], "\(cluster.logs())")
        }

        @Test func sigtermHandsTheGroupOverFirst() throws {
            let cluster = try ProcessCluster()
            let owner = try settled(cluster)
            cluster.signal(owner, SIGTERM)
            let exit = cluster.waitExit(owner, seconds: 30)
            #expect(exit == 0, "the agent should exit 0 after handing over:\n\(cluster.logs())")
            let other = owner == "a" ? "b" : "a"
            let moved = cluster.wait(seconds: 10) { cluster.runningNodes() == [other] }
            #expect(moved, "\(other) did not take over:\n\(cluster.logs())")
            // Planned: the journal shows the old owner stopped before the new one started, once.
            let lines = cluster.journal()
            #expect(lines.filter { $0.kind == "start" }.map(\.node) == [owner, other], "\(cluster.logs())")
            #expect(cluster.overlaps() == [], "\(cluster.logs())")
            // Moved by a planned switchover, not by failure detection.
            let reason = cluster.status(other)?.groups.first?.reason ?? ""
            #expect(reason.contains("planned switchover"), "\(reason)")
        }

        @Test func stalledActiveIsStoppedByItsGuardAndDoesNotFight() throws {
            let cluster = try ProcessCluster()
            let owner = try settled(cluster)
            let other = owner == "a" ? "b" : "a"
            cluster.signal(owner, SIGSTOP)
            // The guard (not stopped) ends the group at its deadline; the other node takes over.
            let moved = cluster.wait(seconds: 20) { cluster.runningNodes() == [other] }
            #expect(moved, "\(other) did not take over from the stalled node:\n\(cluster.logs())")
            let guardStopped = cluster.journal().contains { $0.kind == "stop" && $0.node == owner }
            #expect(guardStopped, "the stalled node's guard did not stop its resources:\n\(cluster.logs())")
            cluster.signal(owner, SIGCONT)
            // Back from the stall it must not run the group again.
            let rejoined = cluster.wait(seconds: 10) {
                guard let s = cluster.status(owner) else { return false }
                return s.role == "follower" && s.groups.first?.owner == other
            }
            #expect(rejoined, "\(owner) did not rejoin as a follower:\n\(cluster.logs())")
            usleep(500_000)
            #expect(cluster.runningNodes() == [other])
            #expect(cluster.overlaps() == [], "\(cluster.logs())")
        }

        /// The fence hook (rule 4(f)) runs on the new leader against the unreachable owner with
        /// the documented environment; here it "powers the node off" (kill -9 of its agent) and
        /// confirms once the node's resources are down. Its result is recorded as an event.
        @Test func fenceHookRunsAgainstTheUnreachableOwner() throws {
            let hook = "echo \\\"$TANDEM_NODE $TANDEM_TARGET $TANDEM_GROUP $TANDEM_EPOCH $TANDEM_ROLE\\\" >> $DIR/fenced; "
                + "kill -9 $(cat $DIR/$TANDEM_TARGET.pid); "
                + "for i in $(seq 100); do grep -q \\\"stop $TANDEM_TARGET $TANDEM_EPOCH\\\" $DIR/journal && exit 0; sleep 0.05; done; exit 1"
            let cluster = try ProcessCluster(extra: "fence: {exec: \"\(hook)\", timeout: 10s}\n")
            let owner = try settled(cluster)
            let other = owner == "a" ? "b" : "a"
            cluster.signal(owner, SIGSTOP)
            let moved = cluster.wait(seconds: 20) { cluster.runningNodes() == [other] }
            #expect(moved, "\(other) did not take over:\n\(cluster.logs())")
            #expect(cluster.waitExit(owner, seconds: 10) != nil, "the hook did not kill \(owner)")
            let fenced = (try? String(contentsOfFile: cluster.directory + "/fenced", encoding: .utf8)) ?? ""
            let lines = fenced.split(separator: "\n")
            #expect(lines.count == 1, "the hook ran \(lines.count) times: \(fenced)")
            #expect(lines.first.map { $0.hasSuffix(" \(owner) svc 1 fencing") && !$0.hasPrefix(owner) } == true, "\(fenced)")
            let leader = String(lines.first?.split(separator: " ").first ?? "")
            let confirmed = cluster.wait(seconds: 10) {
                ((try? String(contentsOfFile: cluster.logPath(leader), encoding: .utf8)) ?? "").contains("fenced \(owner) in")
            }
            #expect(confirmed, "no fence event on \(leader):\n\(cluster.logs())")
            #expect(cluster.overlaps() == [], "\(cluster.logs())")
        }

        @Test func restartedNodeRejoinsAsStandbyWithManualFailback() throws {
            let cluster = try ProcessCluster()
            let owner = try settled(cluster)
            let other = owner == "a" ? "b" : "a"
            cluster.signal(owner, SIGKILL)
            _ = cluster.waitExit(owner, seconds: 5)
            #expect(cluster.wait(seconds: 20) { cluster.runningNodes() == [other] }, "\(cluster.logs())")
            try cluster.start(owner)
            let rejoined = cluster.wait(seconds: 20) {
                guard let s = cluster.status(owner) else { return false }
                return s.role == "follower" && s.commitIndex > 0 && s.groups.first?.owner == other
            }
            #expect(rejoined, "\(owner) did not rejoin:\n\(cluster.logs())")
            usleep(1_000_000)
            #expect(cluster.runningNodes() == [other], "failback is manual: the group stays on \(other)")
            #expect(cluster.overlaps() == [], "\(cluster.logs())")
        }

        @Test func witnessDownMovesNothing() throws {
            let cluster = try ProcessCluster()
            let owner = try settled(cluster)
            cluster.signal("w", SIGKILL)
            _ = cluster.waitExit("w", seconds: 5)
            usleep(2_000_000)
            #expect(cluster.runningNodes() == [owner], "\(cluster.logs())")
            #expect(cluster.journal().filter { $0.kind == "start" }.count == 1)
            #expect(cluster.overlaps() == [], "\(cluster.logs())")
        }

        @Test func aNodeWithTheWrongKeyIsRejected() throws {
            let cluster = try ProcessCluster()
            let otherKey = cluster.directory + "/other.key"
            try run([cluster.binary, "keygen", otherKey])
            let config = try String(contentsOfFile: cluster.configPath, encoding: .utf8)
                .replacingOccurrences(of: cluster.directory + "/cluster.key", with: otherKey)
                .replacingOccurrences(of: "data_dir: \(cluster.directory)/data", with: "data_dir: \(cluster.directory)/data-b")
            let otherConfig = cluster.directory + "/other.yaml"
            try config.write(toFile: otherConfig, atomically: true, encoding: .utf8)
            try cluster.start("a")
            try cluster.start("w")
            let pid = try spawn([cluster.binary, "agent", "--config", otherConfig, "--node", "b"], log: cluster.logPath("b"))
            cluster.processes["b"] = pid
            let rejected = cluster.wait(seconds: 10) { (cluster.status("a")?.rejected["forged"] ?? 0) > 0 }
            #expect(rejected, "a did not count b's packets as forged:\n\(cluster.logs())")
            // b can never join: it hears no leader, so it is never a follower of a's term.
            let bStatus = cluster.status("b")
            #expect(bStatus?.leader == nil || bStatus?.leader == "b", "\(String(describing: bStatus))")
            #expect(cluster.overlaps() == [], "\(cluster.logs())")
        }

        /// A write through a follower is forwarded to the leader; a value far larger than a
        /// datagram goes on the TCP stream; every node reads it back, linearizably.
        @Test func largeKVWriteTravelsOnTheStreamAndReplicates() throws {
            let cluster = try ProcessCluster()
            let owner = try settled(cluster)
            let follower = owner == "a" ? "b" : "a"
            let value = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let written = try httpRequest("PUT", port: cluster.apiPort(follower), path: "/v1/kv/big/blob", body: value, timeout: 10)
            #expect(String(decoding: written, as: UTF8.self).contains("revision"), "\(String(decoding: written, as: UTF8.self))")
            for node in ["a", "b", "w"] {
                let answer = try httpGet(port: cluster.apiPort(node), path: "/v1/kv/big/blob", timeout: 10)
                let entry = try JSONSerialization.jsonObject(with: answer) as? [String: Any]
                let base64 = try #require(entry?["valueBase64"] as? String, "\(node): \(String(decoding: answer.prefix(200), as: UTF8.self))")
                #expect(Data(base64Encoded: base64).map(Array.init) == value, "\(node) read a different value")
            }
            #expect(cluster.overlaps() == [], "\(cluster.logs())")
        }
    }
}
