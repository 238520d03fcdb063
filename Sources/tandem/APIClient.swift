import ArgumentParser
import Foundation
import TandemConfig
import TandemCore

#if canImport(Glibc)
import Glibc
#endif

/// The options every command that talks to an agent takes.
struct APIOptions: ParsableArguments {
    @Option(name: .long, help: "The agent's API: http://HOST:PORT, https://HOST:PORT or HOST:PORT (default: the lab if one runs, else the nodes of --config).")
    var api: String?
    @Option(name: .long, help: "A configuration file: its nodes' API addresses are tried in turn (default /etc/tandem/tandem.yaml).")
    var config: String?
    @Option(name: .long, help: "With --config: which node to ask.")
    var node: String?
    @Option(name: .long, help: "A file holding the API token (else TANDEM_TOKEN; the lab's own token when a lab runs).")
    var tokenFile: String?
    @Option(name: .long, help: "Over HTTPS: trust only the certificates in this PEM file, the CA that signed the agents' certificate or that certificate itself (else TANDEM_CA_FILE, else the system's trust store).")
    var caFile: String?

    func client() throws -> APIClient {
        let target = try resolveEndpoints(api: api, config: config, node: node)
        return APIClient(endpoints: target.endpoints, token: try token(), tls: target.https ? try ClientTLS(caFile: caFilePath()) : nil)
    }

    /// --ca-file, else TANDEM_CA_FILE.
    func caFilePath() -> String? {
        if let caFile { return caFile }
        if let path = ProcessInfo.processInfo.environment["TANDEM_CA_FILE"], !path.isEmpty { return path }
        return nil
    }

    /// --token-file, else TANDEM_TOKEN, else the lab's admin token when asking the lab.
    func token() throws -> String? {
        if let tokenFile { return try readTokenFile(tokenFile) }
        if let token = ProcessInfo.processInfo.environment["TANDEM_TOKEN"], !token.isEmpty { return token }
        if api == nil, config == nil, Lab.isRunning(), FileManager.default.fileExists(atPath: Lab.adminTokenPath) {
            return try readTokenFile(Lab.adminTokenPath)
        }
        return nil
    }
}

/// A token file for the CLI: the token alone, on the first line that is not a comment.
func readTokenFile(_ path: String) throws -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw CLIError("cannot read the token file \(path); check --token-file")
    }
    for line in text.split(separator: "\n") {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
        guard !trimmed.contains(" ") else {
            throw CLIError("\(path) must hold the token alone on a line (not NAME ROLE TOKEN: that is the agent's api.token_file)")
        }
        return trimmed
    }
    throw CLIError("the token file \(path) holds no token")
}

/// Where to ask: `--api`, else the lab's nodes when a lab runs, else the config's nodes;
/// over HTTPS for an `https://` API or a config whose `api.tls` is set.
func resolveEndpoints(api: String?, config: String?, node: String?) throws -> (endpoints: [Endpoint], https: Bool) {
    if var api {
        var https = false
        if api.hasPrefix("http://") {
            api.removeFirst("http://".count)
        } else if api.hasPrefix("https://") {
            api.removeFirst("https://".count)
            https = true
        }
        while api.hasSuffix("/") { api.removeLast() }
        guard let colon = api.lastIndex(of: ":"), let port = Int(api[api.index(after: colon)...]), (1...65535).contains(port) else {
            throw CLIError("--api must be http://HOST:PORT, https://HOST:PORT or HOST:PORT, got \(api.debugDescription)")
        }
        return ([Endpoint(host: String(api[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port)], https)
    }
    let path = config ?? (Lab.isRunning() ? Lab.configPath : "/etc/tandem/tandem.yaml")
    let file = try loadConfig(path)
    var ids = file.cluster.nodes.map(\.id)
    if let node {
        guard ids.contains(NodeID(node)) else {
            throw CLIError("\(path) has no node \(node.debugDescription); it has \(ids.map(\.name).joined(separator: ", "))")
        }
        ids = [NodeID(node)]
    }
    let endpoints = ids.compactMap { file.addresses[$0]?.api }
    guard !endpoints.isEmpty else { throw CLIError("\(path): no node has an api address to ask") }
    return (endpoints, file.api.tls != nil)
}

/// One agent's API, asked over the CLI's blocking HTTP client: the first endpoint that
/// answers is used; errors come back as the API's `{code, message}` with what to do.
struct APIClient {
    var endpoints: [Endpoint]
    var token: String?
    /// HTTPS with these trust roots; nil for plain HTTP.
    var tls: ClientTLS? = nil

    struct ErrorBody: Decodable {
        var code: String
        var message: String
        /// Per node, what it would refuse (a configuration change).
        var problems: [String: [String]]?
    }

    /// Sends the request to the first endpoint that accepts a connection; throws a CLIError
    /// for an error answer (4xx, 5xx) or when no endpoint answers.
    func call(
        _ method: String, _ path: String, body: [UInt8] = [], headers: [String: String] = [:], timeout: Duration = .seconds(5)
    ) throws -> HTTPClient.Answer {
        var headers = headers
        if let token { headers["Authorization"] = "Bearer \(token)" }
        if !body.isEmpty, headers["Content-Type"] == nil { headers["Content-Type"] = "application/json" }
        var problems: [String] = []
        var connected = false
        for endpoint in endpoints {
            let answer: HTTPClient.Answer
            do {
                answer = try HTTPClient.request(
                    method, host: endpoint.host, port: endpoint.port, path: path, headers: headers, body: body, timeout: timeout, tls: tls)
            } catch let error as HTTPClient.TLSFailure {
                throw CLIError(error.description)
            } catch {
                problems.append("\(endpoint): \(error)")
                connected = connected || !(error is HTTPClient.ConnectError)
                continue
            }
            guard (200..<300).contains(answer.status) else { throw failure(answer, from: endpoint) }
            return answer
        }
        throw CLIError("no agent answered:\n  " + problems.joined(separator: "\n  ")
            + (connected ? "" : "\nIs the agent running? (tandem lab starts a local cluster; systemctl status tandem on a node)"))
    }

    /// GETs or POSTs and decodes the JSON answer.
    func json<T: Decodable>(_ type: T.Type, _ method: String, _ path: String, body: [UInt8] = [], timeout: Duration = .seconds(5)) throws -> T {
        let answer = try call(method, path, body: body, timeout: timeout)
        do {
            return try JSONDecoder().decode(T.self, from: Data(answer.body))
        } catch {
            throw CLIError("the agent's answer to \(method) \(path) is not what this version of tandem reads (\(error)); are the CLI and agent the same version?")
        }
    }

    /// An error answer in words, with what to do about it.
    func failure(_ answer: HTTPClient.Answer, from endpoint: Endpoint) -> CLIError {
        guard let error = try? JSONDecoder().decode(ErrorBody.self, from: Data(answer.body)) else {
            return CLIError("\(endpoint) answered HTTP \(answer.status): \(answer.text.prefix(300))")
        }
        var text = "\(error.message) (\(error.code), HTTP \(answer.status) from \(endpoint))"
        for (node, problems) in (error.problems ?? [:]).sorted(by: { $0.key < $1.key }) {
            text += "\n  \(node):" + problems.map { "\n    - \($0)" }.joined()
        }
        switch error.code {
        case "unauthorized": text += "\nPass a token: --token-file FILE (the token alone) or TANDEM_TOKEN=..."
        case "forbidden": text += "\nUse a token whose role allows this (read < operate < admin; see api.token_file)."
        case "no_quorum", "no_leader": text += "\nA majority of voters must be reachable: check `tandem status` for links and nodes."
        case "timed_out", "outcome_unknown": text += "\nThe outcome is not known yet: check `tandem status` and `tandem events`."
        case "target_not_ready": text += "\nSee why under NOT READY in `tandem status`."
        case "revision_conflict": text += "\nSee the current revision with `tandem config show`."
        default: break
        }
        return CLIError(text)
    }

    /// Follows a server-sent-event stream from the first endpoint that answers, calling
    /// `handle` with each message until it returns false or the stream ends.
    func follow(_ path: String, handle: (SSEMessage) throws -> Bool) throws {
        var headers: [String: String] = ["Accept": "text/event-stream"]
        if let token { headers["Authorization"] = "Bearer \(token)" }
        var problems: [String] = []
        for endpoint in endpoints {
            do {
                try HTTPClient.stream("GET", host: endpoint.host, port: endpoint.port, path: path, headers: headers, tls: tls,
                                      failure: { failure($0, from: endpoint) }, handle: handle)
                return
            } catch let error as HTTPClient.ConnectError {
                problems.append("\(endpoint): \(error)")
            } catch let error as HTTPClient.TLSFailure {
                throw CLIError(error.description)
            }
        }
        throw CLIError("no agent answered:\n  " + problems.joined(separator: "\n  "))
    }
}

/// One server-sent event.
struct SSEMessage {
    var id: String?
    var event: String
    var data: String
}
