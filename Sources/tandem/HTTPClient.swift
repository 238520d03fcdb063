import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal blocking HTTP/1.1 client for the CLI, which talks to one local agent at a
/// time (`Connection: close`, Content-Length or chunked answers), in plain HTTP or, given a
/// `ClientTLS`, over TLS (see TLSClient.swift). Timeouts on connect, send and receive.
enum HTTPClient {
    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// A connection could not be made (the next endpoint may be tried).
    struct ConnectError: Error, CustomStringConvertible {
        var description: String
    }

    /// TLS with the agent failed (its certificate is not trusted, it does not speak TLS, …):
    /// the message says what to do; asking another node of the same cluster would not help.
    struct TLSFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// Sending or receiving failed; `reason` is the system's word for it (or a timeout).
    struct IOFailure: Error {
        var reason: String
    }

    /// A connected socket with send and receive timeouts.
    static func connect(host: String, port: Int, timeout: Duration) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let info = result else {
            throw ConnectError(description: "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ConnectError(description: "socket: \(String(cString: strerror(errno)))") }
        let (seconds, attoseconds) = timeout.components
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ConnectError(description: "cannot connect to \(host):\(port): \(reason)")
        }
        return fd
    }

    /// A connection to `host:port`: the socket itself, or TLS over it when `tls` is given.
    static func open(host: String, port: Int, timeout: Duration, tls: ClientTLS?) throws -> any Connection {
        let fd = try connect(host: host, port: port, timeout: timeout)
        guard let tls else { return SocketConnection(fd: fd) }
        return try TLSConnection(fd: fd, host: host, port: port, tls: tls, timeout: timeout)
    }

    static func send(
        _ connection: any Connection, method: String, host: String, port: Int, path: String, headers: [String: String], body: [UInt8]
    ) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        do {
            try connection.write(Array(head.utf8) + body)
        } catch let error as IOFailure {
            throw CLIError("cannot send to \(host):\(port): \(error.reason)")
        }
    }

    static func request(
        _ method: String, host: String, port: Int, path: String, headers: [String: String] = [:],
        body: [UInt8] = [], timeout: Duration = .seconds(5), tls: ClientTLS? = nil
    ) throws -> Answer {
        let connection = try open(host: host, port: port, timeout: timeout, tls: tls)
        defer { connection.close() }
        try send(connection, method: method, host: host, port: port, path: path, headers: headers, body: body)
        var data: [UInt8] = []
        while true {
            let bytes: [UInt8]
            do {
                bytes = try connection.read()
            } catch let error as IOFailure {
                throw CLIError("no answer from \(host):\(port): \(error.reason)")
            }
            if bytes.isEmpty { break }
            data += bytes
        }
        if tls == nil { try checkNotTLS(data, from: "\(host):\(port)") }
        return try parse(data, from: "\(host):\(port)")
    }

    /// A TLS server drops a plain HTTP request unanswered, at most with an alert record
    /// (0x15 0x03): say so, rather than that the answer was incomplete.
    static func checkNotTLS(_ data: [UInt8], from source: String) throws {
        if data.isEmpty || data.starts(with: [0x15, 0x03]) {
            throw CLIError("\(source) closed the connection without an HTTP answer; if the agent serves HTTPS (api.tls is set), use --api https://\(source)")
        }
    }

    /// A streaming GET of server-sent events: calls `handle` with each message until it
    /// returns false or the server ends the stream. An answer other than 200 is read whole
    /// and thrown as `failure(answer)`. The receive timeout (40 s) is longer than the
    /// agent's keep-alive interval (15 s): a silent connection is a dead one.
    static func stream(
        _ method: String, host: String, port: Int, path: String, headers: [String: String], tls: ClientTLS? = nil,
        failure: (Answer) -> any Error, handle: (SSEMessage) throws -> Bool
    ) throws {
        let connection = try open(host: host, port: port, timeout: .seconds(40), tls: tls)
        defer { connection.close() }
        try send(connection, method: method, host: host, port: port, path: path, headers: headers, body: [])
        let source = "\(host):\(port)"
        var buffer: [UInt8] = []
        var head: (status: Int, chunked: Bool)?
        var decoder = ChunkDecoder()
        var events = SSEParser()
        while true {
            let bytes: [UInt8]
            do {
                bytes = try connection.read()
            } catch let error as IOFailure {
                throw CLIError("the stream from \(source) broke: \(error.reason)")
            }
            if bytes.isEmpty {
                if head == nil, tls == nil { try checkNotTLS(buffer, from: source) }
                if head == nil || head?.status != 200 { throw failure(try parse(buffer, from: source)) }
                return
            }
            buffer += bytes
            if head == nil {
                guard let end = buffer.indices.first(where: { buffer[$0...].starts(with: [13, 10, 13, 10]) }) else { continue }
                let parsed = try parse(Array(buffer[..<(end + 4)]), from: source)
                head = (parsed.status, parsed.headers["transfer-encoding"]?.lowercased() == "chunked")
                if parsed.status != 200 { continue }  // read the whole error answer first
                buffer.removeFirst(end + 4)
            }
            guard let head, head.status == 200 else { continue }
            let decoded = head.chunked ? try decoder.feed(buffer, from: source) : buffer
            buffer.removeAll()
            for message in events.feed(decoded) {
                if try !handle(message) { return }
            }
        }
    }

    static func parse(_ data: [UInt8], from source: String) throws -> Answer {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = data.indices.first(where: { data[$0...].starts(with: separator) }) else {
            throw CLIError("\(source) sent no complete HTTP answer")
        }
        let lines = String(decoding: data[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw CLIError("\(source) sent a malformed status line: \(lines[0].debugDescription)")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(data[(end + 4)...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var decoder = ChunkDecoder()
            body = try decoder.feed(body, from: source)
            if decoder.isMidChunk { throw CLIError("\(source) sent a truncated chunk") }
        }
        return Answer(status: status, headers: headers, body: body)
    }
}

/// One connection of the client. `read` returns the next bytes received, empty at the end
/// of the stream; both throw `HTTPClient.IOFailure` when the socket fails or times out
/// (and `HTTPClient.TLSFailure` when TLS does).
protocol Connection: AnyObject {
    func write(_ bytes: [UInt8]) throws
    func read() throws -> [UInt8]
    func close()
}

/// Plain HTTP: the socket itself (blocking, with the timeouts `HTTPClient.connect` set).
final class SocketConnection: Connection {
    private var fd: Int32
    private var chunk = [UInt8](repeating: 0, count: 16384)

    init(fd: Int32) { self.fd = fd }
    deinit { close() }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw HTTPClient.IOFailure(reason: String(cString: strerror(errno))) }
            offset += n
        }
    }

    func read() throws -> [UInt8] {
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw HTTPClient.IOFailure(reason: String(cString: strerror(errno))) }
            return Array(chunk[0..<n])
        }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

/// Decodes a chunked body, whole or as it arrives; after the last (empty) chunk the rest
/// (trailers) is ignored.
struct ChunkDecoder {
    private var pending: [UInt8] = []
    /// Bytes left in the current chunk (then its CRLF), or nil while a size line is awaited.
    private var left: Int?
    /// The last chunk was read.
    private(set) var finished = false

    /// Part of a chunk is still missing (a body that ends here was cut short).
    var isMidChunk: Bool { (left ?? 0) > 0 }

    mutating func feed(_ bytes: [UInt8], from source: String) throws -> [UInt8] {
        guard !finished else { return [] }
        pending += bytes
        var out: [UInt8] = []
        var i = 0
        while i < pending.count {
            if let remaining = left {
                if remaining > 0 {
                    let take = min(remaining, pending.count - i)
                    out += pending[i..<(i + take)]
                    i += take
                    left = remaining - take
                    if left! > 0 { break }  // the rest of the chunk is still to come
                }
                // The chunk's data is complete (left is 0): its CRLF follows.
                guard i + 2 <= pending.count else { break }
                i += 2
                left = nil
            } else {
                guard let lineEnd = pending[i...].firstIndex(of: 10) else { break }
                let line = String(decoding: pending[i..<lineEnd], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard let size = Int(line.split(separator: ";").first ?? "", radix: 16) else {
                    throw CLIError("\(source) sent a malformed chunk size \(line.debugDescription)")
                }
                i = lineEnd + 1
                if size == 0 {
                    finished = true
                    pending.removeAll()
                    return out
                }
                left = size
            }
        }
        pending.removeFirst(i)
        return out
    }
}

/// Splits a text/event-stream into messages (blank-line separated `id:`, `event:`,
/// `data:` fields; comment lines starting with ':' are ignored).
struct SSEParser {
    private var pending: [UInt8] = []

    mutating func feed(_ bytes: [UInt8]) -> [SSEMessage] {
        pending += bytes
        var messages: [SSEMessage] = []
        while let end = pending.indices.first(where: { pending[$0...].starts(with: [10, 10]) }) {
            let block = String(decoding: pending[..<end], as: UTF8.self)
            pending.removeFirst(end + 2)
            var message = SSEMessage(id: nil, event: "message", data: "")
            var data: [String] = []
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix(":") { continue }
                let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                let field = String(parts[0])
                var value = parts.count > 1 ? String(parts[1]) : ""
                if value.hasPrefix(" ") { value.removeFirst() }
                switch field {
                case "id": message.id = value
                case "event": message.event = value
                case "data": data.append(value)
                default: break
                }
            }
            if data.isEmpty && message.id == nil { continue }
            message.data = data.joined(separator: "\n")
            messages.append(message)
        }
        return messages
    }
}
