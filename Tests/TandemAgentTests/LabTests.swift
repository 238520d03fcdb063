import Foundation
import TandemAgent
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension AgentProcesses {
    /// `tandem lab` as the README uses it: start, visit the page, crash the active node, see
    /// the standby serve the page with the visit count intact, restart, stop.
    @Suite(.serialized)
    struct LabTests {
        struct Lab {
            let directory = NSTemporaryDirectory() + "tandem-lab-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let portBase = Int.random(in: 200...320) * 100
            var webPort: Int { portBase + 90 }
            var environment: [String: String] {
                ["TANDEM_LAB_DIR": directory, "TANDEM_LAB_PORT_BASE": String(portBase), "TANDEM_LAB_WEB_PORT": String(webPort)]
            }

            /// Runs `tandem ARGS` with the lab's environment; returns its exit status and output.
            func tandem(_ arguments: [String]) throws -> (status: Int32, output: String) {
                try runCapturing([ProcessCluster.tandemBinary] + arguments, environment: environment)
            }

            func page() -> String? {
                try? fetchPage()
            }

            func fetchPage() throws -> String {
                String(decoding: try httpGet(port: webPort, path: "/", timeout: 5), as: UTF8.self)
            }

            func logs() -> String {
                ["a", "b", "w"].map { node in
                    let text = (try? String(contentsOfFile: "\(directory)/\(node).log", encoding: .utf8)) ?? ""
                    return "---- \(node).log\n" + text.split(separator: "\n").suffix(30).joined(separator: "\n")
                }.joined(separator: "\n")
            }
        }

        func wait(seconds: Double, _ condition: () -> Bool) -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                if condition() { return true }
                usleep(100_000)
            }
            return condition()
        }

        @Test func labServesThePageAndTheCountSurvivesACrash() throws {
            let lab = Lab()
            defer {
                _ = try? lab.tandem(["lab", "stop"])
                try? FileManager.default.removeItem(atPath: lab.directory)
            }
            let started = try lab.tandem(["lab"])
            #expect(started.status == 0, "\(started.output)")
            #expect(started.output.contains("is running"), "\(started.output)\n\(lab.logs())")
            #expect(started.output.contains("tandem lab kill a"))

            // A visit is a linearizable read and a committed write; on a loaded machine give it a few tries.
            var first = ""
            var lastError = ""
            let served = wait(seconds: 10) {
                do { first = try lab.fetchPage(); return true } catch { lastError = "\(error)"; return false }
            }
            #expect(served, "the page is not served (\(lastError)):\n\(lab.logs())")
            #expect(first.contains("Served by node a"))
            #expect(first.contains("visit number <b>1</b>"))
            #expect(lab.page()?.contains("visit number <b>2</b>") == true)

            let status = try lab.tandem(["status"])
            #expect(status.status == 0)
            #expect(status.output.contains("web    a"), "\(status.output)")

            #expect(try lab.tandem(["lab", "kill", "a"]).status == 0)
            var after = ""
            let movedToB = wait(seconds: 20) {
                after = lab.page() ?? ""
                return after.contains("Served by node b")
            }
            #expect(movedToB, "b did not take over:\n\(lab.logs())")
            #expect(after.contains("visit number <b>3</b>"), "the count did not survive failover: \(after)")

            #expect(try lab.tandem(["lab", "restart", "a"]).status == 0)
            let rejoined = wait(seconds: 20) {
                guard let json = try? lab.tandem(["status", "--json", "--node", "a"]).output,
                      let s = try? JSONDecoder().decode(AgentStatus.self, from: Data(json.utf8)) else { return false }
                return s.role == "follower" && s.groups.first?.owner == "b"
            }
            #expect(rejoined, "a did not rejoin as a standby:\n\(lab.logs())")
            #expect(lab.page()?.contains("Served by node b") == true, "failback is manual")

            let stopped = try lab.tandem(["lab", "stop"])
            #expect(stopped.output.contains("stopped"), "\(stopped.output)")
            #expect(lab.page() == nil, "the page is still served after lab stop")
        }

        /// Drills against the lab as the README shows them: a switchover and a service failure
        /// probed over HTTP, the records listed, one exported as a page, the standby proven.
        @Test func drillsAgainstTheLabLeaveRecords() throws {
            let lab = Lab()
            defer {
                _ = try? lab.tandem(["lab", "stop"])
                try? FileManager.default.removeItem(atPath: lab.directory)
            }
            let started = try lab.tandem(["lab"])
            #expect(started.output.contains("is running"), "\(started.output)\n\(lab.logs())")
            #expect(wait(seconds: 10) { lab.page() != nil })
            let probe = "http://127.0.0.1:\(lab.webPort)/health"
            var ids: [String] = []
            for scenario in ["switchover", "service-failure"] {
                let run = try lab.tandem(["drill", "run", scenario, "--probe", probe, "--max-interruption", "5s", "--operator", "Lab Tester"])
                #expect(run.status == 0 && run.output.contains("— PASSED"), "\(run.output)\n\(lab.logs())")
                if let line = run.output.split(separator: "\n").first(where: { $0.hasPrefix("drill ") && $0.contains(" started on ") }) {
                    ids.append(String(line.split(separator: " ")[1]))
                }
                #expect(run.output.contains("phase activation"), "\(run.output)")
            }
            let list = try lab.tandem(["drill", "list"])
            #expect(ids.count == 2 && ids.allSatisfy { list.output.contains($0) } && list.output.contains("Lab Tester"), "\(ids) \(list.output)")
            let page = lab.directory + "/report.html"
            #expect(try lab.tandem(["drill", "show", ids.first ?? "-", "--html", page]).status == 0)
            let html = (try? String(contentsOfFile: page, encoding: .utf8)) ?? ""
            #expect(html.contains("<svg") && html.contains("switchover of web"), "\(html.prefix(300))")
            let status = try lab.tandem(["status"])
            #expect(status.output.contains("PROVEN") && !status.output.contains(" never "), "\(status.output)")
        }
    }
}
