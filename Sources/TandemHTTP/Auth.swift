import Hummingbird
import TandemConfig

/// Who may call what (issue 5): bearer tokens from `api.token_file`, each with a role.
/// Mutating endpoints need `operate` (actions, KV writes) or `admin` (configuration);
/// reads need `read` when `api.read` is `token`, else nothing. Without a token file every
/// endpoint is open (the agent warns at start).
public struct APIAccess: Sendable {
    let tokens: [APIToken]
    let reads: APISettings.Reads

    public init(tokens: [APIToken], reads: APISettings.Reads) {
        self.tokens = tokens
        self.reads = reads
    }

    /// Every endpoint open: no token file.
    public static let open = APIAccess(tokens: [], reads: .open)

    public var isOpen: Bool { tokens.isEmpty }

    /// The name of the caller allowed to do `what`, which needs `role`; throws 401 without a
    /// valid token and 403 when the token's role is too low.
    func check(_ request: Request, needs role: APIRole, to what: String) throws -> String {
        if tokens.isEmpty { return "anonymous" }
        let header = request.headers[.authorization]
        if role == .read, reads == .open, header == nil { return "anonymous" }
        guard let header else {
            throw APIError(.unauthorized, code: "unauthorized", "\(what) needs a token with role \(role.rawValue) or higher: send Authorization: Bearer TOKEN")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw APIError(.unauthorized, code: "unauthorized", "the Authorization header must be 'Bearer TOKEN'")
        }
        let presented = Array(parts[1].utf8)
        // Every token is compared in full, so the time taken does not tell how close a guess was.
        var match: APIToken?
        for token in tokens where constantTimeEqual(Array(token.secret.utf8), presented) { match = token }
        guard let match else {
            throw APIError(.unauthorized, code: "unauthorized", "the token is not one of api.token_file's")
        }
        guard match.role >= role else {
            throw APIError(.forbidden, code: "forbidden", "the token of \(match.name) has role \(match.role.rawValue); \(what) needs \(role.rawValue)")
        }
        return match.name
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for i in 0..<max(a.count, b.count) {
        difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
    }
    return difference == 0
}
