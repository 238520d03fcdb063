#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a bearer token may do on the HTTP API. Each role includes the ones before it.
public enum APIRole: String, Sendable, Comparable, CaseIterable {
    /// Status, events, metrics, KV reads and watches.
    case read
    /// Also operator actions (switchover, failback, maintenance, freeze) and KV writes.
    case operate
    /// Also configuration changes and rollbacks.
    case admin

    public static func < (a: APIRole, b: APIRole) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One named token of `api.token_file`.
public struct APIToken: Sendable, Equatable {
    /// Who uses it: recorded in the events of the actions it is used for.
    public var name: String
    public var role: APIRole
    public var secret: String
    public init(name: String, role: APIRole, secret: String) {
        self.name = name
        self.role = role
        self.secret = secret
    }
}

/// `api:` in the configuration file.
public struct APISettings: Sendable, Equatable {
    /// Who may read (status, events, KV, metrics): anyone who reaches the address, or only
    /// the holders of a token.
    public enum Reads: String, Sendable, Equatable {
        case open
        case token
    }
    /// The token file (`NAME ROLE TOKEN` per line). Without one the API takes no tokens and
    /// every endpoint is open to whoever reaches the address (the agent warns at start).
    public var tokenFile: String?
    public var reads: Reads
    /// With it the API serves HTTPS only; without it plain HTTP.
    public var tls: APITLSSettings?
    public init(tokenFile: String? = nil, reads: Reads = .open, tls: APITLSSettings? = nil) {
        self.tokenFile = tokenFile
        self.reads = reads
        self.tls = tls
    }
}

/// `api.tls:`: the API's certificate and private key, PEM files read when the agent starts
/// (the key file must not be readable by group or others, see `SecretFile`).
public struct APITLSSettings: Sendable, Equatable {
    /// The server's certificate, then any intermediate certificates (PEM).
    public var certFile: String
    /// The certificate's private key (PEM, not encrypted).
    public var keyFile: String
    public init(certFile: String, keyFile: String) {
        self.certFile = certFile
        self.keyFile = keyFile
    }
}

/// Files that hold secrets (the token file, the API's TLS key): each must be a regular file
/// that group and others cannot read (mode 0600 or 0400), like the cluster key.
public enum SecretFile {
    /// What is wrong with the file at `path`, or nil when it may hold a secret. `what` names
    /// it in the message ("the token file"), `key` is the setting that names it.
    public static func problem(path: String, what: String, key: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return "cannot read \(what) \(path): \(String(cString: strerror(errno))); check \(key)"
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            return "\(what) \(path) is not a regular file"
        }
        let mode = UInt32(info.st_mode) & 0o7777
        if mode & 0o077 != 0 {
            return "\(what) \(path) has mode \(String(mode, radix: 8)), which lets group or others read it; run `chmod 600 \(path)`"
        }
        return nil
    }
}

/// Reading `api.token_file`: one token per line, `NAME ROLE TOKEN`, `#` comments and blank
/// lines ignored. Names and tokens are unique; a token has at least 16 characters; the file
/// must not be readable by group or others (0600 or 0400), like the cluster key.
public enum TokenFile {
    public static let minimumTokenLength = 16

    public struct LoadError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public static func load(path: String) throws(LoadError) -> [APIToken] {
        if let problem = SecretFile.problem(path: path, what: "the token file", key: "api.token_file") {
            throw LoadError(message: problem)
        }
        let text: String
        do {
            text = try TextFile.read(path: path)
        } catch {
            throw LoadError(message: error.message)
        }
        let tokens = try parse(text, source: path)
        guard !tokens.isEmpty else {
            throw LoadError(message: "the token file \(path) has no tokens; add lines NAME ROLE TOKEN, or remove api.token_file to leave the API open")
        }
        return tokens
    }

    /// The tokens of a token file's text; `source` names it in errors.
    public static func parse(_ text: String, source: String) throws(LoadError) -> [APIToken] {
        var tokens: [APIToken] = []
        var names: [String: Int] = [:]
        var secrets: [String: Int] = [:]
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = offset + 1
            let content = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            if fields.isEmpty { continue }
            guard fields.count == 3 else {
                throw LoadError(message: "\(source):\(line): expected NAME ROLE TOKEN (three fields), found \(fields.count)")
            }
            let (name, roleText, secret) = (fields[0], fields[1], fields[2])
            guard let role = APIRole(rawValue: roleText) else {
                throw LoadError(message: "\(source):\(line): unknown role \(roleText.debugDescription); use read, operate or admin")
            }
            guard secret.count >= minimumTokenLength else {
                throw LoadError(
                    message: "\(source):\(line): the token of \(name) has \(secret.count) characters; use at least \(minimumTokenLength) (e.g. openssl rand -hex 24)")
            }
            if let first = names[name] {
                throw LoadError(message: "\(source):\(line): the name \(name) is already used on line \(first)")
            }
            if let first = secrets[secret] {
                throw LoadError(message: "\(source):\(line): the token of \(name) is the same as on line \(first); every token must be different")
            }
            names[name] = line
            secrets[secret] = line
            tokens.append(APIToken(name: name, role: role, secret: secret))
        }
        return tokens
    }
}
