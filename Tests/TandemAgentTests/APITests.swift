import Foundation
import TandemAgent
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension AgentProcesses {
    /// The HTTP API of real agents (issue 5): tokens and roles, operator actions with who
    /// asked, the event history and stream, KV list and watch, metrics, errors as JSON.
    @Suite(.serialized) struct APITests {
        static let operate = "0123456789abcdef-operate"
        static let read = "0123456789abcdef-readonly"

        /// A server-sent-event stream read on the test's thread.
        final class Stream {
            let fd: Int32
            var text = ""
            init(port: Int, path: String, headers: [String: String] = [:]) throws {
                fd = try httpSend("GET", port: port, path: path, headers: headers, timeout: 0.2)
            }
            deinit { close(fd) }

            /// Reads until `condition` holds on everything read so far, or `seconds` pass.
            func read(seconds: Double, until condition: (String) -> Bool) -> Bool {
                let end = Date().addingTimeInterval(seconds)
                var chunk = [UInt8](repeating: 0, count: 65536)
                while Date() < end {
                    if condition(text) { return true }
                    let n = recv(fd, &chunk, chunk.count, 0)
                    if n > 0 { text += String(decoding: chunk[0..<n], as: UTF8.self) }
                    if n == 0 { break }
                }
                return condition(text)
            }
        }

        func startCluster() throws -> ProcessCluster {
            let cluster = try ProcessCluster(timing: "balanced", extra: "api: {token_file: $DIR/tokens}\n")
            let tokens = cluster.directory + "/tokens"
            try "ops operate \(Self.operate)\nviewer read \(Self.read)\n".write(toFile: tokens, atomically: false, encoding: .utf8)
            chmod(tokens, 0o600)
            try cluster.startAll()
            // Settled: svc runs on a, and b is its ready standby (as the leader a judges).
            guard cluster.wait(seconds: 20, {
                cluster.runningNodes() == ["a"] && cluster.status("a")?.groups.first?.readyStandbys == ["b"]
            }) else {
                throw TestFailure("the cluster did not settle with svc on a and b ready:\n\(cluster.logs())")
            }
            return cluster
        }

        @Test func tokensActionsEventsWatchesAndErrors() throws {
            let cluster = try startCluster()
            let a = cluster.apiPort("a")
            let b = cluster.apiPort("b")
            let bearer = { (token: String) in ["Authorization": "Bearer \(token)"] }

            let events = try Stream(port: a, path: "/v1/events/stream")
            #expect(events.read(seconds: 2) { $0.contains(": tandem") }, "the stream did not open: \(events.text)")
            let watch = try Stream(port: b, path: "/v1/kv/watch?prefix=app/")
            #expect(watch.read(seconds: 2) { $0.contains(": tandem") })

            // Roles: no token, a read token, then an operate token.
            let anonymous = try httpCall("POST", port: a, path: "/v1/groups/svc/switchover", body: Array("{}".utf8))
            #expect(anonymous.status == 401)
            #expect(anonymous.json["code"] as? String == "unauthorized")
            let viewer = try httpCall("POST", port: a, path: "/v1/groups/svc/switchover", headers: bearer(Self.read))
            #expect(viewer.status == 403)
            #expect((viewer.json["message"] as? String)?.contains("viewer has role read") == true, "\(viewer.json)")
            let wrong = try httpCall("POST", port: a, path: "/v1/freeze", headers: bearer("not-a-token-at-all"), body: Array(#"{"on":true}"#.utf8))
            #expect(wrong.status == 401)

            let moved = try httpCall("POST", port: a, path: "/v1/groups/svc/switchover", headers: bearer(Self.operate),
                                     body: Array(#"{"to":"b"}"#.utf8), timeout: 30)
            #expect(moved.status == 200, "\(String(decoding: moved.body, as: UTF8.self))")
            #expect(moved.json["outcome"] as? String == "moved")
            #expect(moved.json["owner"] as? String == "b")
            #expect(moved.json["by"] as? String == "ops")
            #expect(cluster.wait(seconds: 10) { cluster.runningNodes() == ["b"] })
            #expect(events.read(seconds: 5) { $0.contains("switchover of svc to b asked by ops: done: b owns svc") },
                    "the stream did not carry the outcome:\n\(events.text)")
            #expect(events.text.contains("\"reason\":\"ops asks for switchover of svc to b\""))

            // The history: the newest events, then nothing after the last one.
            let recent = try httpCall("GET", port: a, path: "/v1/events?limit=5")
            #expect(recent.status == 200)
            let rows = recent.json["events"] as? [[String: Any]] ?? []
            #expect(rows.count == 5)
            let last = recent.json["last"] as? Int ?? -1
            #expect(rows.last?["id"] as? Int == last)
            let after = try httpCall("GET", port: a, path: "/v1/events?since=\(last)")
            #expect((after.json["events"] as? [Any])?.isEmpty == true)
            #expect(after.json["last"] as? Int == last)
            let replay = try Stream(port: a, path: "/v1/events/stream?since=\(last - 3)")
            #expect(replay.read(seconds: 2) { $0.contains("id: \(last)\n") }, "no replay up to \(last): \(replay.text)")
            #expect(!replay.text.contains("id: \(last - 3)\n"))

            // KV: writes need operate; the watch on another node sees them.
            let refused = try httpCall("PUT", port: a, path: "/v1/kv/app/1", body: Array("x".utf8))
            #expect(refused.status == 401)
            let put = try httpCall("PUT", port: a, path: "/v1/kv/app/1", headers: bearer(Self.operate), body: Array("one".utf8))
            #expect(put.status == 200)
            _ = try httpCall("PUT", port: a, path: "/v1/kv/other/2", headers: bearer(Self.operate), body: Array("two".utf8))
            let deleted = try httpCall("DELETE", port: a, path: "/v1/kv/app/1", headers: bearer(Self.operate))
            #expect(deleted.status == 200)
            #expect(watch.read(seconds: 5) { $0.contains("event: delete") }, "watch saw: \(watch.text)")
            #expect(watch.text.contains("event: put\ndata: {\"entry\":{\"createRevision\""))
            #expect(watch.text.contains("\"key\":\"app/1\""))
            #expect(!watch.text.contains("other/2"))
            let list = try httpCall("GET", port: b, path: "/v1/kv?prefix=other/")
            #expect(list.status == 200)
            #expect((list.json["entries"] as? [[String: Any]])?.map { $0["key"] as? String } == ["other/2"])

            // Bad input: a clear 4xx in the API's shape, never a 5xx.
            let cases: [(String, String, [UInt8], Int, String)] = [
                ("GET", "/v1/events?limit=0", [], 400, "invalid_limit"),
                ("GET", "/v1/events?since=x", [], 400, "invalid_since"),
                ("GET", "/v1/kv/watch?from=-1", [], 400, "invalid_from"),
                ("GET", "/v1/kv/app/1?local=maybe", [], 400, "invalid_local"),
                ("POST", "/v1/freeze", Array(#"{"on":"yes"}"#.utf8), 400, "invalid_body"),
                ("POST", "/v1/freeze", Array("not json".utf8), 400, "invalid_body"),
                ("POST", "/v1/nodes/zz/maintenance", Array(#"{"on":true}"#.utf8), 404, "unknown_node"),
                ("POST", "/v1/groups/nope/failback", [], 404, "unknown_group"),
                ("GET", "/v1/nowhere", [], 404, "not_found"),
                ("PATCH", "/v1/status", [], 405, "method_not_allowed"),
                ("POST", "/v1/freeze", [UInt8](repeating: 32, count: 70_000), 413, "too_large"),
                ("GET", "/v1/kv/a%00b", [], 400, "invalid_key"),
                ("GET", "/v1/kv/" + String(repeating: "k", count: 1025), [], 400, "invalid_key"),
                ("GET", "/v1/freeze", [], 405, "method_not_allowed"),
                ("POST", "/v1/kv/app/1", [], 405, "method_not_allowed"),
            ]
            for (method, path, body, status, code) in cases {
                let answer = try httpCall(method, port: a, path: path, headers: bearer(Self.operate), body: body, timeout: 10)
                #expect(answer.status == status, "\(method) \(path): \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
                #expect(answer.json["code"] as? String == code, "\(method) \(path): \(answer.json)")
                #expect((answer.json["message"] as? String)?.isEmpty == false)
            }

            // Metrics on the new owner.
            let metrics = String(decoding: try httpGet(port: b, path: "/metrics"), as: UTF8.self)
            #expect(metrics.contains("tandem_group_active{group=\"svc\"} 1.0"), "\(metrics)")
            #expect(metrics.contains("# TYPE tandem_link_rtt_seconds gauge"))

            // The served OpenAPI document is the one kept in the repository.
            let served = String(decoding: try httpGet(port: a, path: "/v1/openapi.json"), as: UTF8.self)
            let kept = try String(contentsOfFile: Self.repository + "/docs/openapi.json", encoding: .utf8)
            #expect(served == kept.trimmingCharacters(in: .newlines), "docs/openapi.json and OpenAPIDocument.swift differ")

            // Events survive a restart of the node that recorded them.
            let before = try httpCall("GET", port: a, path: "/v1/events?limit=1000")
            let ids = (before.json["events"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
            cluster.signal("a", SIGKILL)
            _ = cluster.waitExit("a", seconds: 5)
            try cluster.start("a")
            #expect(cluster.wait(seconds: 10) { cluster.status("a") != nil })
            let afterRestart = try httpCall("GET", port: a, path: "/v1/events?since=0&limit=1000")
            let idsAfter = (afterRestart.json["events"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
            #expect(!ids.isEmpty && Set(ids).isSubset(of: Set(idsAfter)))
            #expect(cluster.overlaps().isEmpty, "\(cluster.overlaps())")
        }

        @Test func unprotectedGroupRaisesAnAlarmThatClearsWhenTheStandbyReturns() throws {
            let cluster = try startCluster()
            let a = cluster.apiPort("a")
            // Past the first seconds after start, which raise nothing.
            #expect(cluster.wait(seconds: 10) { (cluster.status("a")?.uptimeSeconds ?? 0) >= 6 })
            #expect(cluster.status("a")?.alarms.isEmpty == true, "\(cluster.status("a")?.alarms ?? [])")
            cluster.signal("b", SIGKILL)
            _ = cluster.waitExit("b", seconds: 5)
            let raised = cluster.wait(seconds: 10) {
                let ids = cluster.status("a")?.alarms.map(\.id) ?? []
                return ids.contains("no_ready_standby:svc") && ids.contains("link_down:b:1")
            }
            #expect(raised, "alarms on a: \(cluster.status("a")?.alarms ?? [])")
            let metrics = String(decoding: try httpGet(port: a, path: "/metrics"), as: UTF8.self)
            #expect(metrics.contains("tandem_alarms{severity=\"major\"} 1.0"), "\(metrics)")
            try cluster.start("b")
            #expect(cluster.wait(seconds: 15) { cluster.status("a")?.alarms.isEmpty == true },
                    "still open on a: \(cluster.status("a")?.alarms ?? [])")
            let history = try httpCall("GET", port: a, path: "/v1/events?limit=1000")
            let reasons = (history.json["events"] as? [[String: Any]] ?? []).compactMap { $0["reason"] as? String }
            #expect(reasons.contains { $0.hasPrefix("major alarm no_ready_standby:svc: svc runs on a without a ready standby") }, "\(reasons)")
            #expect(reasons.contains { $0.hasPrefix("cleared major alarm no_ready_standby:svc") })
        }

        /// The cluster's timeline, asked of the witness: the owner's activation and the
        /// leader's decision are there (recorded on a), merged by time with w's own events.
        @Test func clusterEventsMergeEveryNodesTimeline() throws {
            let cluster = try startCluster()
            let w = cluster.apiPort("w")
            let answer = try httpCall("GET", port: w, path: "/v1/events?scope=cluster&limit=500", timeout: 5)
            #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
            #expect(answer.json["answered"] as? [String] == ["a", "b", "w"], "\(answer.json)")
            #expect(answer.json["missing"] as? [String] == [], "\(answer.json)")
            let events = answer.json["events"] as? [[String: Any]] ?? []
            let seen = Set(events.compactMap { e in (e["node"] as? String).map { "\($0):\(e["kind"] as? String ?? "")" } })
            #expect(seen.contains("a:activated") && seen.contains("a:assigned") && seen.contains("w:started"), "\(seen.sorted())")
            let times = events.compactMap { $0["wallMilliseconds"] as? Int64 ?? ($0["wallMilliseconds"] as? Int).map(Int64.init) }
            #expect(times == times.sorted() && times.count == events.count)
            #expect(try httpCall("GET", port: w, path: "/v1/events?scope=cluster&since=3").status == 400)
            #expect(try httpCall("GET", port: w, path: "/v1/events?scope=everyone").json["code"] as? String == "invalid_scope")
            // A node that is gone is named, and the others still answer.
            cluster.signal("b", SIGKILL)
            _ = cluster.waitExit("b", seconds: 5)
            #expect(cluster.wait(seconds: 10) { cluster.status("w")?.links.filter { $0.peer == "b" }.allSatisfy { !$0.up } == true })
            let without = try httpCall("GET", port: w, path: "/v1/events?scope=cluster&limit=20", timeout: 5)
            #expect(without.json["missing"] as? [String] == ["b"], "\(without.json)")
            let cli = try runCapturing([cluster.binary, "events", "--cluster", "--limit", "400", "--api", "127.0.0.1:\(w)"])
            #expect(cli.status == 0 && cli.output.contains(" a activated") && cli.output.contains("not included (no answer): b"), "\(cli.output)")
        }

        @Test func cliActsWithATokenFileAndFollowsStreams() throws {
            let cluster = try startCluster()
            let a = cluster.apiPort("a")
            let tokenFile = cluster.directory + "/ops.token"
            try "# the ops token\n\(Self.operate)\n".write(toFile: tokenFile, atomically: false, encoding: .utf8)
            let api = ["--api", "http://127.0.0.1:\(a)"]
            // Without a token: refused, and the message says what to do.
            let refused = try runCapturing([cluster.binary, "freeze", "on"] + api)
            #expect(refused.status != 0)
            #expect(refused.output.contains("needs a token with role operate") && refused.output.contains("--token-file"), "\(refused.output)")
            // Followers of the KV watch and of the events, as separate processes.
            let watchLog = cluster.directory + "/watch.out"
            let eventsLog = cluster.directory + "/events.out"
            let watcher = try spawn([cluster.binary, "kv", "watch", "app/"] + api, log: watchLog)
            let follower = try spawn([cluster.binary, "events", "--follow", "--limit", "1"] + api, log: eventsLog)
            defer {
                for pid in [watcher, follower] {
                    kill(pid, SIGKILL)
                    var status: Int32 = 0
                    waitpid(pid, &status, 0)
                }
            }
            usleep(500_000)
            let moved = try runCapturing([cluster.binary, "switchover", "svc", "--to", "b", "--token-file", tokenFile] + api)
            #expect(moved.status == 0, "\(moved.output)")
            #expect(moved.output.contains("switchover of svc to b: done — b owns svc at epoch 2 (asked by ops)"), "\(moved.output)")
            for i in 1...3 {
                let put = try runCapturing([cluster.binary, "kv", "put", "app/\(i)", "v\(i)", "--token-file", tokenFile] + api)
                #expect(put.status == 0 && put.output.contains("written at revision"), "\(put.output)")
            }
            let got = try runCapturing([cluster.binary, "kv", "get", "app/2"] + api)
            #expect(got.output == "v2\n", "\(got.output)")
            let listed = try runCapturing([cluster.binary, "kv", "list", "app/", "--json"] + api)
            #expect(listed.output.contains("\"value\":\"v3\""), "\(listed.output)")
            let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
            #expect(cluster.wait(seconds: 5) { read(watchLog).components(separatedBy: "\nput ").count >= 3 && read(watchLog).contains("app/3") },
                    "watch printed: \(read(watchLog))")
            #expect(read(watchLog).hasPrefix("put {\"entry\":"), "\(read(watchLog))")
            #expect(cluster.wait(seconds: 5) { read(eventsLog).contains("switchover of svc to b asked by ops: done") },
                    "events printed: \(read(eventsLog))")
            let status = try runCapturing([cluster.binary, "status", "--json"] + api)
            #expect(status.output.contains("\"owner\":\"b\""), "\(status.output.prefix(400))")
        }

        /// Many moves in one agent process: every switchover is answered "moved" (also when a
        /// leadership transfer to the new owner loses the old leader's answer), and no agent
        /// dies (an unowned capture in the runtime's tasks once crashed them after about 20).
        @Test func thirtySwitchoversInARowAreAllAnsweredAndNoAgentDies() throws {
            let cluster = try startCluster()
            let a = cluster.apiPort("a")
            var owners: [String] = []
            for _ in 0..<30 {
                let moved = try httpCall("POST", port: a, path: "/v1/groups/svc/switchover", headers: ["Authorization": "Bearer \(Self.operate)"],
                                         timeout: 30)
                #expect(moved.status == 200, "\(String(decoding: moved.body, as: UTF8.self))")
                owners.append(moved.json["owner"] as? String ?? "?")
            }
            #expect(owners == (0..<30).map { $0 % 2 == 0 ? "b" : "a" }, "\(owners)")
            for node in ["a", "b", "w"] { #expect(cluster.status(node) != nil, "\(node) does not answer:\n\(cluster.logs())") }
            #expect(cluster.overlaps().isEmpty, "\(cluster.overlaps())")
        }

        /// The repository's root (this file is Tests/TandemAgentTests/APITests.swift).
        static var repository: String {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        }
    }
}
