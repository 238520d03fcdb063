import Glibc
import NIOCore
import NIOPosix

// TCP and HTTP checks on NIO's shared event loop group, so no thread blocks on a connect.

/// nil when a TCP connection to host:port is established within `timeout`; else why not.
func tcpConnect(host: String, port: Int, timeout: Duration) async -> String? {
    let outcome = await withTimeout(timeout) { () -> String? in
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(timeout.milliseconds))
                .connect(host: host, port: port).get()
            try? await channel.close()
            return nil
        } catch {
            return describeConnectError(error)
        }
    }
    return outcome ?? "no connection within \(timeout.shortDescription)"
}

/// "connection refused", "cannot resolve host: …", "connect timed out".
func describeConnectError(_ error: any Error) -> String {
    if let error = error as? IOError {
        return errnoText(error.errnoCode).lowercased()
    }
    if let error = error as? NIOConnectionError {
        if let first = error.connectionErrors.first { return describeConnectError(first.error) }
        if let dns = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve \(error.host): \(dns)" }
        return "no address for \(error.host)"
    }
    if let error = error as? ChannelError, case .connectTimeout = error {
        return "connect timed out"
    }
    return "\(error)"
}

/// nil when GET `url` answers `status` (and a body containing `body`); else what was wrong.
func httpCheck(url: String, status expected: Int, body expectedBody: String?, timeout: Duration) async -> String? {
    let target: HTTPTarget
    switch HTTPTarget.parse(url) {
    case .success(let parsed): target = parsed
    case .failure(let why): return why.description
    }
    let outcome = await withTimeout(timeout) { () -> Result<HTTPResponse, HTTPCheckError> in
        await fetch(target, connectTimeout: timeout)
    }
    switch outcome {
    case nil:
        return "no complete answer within \(timeout.shortDescription)"
    case .failure(let error):
        return error.description
    case .success(let response):
        if response.status != expected { return "status \(response.status), expected \(expected)" }
        if let expectedBody, !response.body.contains(expectedBody) {
            return "status \(response.status) but the body does not contain \"\(expectedBody)\""
        }
        return nil
    }
}

struct HTTPCheckError: Error, CustomStringConvertible {
    var description: String
}

/// An `http://` URL taken apart.
struct HTTPTarget: Equatable {
    var host: String
    var port: Int
    /// Path and query: "/health?full=1".
    var path: String
    /// The Host header value.
    var authority: String

    static func parse(_ url: String) -> Result<HTTPTarget, HTTPCheckError> {
        let lower = url.lowercased()
        if lower.hasPrefix("https://") {
            return .failure(HTTPCheckError(description: "https is not supported; check a plain http:// address (or use an exec check with curl)"))
        }
        guard lower.hasPrefix("http://") else {
            return .failure(HTTPCheckError(description: "not an http:// URL"))
        }
        let rest = url.dropFirst("http://".count)
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        var authority = String(rest[..<authorityEnd])
        var path = String(rest[authorityEnd...])
        if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
        if let at = authority.lastIndex(of: "@") { authority = String(authority[authority.index(after: at)...]) }
        var host = authority
        var port = 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                return .failure(HTTPCheckError(description: "bad IPv6 address in URL"))
            }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else {
                    return .failure(HTTPCheckError(description: "bad port in URL"))
                }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else {
                return .failure(HTTPCheckError(description: "bad port in URL"))
            }
            port = p
        }
        guard !host.isEmpty else { return .failure(HTTPCheckError(description: "no host in URL")) }
        return .success(HTTPTarget(host: host, port: port, path: path, authority: authority))
    }
}

struct HTTPResponse: Equatable {
    var status: Int
    var body: String
}

/// Largest response read; a longer body is judged on its first part.
private let responseLimit = 1 << 20

private func fetch(_ target: HTTPTarget, connectTimeout: Duration) async -> Result<HTTPResponse, HTTPCheckError> {
    let request = "GET \(target.path) HTTP/1.1\r\nHost: \(target.authority)\r\nUser-Agent: tandem-check\r\n"
        + "Accept: */*\r\nConnection: close\r\n\r\n"
    do {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(connectTimeout.milliseconds))
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var received: [UInt8] = []
            for try await chunk in inbound {
                received += chunk.readableBytesView
                if received.count >= responseLimit { break }
                if case .complete(let response) = parseHTTPResponse(received, closed: false) { return .success(response) }
            }
            switch parseHTTPResponse(received, closed: true) {
            case .complete(let response): return .success(response)
            case .incomplete: return .failure(HTTPCheckError(description: "connection closed before a complete answer"))
            case .malformed(let why): return .failure(HTTPCheckError(description: "bad answer: \(why)"))
            }
        }
    } catch {
        return .failure(HTTPCheckError(description: describeConnectError(error)))
    }
}

enum HTTPParse: Equatable {
    case incomplete
    case complete(HTTPResponse)
    case malformed(String)
}

/// Parses an HTTP/1.x response: status line, headers, then a body delimited by
/// Content-Length, chunked encoding, or (`closed`) the end of the connection.
func parseHTTPResponse(_ bytes: [UInt8], closed: Bool) -> HTTPParse {
    var start = 0
    while true {
        guard let headerEnd = find([13, 10, 13, 10], in: bytes, from: start) else {
            return closed ? .malformed(bytes.isEmpty ? "empty" : "no end of headers") : .incomplete
        }
        let head = String(decoding: bytes[start..<headerEnd], as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.first.map(String.init) ?? ""
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            return .malformed("status line \"\(statusLine.prefix(60))\"")
        }
        let bodyStart = headerEnd + 4
        if (100..<200).contains(status) {  // 100 Continue and friends: the real answer follows
            start = bodyStart
            continue
        }
        var contentLength: Int?
        var chunked = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingWhitespace()
            if name == "content-length" { contentLength = Int(value) }
            if name == "transfer-encoding", value.lowercased().contains("chunked") { chunked = true }
        }
        let rest = Array(bytes[bodyStart...])
        if status == 204 || status == 304 { return .complete(HTTPResponse(status: status, body: "")) }
        if chunked {
            switch dechunk(rest) {
            case .some(let body): return .complete(HTTPResponse(status: status, body: String(decoding: body, as: UTF8.self)))
            case .none: return closed ? .malformed("chunked body cut short") : .incomplete
            }
        }
        if let contentLength {
            if rest.count >= contentLength {
                return .complete(HTTPResponse(status: status, body: String(decoding: rest.prefix(contentLength), as: UTF8.self)))
            }
            return closed ? .malformed("body cut short") : .incomplete
        }
        return closed ? .complete(HTTPResponse(status: status, body: String(decoding: rest, as: UTF8.self))) : .incomplete
    }
}

/// Decodes a complete chunked body; nil while it is incomplete.
private func dechunk(_ bytes: [UInt8]) -> [UInt8]? {
    var body: [UInt8] = []
    var position = 0
    while true {
        guard let lineEnd = find([13, 10], in: bytes, from: position) else { return nil }
        let sizeText = String(decoding: bytes[position..<lineEnd], as: UTF8.self)
            .split(separator: ";").first.map { $0.trimmingWhitespace() } ?? ""
        guard let size = Int(sizeText, radix: 16) else { return nil }
        let dataStart = lineEnd + 2
        if size == 0 { return body }
        guard bytes.count >= dataStart + size + 2 else { return nil }
        body += bytes[dataStart..<dataStart + size]
        position = dataStart + size + 2
    }
}

private func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
    guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
    for i in start...(haystack.count - needle.count) where haystack[i] == needle[0] {
        if haystack[i..<i + needle.count].elementsEqual(needle) { return i }
    }
    return nil
}
