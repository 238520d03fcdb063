import Testing
import TandemCore
@testable import TandemConfig

// MARK: - Fixtures

/// A valid file of six lines (two nodes and a witness, no groups); `extra` starts at line 7.
func minimalYAML(_ extra: String = "") -> String {
    """
    cluster: lab
    key_file: /etc/tandem/cluster.key
    nodes:
      a: {links: ["10.0.0.1:7400"], api: "10.0.0.1:7480", priority: 100}
      b: {links: ["10.0.0.2:7400"], api: "10.0.0.2:7480", priority: 50}
      w: {links: ["10.0.0.3:7400"], witness: true}

    """ + extra
}

/// `minimalYAML` plus a group `g` (line 8) whose body (`groupBody`, indented by four spaces)
/// starts at line 9.
func groupYAML(_ groupBody: String) -> String {
    minimalYAML("groups:\n  g:\n" + groupBody.split(separator: "\n", omittingEmptySubsequences: false)
        .map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n"))
}

/// The file `yaml` parses to, or the problems it was refused with.
func parse(_ yaml: String, source: String = "test.yaml") -> Result<TandemFile, ConfigFileError> {
    Result { () throws(ConfigFileError) in try ConfigFile.parse(yaml: yaml, source: source) }
}

/// The problems of `yaml`, or none when it parses.
func problems(_ yaml: String) -> [ConfigFileError.Problem] {
    switch parse(yaml) {
    case .success: []
    case .failure(let error): error.problems
    }
}

/// The problem at `key`, when there is exactly one; records an issue otherwise.
func problem(_ yaml: String, key: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigFileError.Problem? {
    let found = problems(yaml)
    let matching = found.filter { $0.key == key }
    #expect(matching.count == 1, "expected one problem at \(key), got:\n\(found.map(\.description).joined(separator: "\n"))",
            sourceLocation: sourceLocation)
    return matching.first
}

/// Expects exactly one problem at `key`, on `line`, whose message contains every text in `containing`.
func expectProblem(
    _ yaml: String, key: String, line: Int?, containing: [String] = [],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let found = problem(yaml, key: key, sourceLocation: sourceLocation) else { return }
    #expect(found.line == line, "line of \(found)", sourceLocation: sourceLocation)
    for text in containing {
        #expect(found.message.contains(text), "'\(text)' not in: \(found.message)", sourceLocation: sourceLocation)
    }
}

/// Expects `yaml` to parse and returns the file.
func parsed(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> TandemFile? {
    switch parse(yaml) {
    case .success(let file):
        return file
    case .failure(let error):
        Issue.record("unexpected problems:\n\(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// The package root, found from this file's path (Tests/TandemConfigTests/Support.swift).
func packageRoot() -> String {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}
