import TandemWire
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Cluster keys: generation, the key file format, permissions.
@Suite struct KeyTests {
    /// A fresh temporary directory.
    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/tandem-wire-keys-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        return try #require(made)
    }

    static func write(_ text: String, to path: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        #expect(written == bytes.count)
        #expect(fchmod(fd, mode) == 0)
    }

    @Test func test_generatedKey_fileTextRoundTrip_equal() throws {
        let key = ClusterKey.generate()
        let text = key.fileText
        #expect(text.hasPrefix("tandem-key-v1 "))
        #expect(text.hasSuffix("\n"))
        #expect(text.utf8.count == "tandem-key-v1 ".utf8.count + 44 + 1)
        #expect(try ClusterKey(fileText: text) == key)
        #expect(try ClusterKey(fileText: text + "\n  \r\n") == key)
        #expect(ClusterKey.generate() != key)
        #expect(key.id.count == 8)
        #expect(!key.description.contains(String(text.dropFirst(14).prefix(10))))
    }

    @Test func test_knownKey_idAndFileText() throws {
        let key = try ClusterKey(bytes: Array(repeating: 0, count: 32))
        #expect(key.fileText == "tandem-key-v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
        // SHA-256 of 32 zero bytes starts 66687aad.
        #expect(key.id == "66687aad")
        #expect(key.description == "cluster key 66687aad")
    }

    @Test func test_malformedFileText_refusedWithClearMessage() {
        let good = "tandem-key-v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        let cases: [(String, String)] = [
            ("", "empty"),
            ("tandem-key-v2 " + good.dropFirst(14), "unsupported key format"),
            ("hello world", "not a Tandem key"),
            (good + " extra", "not a Tandem key"),
            ("tandem-key-v1  " + good.dropFirst(14), "not a Tandem key"),
            ("tandem-key-v1 AAAA", "is 3 bytes, not 32"),
            ("tandem-key-v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", "is 31 bytes, not 32"),
            ("tandem-key-v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB==", "not valid base64"),
            ("tandem-key-v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=A", "not valid base64"),
            ("tandem-key-v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", "not valid base64"),
            ("tandem-key-v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*=", "not valid base64"),
            ("tandem-key-v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "not valid base64"),
        ]
        for (text, expected) in cases {
            #expect(throws: KeyError.self) { try ClusterKey(fileText: text) }
            do {
                _ = try ClusterKey(fileText: text)
            } catch {
                #expect(error.code == .malformed)
                #expect(error.message.contains(expected), "\(text.debugDescription): \(error.message)")
                #expect(error.message.contains("tandem keygen"))
            }
        }
        #expect(throws: KeyError.self) { try ClusterKey(bytes: [1, 2, 3]) }
    }

    @Test func test_loadKeyFile_modeAllowsGroupOrOthers_refusedNamingPathModeAndFix() throws {
        let directory = try Self.temporaryDirectory()
        let path = directory + "/cluster.key"
        let key = ClusterKey.generate()
        defer {
            unlink(path)
            rmdir(directory)
        }
        for mode: mode_t in [0o644, 0o640, 0o604, 0o660, 0o601] {
            try Self.write(key.fileText, to: path, mode: mode)
            let error = try #require(throws: KeyError.self) { try ClusterKey.load(path: path) }
            #expect(error.code == .permissions)
            #expect(error.message.contains(path))
            #expect(error.message.contains(String(mode, radix: 8)))
            #expect(error.message.contains("chmod 600 \(path)"))
        }
        for mode: mode_t in [0o600, 0o400] {
            try Self.write(key.fileText, to: path, mode: mode)
            #expect(try ClusterKey.load(path: path) == key)
        }
    }

    @Test func test_loadKeyFile_missingOrMalformed_refusedNamingPath() throws {
        let directory = try Self.temporaryDirectory()
        let path = directory + "/cluster.key"
        defer {
            unlink(path)
            rmdir(directory)
        }
        let missing = try #require(throws: KeyError.self) { try ClusterKey.load(path: path) }
        #expect(missing.code == .unreadable)
        #expect(missing.message.contains(path))
        try Self.write("not a key\n", to: path, mode: 0o600)
        let malformed = try #require(throws: KeyError.self) { try ClusterKey.load(path: path) }
        #expect(malformed.code == .malformed)
        #expect(malformed.message.contains(path))
        let notFile = try #require(throws: KeyError.self) { try ClusterKey.load(path: directory) }
        #expect(notFile.message.contains("not a regular file"))
    }
}
