import Foundation
import TandemAgent
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension AgentProcesses {
    /// Configuration revisions on a running cluster (issue 5): checked on every reachable
    /// node, committed through the log with the file, applied by every node's runtime,
    /// history, rollback, the revision surviving a restart, and a node that was away.
    @Suite(.serialized) struct ConfigSyncTests {
        static let admin = "0123456789abcdef-admin"
        static let read = "0123456789abcdef-readonly"

        /// The cluster's file with `revision`, and `change` applied to its text.
        static func document(_ cluster: ProcessCluster, revision: Int, _ change: (String) -> String = { $0 }) throws -> String {
            let text = try String(contentsOfFile: cluster.configPath, encoding: .utf8)
            return "revision: \(revision)\n" + change(text)
        }

        func get(_ port: Int, _ path: String) throws -> HTTPAnswer {
            try httpCall("GET", port: port, path: path, headers: ["Authorization": "Bearer \(ConfigSyncTests.admin)"])
        }

        func post(_ port: Int, _ path: String, _ body: String, token: String = ConfigSyncTests.admin) throws -> HTTPAnswer {
            try httpCall("POST", port: port, path: path, headers: ["Authorization": "Bearer \(token)"], body: Array(body.utf8), timeout: 20)
        }

        /// Every node's own report of the configuration revision it runs, as `node` sees them.
        func revisions(_ cluster: ProcessCluster, seenBy node: String = "a") -> [String: UInt64] {
            var found: [String: UInt64] = [:]
            for row in cluster.status(node)?.nodes ?? [] { found[row.id] = row.configRevision }
            return found
        }

        @Test func revisionsAreCheckedEverywhereAppliedEverywhereAndRolledBack() throws {
            let cluster = try ProcessCluster(timing: "balanced", extra: "api: {token_file: $DIR/tokens}\n")
            let tokens = cluster.directory + "/tokens"
            try "root admin \(Self.admin)\nviewer read \(Self.read)\n".write(toFile: tokens, atomically: false, encoding: .utf8)
            chmod(tokens, 0o600)
            try cluster.startAll()
            guard cluster.wait(seconds: 20, {
                cluster.runningNodes() == ["a"] && cluster.status("a")?.groups.first?.readyStandbys == ["b"]
            }) else {
                throw TestFailure("the cluster did not settle with svc on a and b ready:\n\(cluster.logs())")
            }
            let a = cluster.apiPort("a"), b = cluster.apiPort("b")
            let original = try String(contentsOfFile: cluster.configPath, encoding: .utf8)

            // Revision 1 is every node's own file, shown as such.
            // The file may hold secrets: reading it needs an operate token, reads are open otherwise.
            #expect(try httpCall("GET", port: b, path: "/v1/config").status == 401)
            #expect(try httpCall("GET", port: b, path: "/v1/config/history", headers: ["Authorization": "Bearer \(Self.read)"]).status == 403)
            let first = try get(b, "/v1/config")
            #expect(first.json["revision"] as? Int == 1)
            #expect(first.json["document"] as? String == original)
            #expect(first.json["author"] as? String == "the nodes' files")
            #expect(cluster.wait(seconds: 5) { revisions(cluster) == ["a": 1, "b": 1, "w": 1] }, "\(revisions(cluster))")

            // Refusals: a read token; a file that does not read; a revision not newer; a change
            // a running agent cannot take (w's API address): nothing changes.
            #expect(try post(a, "/v1/config", try Self.document(cluster, revision: 2), token: Self.read).status == 403)
            let broken = try post(a, "/v1/config", "cluster: [\n")
            #expect(broken.status == 400)
            #expect(broken.json["code"] as? String == "invalid_config")
            #expect((broken.json["problems"] as? [String: [String]])?["a"]?.isEmpty == false, "\(broken.json)")
            let stale = try post(a, "/v1/config", original)
            #expect(stale.status == 409)
            #expect((stale.json["message"] as? String)?.contains("set revision: 2") == true, "\(stale.json)")
            let moved = try Self.document(cluster, revision: 2) {
                $0.replacingOccurrences(of: "127.0.0.1:\(cluster.apiPort("w"))", with: "127.0.0.1:\(cluster.apiPort("w") + 5)")
            }
            let rejected = try post(b, "/v1/config", moved)
            #expect(rejected.status == 422)
            let problems = rejected.json["problems"] as? [String: [String]] ?? [:]
            #expect(problems.keys.sorted() == ["a", "b", "w"], "\(rejected.json)")
            #expect(problems["w"]?.contains { $0.contains("nodes.w") && $0.contains("restart") } == true, "\(problems)")
            #expect(try get(a, "/v1/config").json["revision"] as? Int == 1)

            // Revision 2 changes svc's stop command (a marker file): a dry run first.
            let marker = cluster.directory + "/stopped-by-revision-2"
            let two = try Self.document(cluster, revision: 2) {
                $0.replacingOccurrences(of: "stop: \"", with: "stop: \"touch \(marker); ")
            }
            let dry = try post(a, "/v1/config?dry_run=true", two)
            #expect(dry.status == 200, "\(String(decoding: dry.body, as: UTF8.self))")
            #expect(dry.json["checkedBy"] as? [String] == ["a", "b", "w"])
            #expect(dry.json["index"] == nil)
            #expect(try get(a, "/v1/config").json["revision"] as? Int == 1)

            // Through the CLI, from b: every node applies it and reports revision 2.
            let adminFile = cluster.directory + "/admin.token"
            try "\(Self.admin)\n".write(toFile: adminFile, atomically: false, encoding: .utf8)
            let twoFile = cluster.directory + "/two.yaml"
            try two.write(toFile: twoFile, atomically: false, encoding: .utf8)
            let applied = try runCapturing([cluster.binary, "config", "apply", twoFile, "--api", "127.0.0.1:\(b)", "--token-file", adminFile])
            #expect(applied.status == 0 && applied.output.contains("revision 2 is the cluster's configuration"), "\(applied.output)")
            #expect(cluster.wait(seconds: 5) { revisions(cluster) == ["a": 2, "b": 2, "w": 2] }, "\(revisions(cluster))")
            for node in ["a", "b", "w"] {
                #expect(FileManager.default.fileExists(atPath: "\(cluster.directory)/data/run-\(node)/config-2.yaml"), "\(node)")
            }
            let shown = try get(a, "/v1/config")
            #expect(shown.json["document"] as? String == two)
            #expect(shown.json["author"] as? String == "root")
            let history = try runCapturing([cluster.binary, "config", "history", "--json", "--api", "127.0.0.1:\(a)", "--token-file", adminFile])
            #expect(history.output.contains("\"revision\":1") && history.output.contains("\"revision\":2"), "\(history.output)")

            // svc was started on a under revision 1: a stops it with revision 1's command (no
            // marker); b, idle when revision 2 came, runs revision 2's and stops with it.
            let toB = try httpCall("POST", port: a, path: "/v1/groups/svc/switchover", headers: ["Authorization": "Bearer \(Self.admin)"],
                                   body: Array(#"{"to":"b"}"#.utf8), timeout: 30)
            #expect(toB.json["owner"] as? String == "b", "\(toB.json)")
            #expect(!FileManager.default.fileExists(atPath: marker), "a stopped svc with revision 2's command")
            let toA = try httpCall("POST", port: a, path: "/v1/groups/svc/switchover", headers: ["Authorization": "Bearer \(Self.admin)"],
                                   body: Array(#"{"to":"a"}"#.utf8), timeout: 30)
            #expect(toA.json["owner"] as? String == "a", "\(toA.json)")
            #expect(FileManager.default.fileExists(atPath: marker), "b did not stop svc with revision 2's command")
            #expect(cluster.overlaps().isEmpty, "\(cluster.overlaps())")

            // Rollback to 1: revision 3 is revision 1's file under a new revision line.
            let rollback = try post(a, "/v1/config/rollback", #"{"revision":1}"#)
            #expect(rollback.status == 200, "\(String(decoding: rollback.body, as: UTF8.self))")
            #expect(rollback.json["revision"] as? Int == 3)
            let three = try get(a, "/v1/config").json
            #expect(three["document"] as? String == "revision: 3\n" + original)
            #expect((three["author"] as? String)?.contains("rollback to revision 1") == true)
            #expect(cluster.wait(seconds: 5) { revisions(cluster) == ["a": 3, "b": 3, "w": 3] }, "\(revisions(cluster))")
            #expect(try post(a, "/v1/config/rollback", #"{"revision":99}"#).status == 404)

            // A restarted node runs the applied revision, not its older file.
            cluster.signal("b", SIGKILL)
            _ = cluster.waitExit("b", seconds: 5)
            try cluster.start("b")
            #expect(cluster.wait(seconds: 10) { cluster.status("b")?.nodes.first { $0.id == "b" }?.configRevision == 3 })
            let log = (try? String(contentsOfFile: cluster.logPath("b"), encoding: .utf8)) ?? ""
            #expect(log.contains("running configuration revision 3, applied here from the log"), "\(log.suffix(2000))")

            // A node away during a change: not checked (said so), an alarm on the leader, and
            // it applies the revision when it is back.
            cluster.signal("w", SIGKILL)
            _ = cluster.waitExit("w", seconds: 5)
            #expect(cluster.wait(seconds: 10) { cluster.status("a")?.links.filter { $0.peer == "w" }.allSatisfy { !$0.up } == true })
            let four = try post(a, "/v1/config", try Self.document(cluster, revision: 4))
            #expect(four.status == 200, "\(String(decoding: four.body, as: UTF8.self))")
            #expect(four.json["unreachable"] as? [String] == ["w"], "\(four.json)")
            // (Raised by the leader, which judges every node's reports.)
            let alarms = { ["a", "b"].flatMap { cluster.status($0)?.alarms ?? [] } }
            #expect(cluster.wait(seconds: 5) { alarms().contains { $0.id == "config_mismatch:w" } }, "\(alarms())")
            try cluster.start("w")
            #expect(cluster.wait(seconds: 15) { revisions(cluster) == ["a": 4, "b": 4, "w": 4] }, "\(revisions(cluster))")
            #expect(cluster.wait(seconds: 5) { !alarms().contains { $0.kind == "config_mismatch" } }, "\(alarms())")
        }
    }
}
