import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import TandemHTTP

#if canImport(Glibc)
import Glibc
#endif

/// What the CLI trusts when it talks to an agent over HTTPS: the certificates of `--ca-file`
/// (or TANDEM_CA_FILE) only, else the system's trust store. Made once per command; every
/// connection of the command shares its context.
struct ClientTLS: Sendable {
    let context: NIOSSLContext
    /// The file of trusted certificates, nil for the system's trust store.
    let caFile: String?

    init(caFile: String?) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMBytes(try APITLS.contents(caFile, "the CA file", "--ca-file or TANDEM_CA_FILE"))
            } catch let error as APITLS.LoadError {
                throw CLIError(error.message)
            } catch {
                throw CLIError("the CA file \(caFile) holds no PEM certificate; give the CA that signed the agent's certificate, or that certificate itself, in PEM (-----BEGIN CERTIFICATE-----)")
            }
            configuration.trustRoots = .certificates(certificates)
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw CLIError("cannot set up TLS\(caFile.map { " with the CA file \($0)" } ?? " with the system's trust store"): \(error)")
        }
        self.caFile = caFile
    }
}

/// HTTPS: NIOSSL's client handler on a NIO channel made from the connected socket (so
/// connecting and its errors stay those of plain HTTP); what arrives is handed to the
/// calling thread, which waits for it as it would on the socket, with the same timeout.
final class TLSConnection: Connection {
    private let channel: any Channel
    private let inbox = Inbox()
    private let timeout: Duration
    private let host: String
    private let port: Int
    private let caFile: String?

    init(fd: Int32, host: String, port: Int, tls: ClientTLS, timeout: Duration) throws {
        self.timeout = timeout
        self.host = host
        self.port = port
        self.caFile = tls.caFile
        // An address is checked against the certificate's IP names (and not sent as SNI).
        let serverHostname: String? = Self.isIPAddress(host) ? nil : host
        let context = tls.context
        let inbox = self.inbox
        do {
            // The channel owns the socket from here on and closes it.
            channel = try ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverHostname))
                        try channel.pipeline.syncOperations.addHandler(InboxHandler(inbox: inbox))
                    }
                }
                .withConnectedSocket(fd)
                .wait()
        } catch {
            throw HTTPClient.TLSFailure(description: "cannot start TLS with \(host):\(port): \(error)")
        }
    }

    deinit { close() }

    /// Sent once the handshake is done; a failure comes back from `read`.
    func write(_ bytes: [UInt8]) throws {
        channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
    }

    func read() throws -> [UInt8] {
        switch inbox.take(within: timeout) {
        case .bytes(let bytes): return bytes
        case .end: return []
        case .timedOut: throw HTTPClient.IOFailure(reason: "nothing received for \(timeout)")
        case .failed(let error): throw explain(error)
        }
    }

    func close() {
        channel.close(promise: nil)
    }

    /// A TLS error in words, with what to do about it.
    private func explain(_ error: any Error) -> HTTPClient.TLSFailure {
        let source = "\(host):\(port)"
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            let trusted = caFile.map { "the CA file \($0)" } ?? "the system's trust store"
            return HTTPClient.TLSFailure(description: """
                the certificate of the agent at \(source) cannot be verified with \(trusted): it is signed by another CA, \
                or it has expired or is not valid yet.
                Pass --ca-file FILE (or set TANDEM_CA_FILE) with the CA that signed the agent's certificate \
                (api.tls.cert_file on the agent), or with that certificate itself when it is self-signed.
                """)
        }
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return HTTPClient.TLSFailure(description: """
                the certificate of the agent at \(source) is not made out for \(host): none of its names (subjectAltName) is \(host).
                Ask for the agent by a name or address its certificate names, or give it a certificate that names \(host).
                """)
        }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("PACKET_LENGTH_TOO_LONG") || text.contains("HTTP_REQUEST") {
            return HTTPClient.TLSFailure(description: """
                \(source) does not answer in TLS; if the agent's api.tls is not set it serves plain HTTP: use --api http://\(source)
                """)
        }
        return HTTPClient.TLSFailure(description: "TLS with \(source) failed: \(text)")
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

/// What the channel received, waiting for the client's thread: bytes, then the end of the
/// stream or an error. `take` blocks until one of them is there or the timeout passes.
final class Inbox: @unchecked Sendable {
    enum Item {
        case bytes([UInt8])
        case end
        case failed(any Error)
        case timedOut
    }

    /// True while something is there to take (bytes, the end, an error).
    private let ready = ConditionLock(value: false)
    private var bytes: [UInt8] = []
    private var ended = false
    private var error: (any Error)?

    func put(_ received: [UInt8]) {
        ready.lock()
        bytes += received
        ready.unlock(withValue: true)
    }

    func fail(_ failure: any Error) {
        ready.lock()
        if error == nil { error = failure }
        ready.unlock(withValue: true)
    }

    func end() {
        ready.lock()
        ended = true
        ready.unlock(withValue: true)
    }

    func take(within timeout: Duration) -> Item {
        let (seconds, attoseconds) = timeout.components
        guard ready.lock(whenValue: true, timeoutSeconds: Double(seconds) + Double(attoseconds) / 1e18) else { return .timedOut }
        let item: Item
        if !bytes.isEmpty {
            item = .bytes(bytes)
            bytes = []
        } else if let error {
            item = .failed(error)
        } else {
            item = .end
        }
        // The end and an error stay to be taken again; bytes are taken once.
        ready.unlock(withValue: ended || error != nil)
        return item
    }
}

/// The last handler of a TLS connection's pipeline: hands the plaintext, the end and
/// errors to the `Inbox`.
final class InboxHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let inbox: Inbox

    init(inbox: Inbox) { self.inbox = inbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        inbox.put(buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A peer that closes without TLS's close_notify ends the answer like a plain close:
        // the HTTP framing (length, chunks) tells whether the answer is whole.
        if case NIOSSLError.uncleanShutdown = error { return }
        inbox.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.end()
    }
}
