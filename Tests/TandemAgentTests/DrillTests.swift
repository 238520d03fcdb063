import Foundation
import TandemAgent
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension AgentProcesses {
    /// Drills against real agents (issue 6): every scenario with a client probing a UDP echo
    /// service that names its node, records checked against what happened, a too-small
    /// allowance failing the record, bad requests refused, and a runner killed mid-drill
    /// whose fault still ends at its time limit.
    @Suite(.serialized) struct DrillTests {
        static let admin = "0123456789abcdef-admin"

        func startCluster(extra: String = "") throws -> (ProcessCluster, echoPort: Int) {
            let echoPort = Int.random(in: 10000...19999)
            let cluster = try ProcessCluster(
                timing: "balanced",
                service: "exec: {run: \"\(ProcessCluster.tandemBinary) echo --port \(echoPort) --bind 127.0.0.1\", timeout: 5s}",
                extra: "api: {token_file: $DIR/tokens}\n" + extra)
            let tokens = cluster.directory + "/tokens"
            try "root admin \(Self.admin)\n".write(toFile: tokens, atomically: false, encoding: .utf8)
            chmod(tokens, 0o600)
            try cluster.startAll()
            // Settled, as every node sees it (the drills run on w, which must know the owner).
            guard cluster.wait(seconds: 20, {
                cluster.runningNodes() == ["a"] && cluster.status("a")?.groups.first?.readyStandbys == ["b"]
                    && cluster.status("w")?.groups.first?.owner == "a"
            }) else {
                throw TestFailure("the cluster did not settle with svc on a and b ready:\n\(cluster.logs())")
            }
            return (cluster, echoPort)
        }

        /// Starts a drill on `node`'s agent and waits for its record.
        func drill(_ cluster: ProcessCluster, on node: String, _ body: [String: Any]) throws -> [String: Any] {
            let started = try httpCall(
                "POST", port: cluster.apiPort(node), path: "/v1/drills", headers: ["Authorization": "Bearer \(Self.admin)"],
                body: Array(try JSONSerialization.data(withJSONObject: body)), timeout: 5)
            guard started.status == 202, let id = started.json["id"] as? String else {
                throw TestFailure("the drill did not start: HTTP \(started.status) \(String(decoding: started.body, as: UTF8.self))")
            }
            var record: [String: Any] = [:]
            let done = cluster.wait(seconds: 90) {
                record = (try? httpCall("GET", port: cluster.apiPort(node), path: "/v1/drills/\(id)", timeout: 5).json) ?? [:]
                return (record["state"] as? String).map { $0 != "running" } ?? false
            }
            guard done else { throw TestFailure("drill \(id) did not end: \(record["steps"] ?? "")\n\(cluster.logs())") }
            return record
        }

        func checks(_ record: [String: Any]) -> [String: Bool] {
            var found: [String: Bool] = [:]
            for check in record["checks"] as? [[String: Any]] ?? [] {
                found[check["what"] as? String ?? "?"] = check["passed"] as? Bool
            }
            return found
        }

        func phase(_ record: [String: Any], _ name: String) -> Double? {
            (record["phases"] as? [[String: Any]])?.first { $0["name"] as? String == name }?["atMs"] as? Double
        }

        @Test func everyScenarioLeavesARecordThatSaysWhatHappened() throws {
            let (cluster, echoPort) = try startCluster()
            let probe = "udp://127.0.0.1:\(echoPort)"

            // Bad requests are refused and start nothing.
            let bad = { (body: String) in
                try httpCall("POST", port: cluster.apiPort("w"), path: "/v1/drills", headers: ["Authorization": "Bearer \(Self.admin)"],
                             body: Array(body.utf8))
            }
            #expect(try bad(#"{"scenario":"meteor"}"#).json["code"] as? String == "invalid_drill")
            #expect(try bad(#"{"scenario":"switchover","probe":"ftp://x:1"}"#).status == 400)
            #expect(try bad(#"{"scenario":"switchover","group":"nope"}"#).status == 404)
            #expect(try bad(#"{"scenario":"switchover","faultSeconds":9999}"#).status == 400)
            #expect(try httpCall("POST", port: cluster.apiPort("w"), path: "/v1/drills", body: Array(#"{"scenario":"switchover"}"#.utf8)).status == 401)

            // A planned switchover, run from the witness, confirmed by a person.
            let switched = try drill(cluster, on: "w", [
                "scenario": "switchover", "probe": probe, "maxInterruptionMs": 5000, "operator": "Ada Tester",
            ])
            #expect(switched["state"] as? String == "passed", "\(checks(switched)) \(switched["steps"] ?? "")")
            #expect(switched["ownerBefore"] as? String == "a" && switched["ownerAfter"] as? String == "b")
            #expect(switched["operator"] as? String == "Ada Tester")
            let answeredBy = (switched["probe"] as? [String: Any])?["answeredBy"] as? [String]
            #expect(answeredBy == ["a", "b"], "\(switched["probe"] ?? "")")
            #expect(phase(switched, "decision") != nil && phase(switched, "activation") != nil, "\(switched["phases"] ?? "")")
            let consistency = switched["consistency"] as? [String: Any] ?? [:]
            #expect(consistency["equal"] as? Bool == true && (consistency["replicas"] as? [String: String])?.count == 3, "\(consistency)")
            #expect((consistency["markersAcknowledged"] as? Int ?? 0) > 0 && consistency["missing"] as? [String] == [], "\(consistency)")
            #expect((switched["events"] as? [[String: Any]])?.contains { $0["kind"] as? String == "activated" && $0["node"] as? String == "b" } == true)
            // Stored replicated: b reads the record w made, listed and as a page.
            let id = switched["id"] as? String ?? ""
            let fromB = try httpCall("GET", port: cluster.apiPort("b"), path: "/v1/drills/\(id)")
            #expect(fromB.json["state"] as? String == "passed")
            let list = try httpCall("GET", port: cluster.apiPort("a"), path: "/v1/drills")
            #expect((list.json["drills"] as? [[String: Any]])?.first?["id"] as? String == id)
            let page = String(decoding: try httpCall("GET", port: cluster.apiPort("a"), path: "/v1/drills/\(id)/report.html").body, as: UTF8.self)
            #expect(page.contains("<svg") && page.contains("PASSED") && page.contains("Ada Tester"), "\(page.prefix(300))")

            // The active node loses power, with an allowance it cannot meet: the record fails
            // on that check alone (and the CLI says so with a non-zero exit).
            let tokenFile = cluster.directory + "/admin.token"
            try "\(Self.admin)\n".write(toFile: tokenFile, atomically: false, encoding: .utf8)
            let cli = try runCapturing([
                cluster.binary, "drill", "run", "active-failure", "--probe", probe, "--max-interruption", "1ms",
                "--fault-seconds", "5", "--api", "127.0.0.1:\(cluster.apiPort("w"))", "--token-file", tokenFile,
            ])
            #expect(cli.status != 0 && cli.output.contains("FAILED: client-visible interruption at most 1.0 ms"), "\(cli.output)")
            #expect(cli.output.contains("pass  the group moved to a standby: b → a"), "\(cli.output)")
            #expect(cluster.overlaps().isEmpty, "\(cluster.overlaps())")

            // Each other scenario, from the witness.
            for (scenario, moves) in [("link-failure", false), ("service-failure", true), ("isolation", true), ("recovery", true)] {
                // A ready standby (as the leader judges), and an owner w knows.
                #expect(cluster.wait(seconds: 20) {
                    (cluster.status("a")?.groups.first?.readyStandbys.isEmpty == false
                        || cluster.status("b")?.groups.first?.readyStandbys.isEmpty == false)
                        && cluster.status("w")?.groups.first?.owner != nil
                })
                let before = cluster.status("w")?.groups.first?.owner
                let record = try drill(cluster, on: "w", ["scenario": scenario, "probe": probe, "maxInterruptionMs": 5000, "faultSeconds": 3])
                #expect(record["state"] as? String == "passed", "\(scenario): \(checks(record)) \(record["steps"] ?? "")")
                #expect((record["ownerAfter"] as? String != before) == moves, "\(scenario): \(before ?? "-") → \(record["ownerAfter"] ?? "-")")
                if scenario == "isolation" { #expect(checks(record)["the isolated node stopped the group itself"] == true) }
                if scenario == "recovery" { #expect(checks(record).keys.contains { $0.contains("rejoins as a standby") }) }
            }
            #expect(cluster.overlaps().isEmpty, "\(cluster.overlaps())")

            // Every unplanned move left a post-failover report, written by the controller that
            // decided it, with the checklist and the cause.
            var reports: [[String: Any]] = []
            #expect(cluster.wait(seconds: 15) {
                let list = (try? httpCall("GET", port: cluster.apiPort("w"), path: "/v1/drills", timeout: 5).json["drills"]) as? [[String: Any]] ?? []
                reports = list.filter { $0["scenario"] as? String == "failover" }
                return reports.count >= 3
            }, "\(reports)")
            if let first = reports.first?["id"] as? String {
                let report = try httpCall("GET", port: cluster.apiPort("a"), path: "/v1/drills/\(first)", timeout: 5).json
                let names = (report["checks"] as? [[String: Any]] ?? []).compactMap { $0["what"] as? String }
                #expect(names.contains("root cause recorded") && names.contains { $0.hasPrefix("standby health") }, "\(names)")
                #expect(checks(report)["root cause recorded"] == true)
                #expect((report["openIssues"] as? [String])?.contains { $0.hasPrefix("caused by a drill") } == true, "\(report["openIssues"] ?? "")")
            }
        }

        /// A scheduled drill: the leader runs it by itself when it is due; until a drill has
        /// passed, the group's standby is "unproven" (an alarm), and the status then says
        /// when it was last proven.
        @Test func aScheduledDrillProvesTheStandby() throws {
            let (cluster, _) = try startCluster(
                extra: "drills:\n  max_age: 1h\n  schedule:\n    - {scenario: switchover, every: 1h}\n")
            let alarms = { ["a", "b"].flatMap { cluster.status($0)?.alarms ?? [] } }
            var record: [String: Any] = [:]
            #expect(cluster.wait(seconds: 40) {
                let list = (try? httpCall("GET", port: cluster.apiPort("b"), path: "/v1/drills", timeout: 5).json["drills"]) as? [[String: Any]] ?? []
                guard let id = list.first(where: { $0["scenario"] as? String == "switchover" && $0["state"] as? String == "passed" })?["id"] as? String else { return false }
                record = (try? httpCall("GET", port: cluster.apiPort("b"), path: "/v1/drills/\(id)", timeout: 5).json) ?? [:]
                return true
            }, "\(cluster.logs())")
            #expect((record["startedBy"] as? String)?.hasPrefix("schedule 1") == true, "\(record["startedBy"] ?? "")")
            let events = (try? String(contentsOfFile: cluster.logPath("a"), encoding: .utf8)) ?? ""
                + ((try? String(contentsOfFile: cluster.logPath("b"), encoding: .utf8)) ?? "")
            #expect(events.contains("alarm standby_unproven:svc"), "the alarm was not raised before the first drill")
            #expect(cluster.wait(seconds: 10) { !alarms().contains { $0.kind == "standby_unproven" } }, "\(alarms())")
            #expect(cluster.status("w")?.groups.first?.lastProvenDrill == record["id"] as? String)
        }

        /// A power loss shorter than the owner's standing: nothing moves (the record says the
        /// expected move did not happen), and the owner, still the owner when the power is
        /// back, starts the service again.
        @Test func aPowerBlipShorterThanTheStandingRestartsTheService() throws {
            let (cluster, echoPort) = try startCluster()
            let record = try drill(cluster, on: "w", [
                "scenario": "active-failure", "probe": "udp://127.0.0.1:\(echoPort)", "faultSeconds": 0.1,
            ])
            #expect(record["state"] as? String == "failed" && record["ownerAfter"] as? String == "a", "\(record["steps"] ?? "")")
            #expect(checks(record)["the group moved to a standby"] == false)
            let timeline = (record["probe"] as? [String: Any])?["timeline"] as? [[Double]] ?? []
            #expect(timeline.last?.last == 1, "the service did not answer again: \(timeline.suffix(3))")
            #expect((record["interruptionMs"] as? Double ?? 0) > 0, "the power loss stopped nothing")
            #expect(cluster.runningNodes() == ["a"])
        }

        /// `observe`: the drill injects nothing; a person causes the fault (here: the active
        /// agent is killed during the window), and the record holds what happened.
        @Test func anObservedFailureIsRecorded() throws {
            let (cluster, echoPort) = try startCluster()
            let started = try httpCall(
                "POST", port: cluster.apiPort("w"), path: "/v1/drills", headers: ["Authorization": "Bearer \(Self.admin)"],
                body: Array(try JSONSerialization.data(withJSONObject: [
                    "scenario": "observe", "probe": "udp://127.0.0.1:\(echoPort)", "observeSeconds": 4, "operator": "Hands-on",
                ])), timeout: 5)
            #expect(started.status == 202, "\(String(decoding: started.body, as: UTF8.self))")
            let id = started.json["id"] as? String ?? ""
            usleep(1_800_000)
            cluster.signal("a", SIGKILL)
            var record: [String: Any] = [:]
            #expect(cluster.wait(seconds: 30) {
                record = (try? httpCall("GET", port: cluster.apiPort("w"), path: "/v1/drills/\(id)", timeout: 5).json) ?? [:]
                return (record["state"] as? String).map { $0 != "running" } ?? false
            })
            #expect(record["state"] as? String == "passed", "\(checks(record)) \(record["steps"] ?? "")")
            #expect(record["ownerBefore"] as? String == "a" && record["ownerAfter"] as? String == "b")
            #expect(phase(record, "decision") != nil && phase(record, "activation") != nil, "\(record["phases"] ?? "")")
            #expect((record["interruptionMs"] as? Double ?? 0) > 0)
            #expect(record["fault"] == nil, "observe injects nothing")
        }

        /// The drill's runner dies mid-drill: the fault it injected elsewhere still ends at its
        /// time limit, and the node it silenced takes part again. Back, the runner removes
        /// the marker keys its drill left in the replicated store.
        @Test func aFaultEndsAtItsTimeLimitWhenTheRunnerDies() throws {
            let (cluster, _) = try startCluster()
            let started = try httpCall(
                "POST", port: cluster.apiPort("w"), path: "/v1/drills", headers: ["Authorization": "Bearer \(Self.admin)"],
                body: Array(#"{"scenario":"link-failure","faultSeconds":3}"#.utf8), timeout: 5)
            #expect(started.status == 202, "\(String(decoding: started.body, as: UTF8.self))")
            // The fault is on a (link 1 silent); the runner w dies before it can end it.
            #expect(cluster.wait(seconds: 5) { cluster.status("a")?.links.contains { $0.link == 1 && !$0.up } == true })
            let markers = {
                ((try? httpCall("GET", port: cluster.apiPort("a"), path: "/v1/kv?prefix=tandem/drill-markers/",
                                headers: ["Authorization": "Bearer \(Self.admin)"], timeout: 5).json["entries"]) as? [[String: Any]])?.count
            }
            #expect(cluster.wait(seconds: 5) { (markers() ?? 0) > 0 }, "the drill wrote no markers")
            cluster.signal("w", SIGKILL)
            _ = cluster.waitExit("w", seconds: 5)
            #expect(cluster.wait(seconds: 10) { cluster.status("a")?.links.filter { $0.peer == "b" }.allSatisfy(\.up) == true },
                    "\(cluster.status("a")?.links ?? [])")
            let log = (try? String(contentsOfFile: cluster.logPath("a"), encoding: .utf8)) ?? ""
            #expect(log.contains("fault on a ended: link 1 silent [its time limit of 3.0 seconds passed]"), "\(log.suffix(1500))")
            #expect(cluster.runningNodes() == ["a"])
            #expect((markers() ?? 0) > 0, "the markers were removed before the runner came back")
            try cluster.start("w")
            #expect(cluster.wait(seconds: 40) { markers() == 0 }, "\(markers() ?? -1) marker keys left\n\(cluster.logs())")
        }
    }
}
