#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading a whole UTF-8 text file with POSIX calls, so that a failure can name the errno.
enum TextFile {
    /// Why a file could not be read; `message` names the path and the reason.
    struct ReadError: Error {
        var message: String
    }

    /// The file's contents. Throws when it cannot be opened or read (the message carries
    /// the errno text) or is not valid UTF-8.
    static func read(path: String) throws(ReadError) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(path, "cannot open", errno) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure(path, "cannot read", errno)
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ReadError(message: "cannot read \(path): the file is not valid UTF-8 text; save it as UTF-8")
        }
        return text
    }

    /// The C library's `read(2)` (the name `read` is taken by this type's own method).
    private static func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.read(descriptor, buffer, count)
        #elseif canImport(Musl)
        Musl.read(descriptor, buffer, count)
        #else
        Darwin.read(descriptor, buffer, count)
        #endif
    }

    private static func failure(_ path: String, _ what: String, _ code: Int32) -> ReadError {
        let reason = String(cString: strerror(code))
        return ReadError(message: "\(what) \(path): \(reason) (errno \(code)); check the path and that this user may read it")
    }
}
