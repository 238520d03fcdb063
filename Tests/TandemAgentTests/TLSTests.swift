import Foundation
import TandemAgent
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A throw-away CA and certificates, made with the `openssl` command in `directory`: the CA
/// (ca.crt), the agents' certificate for 127.0.0.1 signed by it (api.crt, api.key), another
/// CA that signed nothing of ours (other-ca.crt) and a key that belongs to no certificate
/// (other.key). Every key file has mode 0600.
struct TestPKI {
    /// The openssl executable on PATH, or nil.
    static let openssl: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        .split(separator: ":").map { "\($0)/openssl" }.first { FileManager.default.isExecutableFile(atPath: $0) }

    let directory: String
    var ca: String { directory + "/ca.crt" }
    var otherCA: String { directory + "/other-ca.crt" }
    var certificate: String { directory + "/api.crt" }
    var key: String { directory + "/api.key" }
    var otherKey: String { directory + "/other.key" }

    init(directory: String) throws {
        guard let openssl = Self.openssl else { throw TestFailure("openssl is not installed (apt-get install openssl)") }
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Our own openssl configuration: the extensions do not depend on the system's.
        try """
        [req]
        distinguished_name = dn
        [dn]
        [ca]
        basicConstraints = critical,CA:TRUE
        keyUsage = critical,keyCertSign,cRLSign
        subjectKeyIdentifier = hash
        [server]
        basicConstraints = critical,CA:FALSE
        keyUsage = critical,digitalSignature
        extendedKeyUsage = serverAuth
        subjectAltName = IP:127.0.0.1
        """.write(toFile: directory + "/openssl.cnf", atomically: true, encoding: .utf8)
        let config = ["-config", directory + "/openssl.cnf"]
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for (name, subject) in [("ca", "/CN=tandem test CA"), ("other-ca", "/CN=another test CA")] {
            try run([openssl, "req", "-x509"] + config + ["-extensions", "ca"] + ec + [
                "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).crt", "-days", "2", "-subj", subject])
        }
        try run([openssl, "req", "-new"] + config + ec + ["-keyout", key, "-out", directory + "/api.csr", "-subj", "/CN=127.0.0.1"])
        try run([openssl, "x509", "-req", "-in", directory + "/api.csr", "-CA", ca, "-CAkey", directory + "/ca.key", "-set_serial", "2",
                 "-days", "2", "-extfile", directory + "/openssl.cnf", "-extensions", "server", "-out", certificate])
        try run([openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", otherKey])
        for file in [key, otherKey, directory + "/ca.key", directory + "/other-ca.key"] { chmod(file, 0o600) }
    }
}

extension AgentProcesses {
    /// The API over TLS (issue 5): agents with `api.tls` serve HTTPS only, the CLI verifies
    /// them with --ca-file, and a bad certificate or key stops an agent at start.
    @Suite(.serialized, .enabled(if: TestPKI.openssl != nil, "openssl is not installed: apt-get install openssl"))
    struct TLSTests {
        /// A test cluster whose agents serve HTTPS with the PKI's certificate.
        func makeCluster() throws -> (ProcessCluster, TestPKI) {
            let cluster = try ProcessCluster(extra: "api: {tls: {cert_file: $DIR/pki/api.crt, key_file: $DIR/pki/api.key}}\n")
            return (cluster, try TestPKI(directory: cluster.directory + "/pki"))
        }

        func url(_ cluster: ProcessCluster, _ node: String) -> String { "https://127.0.0.1:\(cluster.apiPort(node))" }

        /// `tandem status --json` over HTTPS, decoded (nil when it fails).
        func statusOverTLS(_ cluster: ProcessCluster, _ node: String, ca: String) -> AgentStatus? {
            guard let result = try? runCapturing([cluster.binary, "status", "--json", "--api", url(cluster, node), "--ca-file", ca]),
                  result.status == 0 else { return nil }
            return try? JSONDecoder().decode(AgentStatus.self, from: Data(result.output.utf8))
        }

        @Test func theCLITalksHTTPSAndRefusesWhatItCannotVerify() throws {
            let (cluster, pki) = try makeCluster()
            try cluster.startAll()
            let a = cluster.apiPort("a")
            // Settled: svc runs on a, and a leader is known (asked over HTTPS with the CA).
            guard cluster.wait(seconds: 20, {
                let status = statusOverTLS(cluster, "a", ca: pki.ca)
                return status?.leader != nil && status?.groups.first?.owner == "a"
            }) else {
                throw TestFailure("the cluster did not settle with svc on a (asked over HTTPS):\n\(cluster.logs())")
            }
            let log = try String(contentsOfFile: cluster.logPath("a"), encoding: .utf8)
            #expect(log.contains("the API serves HTTPS only, with \(pki.certificate)"), "\(log.suffix(2000))")

            // The CLI: --api https:// with --ca-file, TANDEM_CA_FILE, and --config (whose api.tls says https).
            let table = try runCapturing([cluster.binary, "status", "--api", url(cluster, "a"), "--ca-file", pki.ca])
            #expect(table.status == 0 && table.output.contains("cluster test · asked a"), "\(table.output)")
            let byEnvironment = try runCapturing([cluster.binary, "status", "--json", "--api", url(cluster, "b")],
                                                 environment: ["TANDEM_CA_FILE": pki.ca])
            #expect(byEnvironment.status == 0 && byEnvironment.output.contains("\"node\":\"b\""), "\(byEnvironment.output)")
            let byConfig = try runCapturing([cluster.binary, "status", "--json", "--config", cluster.configPath, "--node", "w", "--ca-file", pki.ca])
            #expect(byConfig.status == 0 && byConfig.output.contains("\"node\":\"w\""), "\(byConfig.output)")

            // Plain HTTP on the HTTPS port gets no answer; the CLI says to use https://.
            #expect(throws: TestFailure.self) { try httpCall("GET", port: a, path: "/v1/status") }
            let plain = try runCapturing([cluster.binary, "status", "--api", "http://127.0.0.1:\(a)"])
            #expect(plain.status != 0 && plain.output.contains("use --api https://127.0.0.1:\(a)"), "\(plain.output)")

            // Without the cluster's CA (the system's trust store, or another CA): refused, and
            // the message says what to pass.
            for (arguments, trusted) in [([String](), "the system's trust store"), (["--ca-file", pki.otherCA], "the CA file \(pki.otherCA)")] {
                let refused = try runCapturing([cluster.binary, "status", "--api", url(cluster, "a")] + arguments,
                                               environment: ["TANDEM_CA_FILE": ""])
                #expect(refused.status != 0, "\(refused.output)")
                #expect(refused.output.contains("the certificate of the agent at 127.0.0.1:\(a) cannot be verified with \(trusted)"), "\(refused.output)")
                #expect(refused.output.contains("Pass --ca-file FILE (or set TANDEM_CA_FILE) with the CA that signed the agent's certificate"))
            }

            // Streams over TLS: the event stream and a KV watch see an action and a write made
            // over TLS by other CLI processes.
            let https = ["--api", url(cluster, "a"), "--ca-file", pki.ca]
            let eventsLog = cluster.directory + "/events.out"
            let watchLog = cluster.directory + "/watch.out"
            let follower = try spawn([cluster.binary, "events", "--follow", "--limit", "1"] + https, log: eventsLog)
            // From revision 1: the watch replays the put even if it subscribes after it.
            let watcher = try spawn([cluster.binary, "kv", "watch", "app/", "--from", "1"] + https, log: watchLog)
            defer {
                for pid in [follower, watcher] {
                    kill(pid, SIGKILL)
                    var status: Int32 = 0
                    waitpid(pid, &status, 0)
                }
            }
            let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
            // The follower printed the last event: it follows the stream from there, so the
            // freeze's events reach it through the stream (replayed or live).
            guard cluster.wait(seconds: 10, { read(eventsLog).contains(" #") }) else {
                throw TestFailure("events --follow printed no event: \(read(eventsLog))")
            }
            let frozen = try runCapturing([cluster.binary, "freeze", "on"] + https)
            #expect(frozen.status == 0 && frozen.output.contains("freeze (no automatic moves): done"), "\(frozen.output)")
            let put = try runCapturing([cluster.binary, "kv", "put", "app/1", "over-tls"] + https)
            #expect(put.status == 0 && put.output.contains("written at revision"), "\(put.output)")
            #expect(cluster.wait(seconds: 10) { read(eventsLog).contains("anonymous asks for freeze (no automatic moves)") },
                    "events printed: \(read(eventsLog))")
            #expect(cluster.wait(seconds: 10) { read(watchLog).contains("app/1") }, "watch printed: \(read(watchLog))")
            #expect(read(watchLog).hasPrefix("put {\"entry\":"), "\(read(watchLog))")
            let got = try runCapturing([cluster.binary, "kv", "get", "app/1"] + https)
            #expect(got.output == "over-tls\n", "\(got.output)")
        }

        @Test func aBadCertificateOrKeyStopsTheAgentNamingTheFile() throws {
            let (cluster, pki) = try makeCluster()
            let original = try String(contentsOfFile: cluster.configPath, encoding: .utf8)
            let notPEM = cluster.directory + "/pki/not-pem.crt"
            try "this is not a certificate\n".write(toFile: notPEM, atomically: true, encoding: .utf8)
            let readable = cluster.directory + "/pki/readable.key"
            try String(contentsOfFile: pki.key, encoding: .utf8).write(toFile: readable, atomically: true, encoding: .utf8)
            chmod(readable, 0o644)
            let cases: [(certificate: String, key: String, message: String)] = [
                (pki.certificate, pki.otherKey,
                 "the API's TLS key file \(pki.otherKey) does not hold the private key of the certificate in \(pki.certificate)"),
                (pki.certificate, readable,
                 "the API's TLS key file \(readable) has mode 644, which lets group or others read it; run `chmod 600 \(readable)`"),
                (notPEM, pki.key, "the API's TLS certificate file \(notPEM) holds no PEM certificate"),
                (pki.directory + "/missing.crt", pki.key,
                 "cannot read the API's TLS certificate file \(pki.directory)/missing.crt: No such file or directory; check api.tls.cert_file"),
            ]
            for (certificate, key, message) in cases {
                let config = original.replacingOccurrences(
                    of: "api: {tls: {cert_file: \(pki.certificate), key_file: \(pki.key)}}",
                    with: "api: {tls: {cert_file: \(certificate), key_file: \(key)}}")
                #expect(config != original)
                try config.write(toFile: cluster.configPath, atomically: true, encoding: .utf8)
                try? FileManager.default.removeItem(atPath: cluster.logPath("a"))
                try cluster.start("a")
                let exit = cluster.waitExit("a", seconds: 20)
                let log = (try? String(contentsOfFile: cluster.logPath("a"), encoding: .utf8)) ?? ""
                #expect(exit != nil && exit != 0, "the agent did not stop (exit \(String(describing: exit))):\n\(log)")
                #expect(log.contains(message), "\(log)")
                #expect(!log.contains("Server started"), "the API started:\n\(log)")
            }
        }
    }
}
