import Foundation
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import TandemConfig

#if canImport(Glibc)
import Glibc
#endif

/// HTTPS for the API (`api.tls`). The certificate and key are read and checked when the
/// agent starts: a file that cannot be read, is not PEM, or a key that does not belong to
/// the certificate stops the agent with a message naming the file, rather than an API that
/// fails at its first connection or, worse, one that answers in plain HTTP.
public struct APITLS: Sendable {
    /// Why the certificate or key cannot be used; `message` names the file and the setting.
    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// The server's TLS settings: the certificate chain and key, TLS 1.2 or newer.
    public let configuration: TLSConfiguration
    /// The served certificate's subject and expiry, for the agent's log.
    public let summary: String
    /// What an operator should know but that does not stop the agent (an expired certificate).
    public let warnings: [String]
    /// Hummingbird's HTTP/1.1 server behind TLS.
    let server: HTTPServerBuilder

    /// Reads `settings.certFile` (the server's certificate, then any intermediates) and
    /// `settings.keyFile` (its private key, mode 0600 or 0400) and checks that they belong together.
    public init(_ settings: APITLSSettings) throws(LoadError) {
        let certFile = settings.certFile
        let keyFile = settings.keyFile
        if let problem = SecretFile.problem(path: keyFile, what: "the API's TLS key file", key: "api.tls.key_file") {
            throw LoadError(message: problem)
        }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(try Self.contents(certFile, "the API's TLS certificate file", "api.tls.cert_file"))
        } catch let error as LoadError {
            throw error
        } catch {
            throw LoadError(message: "the API's TLS certificate file \(certFile) holds no PEM certificate; it must begin with -----BEGIN CERTIFICATE----- (check api.tls.cert_file)")
        }
        guard let leaf = certificates.first else {
            throw LoadError(message: "the API's TLS certificate file \(certFile) holds no certificate; check api.tls.cert_file")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: try Self.contents(keyFile, "the API's TLS key file", "api.tls.key_file"), format: .pem)
        } catch let error as LoadError {
            throw error
        } catch {
            throw LoadError(message: "the API's TLS key file \(keyFile) holds no PEM private key; it must hold the certificate's key, unencrypted, beginning with -----BEGIN PRIVATE KEY----- or similar (check api.tls.key_file)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        do {
            // BoringSSL compares the key with the certificate's public key as it takes them.
            _ = try NIOSSLContext(configuration: configuration)
        } catch NIOSSLError.failedToLoadPrivateKey {
            throw LoadError(message: "the API's TLS key file \(keyFile) does not hold the private key of the certificate in \(certFile); give the key the certificate was made for (check api.tls.key_file and api.tls.cert_file)")
        } catch {
            throw LoadError(message: "the API's TLS certificate \(certFile) and key \(keyFile) cannot be used together: \(error)")
        }
        do {
            server = try .tls(.http1(), tlsConfiguration: configuration)
        } catch {
            throw LoadError(message: "cannot set up TLS for the API: \(error)")
        }
        self.configuration = configuration
        let expiry = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
        summary = "\(certFile) (\(leaf.description)), valid until \(expiry)"
        let now = Date()
        var warnings: [String] = []
        if expiry < now {
            warnings.append("the API's TLS certificate \(certFile) expired on \(expiry): clients will refuse it; renew it and restart the agent")
        } else if Date(timeIntervalSince1970: TimeInterval(leaf.notValidBefore)) > now {
            warnings.append("the API's TLS certificate \(certFile) is not valid before \(Date(timeIntervalSince1970: TimeInterval(leaf.notValidBefore))): clients will refuse it until then (is the clock right?)")
        }
        self.warnings = warnings
    }

    /// A whole file's bytes; the error names the file (`what`, `path`), the reason (errno) and
    /// the setting that names it (`key`). Also the CLI's reader of its CA file.
    public static func contents(_ path: String, _ what: String, _ key: String) throws(LoadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw LoadError(message: "cannot read \(what) \(path): \(String(cString: strerror(errno))); check \(key)")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else {
                throw LoadError(message: "cannot read \(what) \(path): \(String(cString: strerror(errno))); check \(key)")
            }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
        }
    }
}
