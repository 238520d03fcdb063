import Foundation
import Testing
import TandemCore
@testable import TandemConfig

// MARK: - api: and events: in the file

@Test func test_parse_api_defaultsToOpenWithoutTokens() {
    let file = parsed(minimalYAML())
    #expect(file?.api == APISettings(tokenFile: nil, reads: .open))
    #expect(file?.eventRetention == 100_000)
}

@Test func test_parse_api_tokenFileAndReads() {
    let file = parsed(minimalYAML("api: {token_file: /etc/tandem/tokens, read: token}\nevents: {keep: 5000}\n"))
    #expect(file?.api == APISettings(tokenFile: "/etc/tandem/tokens", reads: .token))
    #expect(file?.eventRetention == 5000)
}

@Test func test_parse_api_readTokenWithoutTokenFile_isRefused() {
    expectProblem(minimalYAML("api: {read: token}\n"), key: "api.read", line: 7, containing: ["needs api.token_file"])
}

@Test func test_parse_api_unknownReadValue_isRefused() {
    expectProblem(minimalYAML("api: {token_file: /t, read: everyone}\n"), key: "api.read", line: 7, containing: ["open", "token", "\"everyone\""])
}

@Test func test_parse_api_relativeTokenFile_isRefused() {
    #expect(problem(minimalYAML("api: {token_file: tokens}\n"), key: "api.token_file") != nil)
}

@Test func test_parse_api_tls_certAndKeyFiles() {
    let file = parsed(minimalYAML("api: {token_file: /etc/tandem/tokens, tls: {cert_file: /etc/tandem/api.crt, key_file: /etc/tandem/api.key}}\n"))
    #expect(file?.api == APISettings(
        tokenFile: "/etc/tandem/tokens", reads: .open, tls: APITLSSettings(certFile: "/etc/tandem/api.crt", keyFile: "/etc/tandem/api.key")))
    #expect(parsed(minimalYAML())?.api.tls == nil)
}

@Test func test_parse_api_tls_problemsNameTheKeyAndLine() {
    // Block style: each key on its own line (api: is line 7).
    expectProblem(minimalYAML("api:\n  tls:\n    cert_file: /etc/tandem/api.crt\n    key_file: api.key\n"),
                  key: "api.tls.key_file", line: 10, containing: ["'api.key' is not an absolute path"])
    expectProblem(minimalYAML("api:\n  tls:\n    cert_file: /etc/tandem/api.crt\n"),
                  key: "api.tls.key_file", line: 9, containing: ["'key_file' is missing from api.tls", "mode 0600"])
    expectProblem(minimalYAML("api: {tls: {key_file: /k}}\n"), key: "api.tls.cert_file", line: 7, containing: ["'cert_file' is missing"])
    expectProblem(minimalYAML("api: {tls: {cert_file: /c, key_file: /k, ca_file: /ca}}\n"), key: "api.tls.ca_file", line: 7,
                  containing: ["unknown key 'ca_file' in api.tls"])
    expectProblem(minimalYAML("api:\n  read: open\n  tls:\n"), key: "api.tls", line: 9, containing: ["'tls' has no value", "cert_file"])
    expectProblem(minimalYAML("api: {tls: on}\n"), key: "api.tls", line: 7, containing: ["expected {cert_file: /etc/tandem/api.crt"])
}

@Test func test_secretFile_refusesFilesGroupOrOthersCanRead() throws {
    let path = NSTemporaryDirectory() + "tandem-secret-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { unlink(path) }
    #expect(SecretFile.problem(path: path, what: "the API's TLS key", key: "api.tls.key_file")
        == "cannot read the API's TLS key \(path): No such file or directory; check api.tls.key_file")
    try "-----BEGIN PRIVATE KEY-----\n".write(toFile: path, atomically: false, encoding: .utf8)
    chmod(path, 0o640)
    #expect(SecretFile.problem(path: path, what: "the API's TLS key", key: "api.tls.key_file")
        == "the API's TLS key \(path) has mode 640, which lets group or others read it; run `chmod 600 \(path)`")
    chmod(path, 0o400)
    #expect(SecretFile.problem(path: path, what: "the API's TLS key", key: "api.tls.key_file") == nil)
    #expect(SecretFile.problem(path: NSTemporaryDirectory(), what: "the API's TLS key", key: "api.tls.key_file")?.hasSuffix("is not a regular file") == true)
}

@Test func test_parse_events_keepTooSmall_isRefused() {
    expectProblem(minimalYAML("events: {keep: 10}\n"), key: "events.keep", line: 7, containing: ["at least 100"])
}

// MARK: - The token file

@Test func test_tokens_parse_namesRolesAndComments() throws {
    let tokens = try TokenFile.parse(
        "# who role token\nalice admin 0123456789abcdef0123\n\nnagios read  fedcba9876543210fedc # monitoring\nops\toperate\taaaaaaaaaaaaaaaaaaaa\n",
        source: "t")
    #expect(tokens == [
        APIToken(name: "alice", role: .admin, secret: "0123456789abcdef0123"),
        APIToken(name: "nagios", role: .read, secret: "fedcba9876543210fedc"),
        APIToken(name: "ops", role: .operate, secret: "aaaaaaaaaaaaaaaaaaaa"),
    ])
    #expect(APIRole.read < .operate && APIRole.operate < .admin)
}

@Test(arguments: [
    ("alice admin\n", "t:1: expected NAME ROLE TOKEN (three fields), found 2"),
    ("alice root 0123456789abcdef0123\n", "t:1: unknown role \"root\"; use read, operate or admin"),
    ("alice admin short\n", "t:1: the token of alice has 5 characters; use at least 16"),
    ("a admin 0123456789abcdef0123\na read fedcba9876543210fedc\n", "t:2: the name a is already used on line 1"),
    ("a admin 0123456789abcdef0123\nb read 0123456789abcdef0123\n", "t:2: the token of b is the same as on line 1"),
])
func test_tokens_parse_refusesWithLine(text: String, message: String) {
    #expect(throws: TokenFile.LoadError.self) { try TokenFile.parse(text, source: "t") }
    do {
        _ = try TokenFile.parse(text, source: "t")
    } catch {
        #expect(error.message.hasPrefix(message), "\(error.message)")
    }
}

@Test func test_tokens_load_refusesGroupReadableAndEmptyFiles() throws {
    let path = NSTemporaryDirectory() + "tandem-tokens-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { unlink(path) }
    try "alice admin 0123456789abcdef0123\n".write(toFile: path, atomically: false, encoding: .utf8)
    chmod(path, 0o644)
    #expect(throws: TokenFile.LoadError(message: "the token file \(path) has mode 644, which lets group or others read it; run `chmod 600 \(path)`")) {
        try TokenFile.load(path: path)
    }
    chmod(path, 0o600)
    #expect(try TokenFile.load(path: path).map(\.name) == ["alice"])
    try "# nobody\n".write(toFile: path, atomically: false, encoding: .utf8)
    chmod(path, 0o600)
    #expect(throws: TokenFile.LoadError.self) { try TokenFile.load(path: path) }
    #expect(throws: TokenFile.LoadError.self) { try TokenFile.load(path: path + ".missing") }
}
