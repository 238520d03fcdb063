import TandemCore

/// Log entries, commands and the values they carry (requests, KV operations, outcomes).

// MARK: - Tags

enum CommandTag: UInt8 {
    case leader = 0, assign, report, action, kv, pendingEnded, configure
}

enum OperatorActionTag: UInt8 {
    case switchover = 0, failback, maintenance, freeze
}

enum KVOperationTag: UInt8 {
    case put = 0, delete
}

enum OutcomeTag: UInt8 {
    case completed = 0, refused
}

enum RequestTag: UInt8 {
    case kv = 0, action, configure, readBarrier, transferLeadership
}

enum ResponseTag: UInt8 {
    case done = 0, written, kvFailed, moved, readable, refused
}

// MARK: - Writing

extension WireWriter {
    mutating func node(_ id: NodeID) { string(id.name) }
    mutating func group(_ id: GroupID) { string(id.name) }

    mutating func entry(_ entry: Entry) {
        varint(entry.term)
        varint(entry.index)
        command(entry.command)
    }

    mutating func command(_ command: Command) {
        switch command {
        case .leader(let node):
            u8(CommandTag.leader.rawValue)
            self.node(node)
        case .assign(let group, let owner, let epoch, let reason):
            u8(CommandTag.assign.rawValue)
            self.group(group)
            node(owner)
            varint(epoch)
            string(reason)
        case .report(let node, let report):
            u8(CommandTag.report.rawValue)
            self.node(node)
            nodeReport(report)
        case .action(let action, let origin):
            u8(CommandTag.action.rawValue)
            operatorAction(action)
            optional(origin) { $0.requestOrigin($1) }
        case .kv(let operation, let fence, let origin):
            u8(CommandTag.kv.rawValue)
            kvOperation(operation)
            optional(fence) { $0.fence($1) }
            optional(origin) { $0.requestOrigin($1) }
        case .pendingEnded(let group, let outcome):
            u8(CommandTag.pendingEnded.rawValue)
            self.group(group)
            self.outcome(outcome)
        case .configure(let config, let source, let origin):
            u8(CommandTag.configure.rawValue)
            self.config(config)
            optional(source) { $0.configSource($1) }
            optional(origin) { $0.requestOrigin($1) }
        }
    }

    mutating func requestOrigin(_ origin: RequestOrigin) {
        node(origin.node)
        varint(origin.incarnation)
        varint(origin.id)
    }

    mutating func fence(_ fence: Fence) {
        group(fence.group)
        varint(fence.epoch)
    }

    mutating func nodeReport(_ report: NodeReport) {
        dictionary(report.health, key: { $0.group($1) }, value: { $0.bool($1) })
        bool(report.upstream)
        string(report.software)
        varint(report.configRevision)
    }

    mutating func configSource(_ source: ConfigSource) {
        string(source.document)
        string(source.author)
        string(source.time)
        optional(source.baseline) { $0.string($1) }
    }

    mutating func operatorAction(_ action: OperatorAction) {
        switch action {
        case .switchover(let group, let to):
            u8(OperatorActionTag.switchover.rawValue)
            self.group(group)
            optional(to) { $0.node($1) }
        case .failback(let group):
            u8(OperatorActionTag.failback.rawValue)
            self.group(group)
        case .maintenance(let node, let on):
            u8(OperatorActionTag.maintenance.rawValue)
            self.node(node)
            bool(on)
        case .freeze(let on):
            u8(OperatorActionTag.freeze.rawValue)
            bool(on)
        }
    }

    mutating func kvOperation(_ operation: KVOperation) {
        switch operation {
        case .put(let key, let value, let ifRevision):
            u8(KVOperationTag.put.rawValue)
            string(key)
            data(value)
            optional(ifRevision) { $0.varint($1) }
        case .delete(let key, let ifRevision):
            u8(KVOperationTag.delete.rawValue)
            string(key)
            optional(ifRevision) { $0.varint($1) }
        }
    }

    mutating func outcome(_ outcome: Outcome) {
        switch outcome {
        case .completed(let owner, let epoch):
            u8(OutcomeTag.completed.rawValue)
            node(owner)
            varint(epoch)
        case .refused(let refusal):
            u8(OutcomeTag.refused.rawValue)
            self.refusal(refusal)
        }
    }

    mutating func refusal(_ refusal: Refusal) {
        string(refusal.code.name)
        string(refusal.message)
    }

    mutating func kvError(_ error: KVError) {
        string(error.code.name)
        string(error.message)
        optional(error.currentRevision) { $0.varint($1) }
    }

    mutating func request(_ request: Request) {
        switch request {
        case .kv(let operation, let fence):
            u8(RequestTag.kv.rawValue)
            kvOperation(operation)
            optional(fence) { $0.fence($1) }
        case .action(let action):
            u8(RequestTag.action.rawValue)
            operatorAction(action)
        case .configure(let config, let source):
            u8(RequestTag.configure.rawValue)
            self.config(config)
            optional(source) { $0.configSource($1) }
        case .readBarrier:
            u8(RequestTag.readBarrier.rawValue)
        case .transferLeadership(let to):
            u8(RequestTag.transferLeadership.rawValue)
            node(to)
        }
    }

    mutating func response(_ response: Response) {
        switch response {
        case .done(let index):
            u8(ResponseTag.done.rawValue)
            varint(index)
        case .written(let revision, let index):
            u8(ResponseTag.written.rawValue)
            varint(revision)
            varint(index)
        case .kvFailed(let error):
            u8(ResponseTag.kvFailed.rawValue)
            kvError(error)
        case .moved(let group, let owner, let epoch, let index):
            u8(ResponseTag.moved.rawValue)
            self.group(group)
            node(owner)
            varint(epoch)
            varint(index)
        case .readable(let index):
            u8(ResponseTag.readable.rawValue)
            varint(index)
        case .refused(let refusal):
            u8(ResponseTag.refused.rawValue)
            self.refusal(refusal)
        }
    }
}

// MARK: - Reading

extension WireReader {
    /// A tag byte mapped to a known case, or an `unknownTag` error naming the type.
    mutating func tag<T: RawRepresentable<UInt8>>(_: T.Type, _ typeName: StaticString) throws(WireError) -> T {
        let raw = try u8()
        guard let tag = T(rawValue: raw) else { throw error(.unknownTag, "unknown \(typeName) tag \(raw)") }
        return tag
    }

    mutating func node() throws(WireError) -> NodeID { NodeID(try string()) }
    mutating func group() throws(WireError) -> GroupID { GroupID(try string()) }

    mutating func entry() throws -> Entry {
        let term = try field("term") { try $0.counter() }
        let index = try field("index") { try $0.counter() }
        let command = try field("command") { try $0.command() }
        return Entry(term: term, index: index, command: command)
    }

    mutating func command() throws -> Command {
        switch try tag(CommandTag.self, "Command") {
        case .leader:
            return .leader(try field("leader") { try $0.node() })
        case .assign:
            return try field("assign") { r in
                let group = try r.field("group") { try $0.group() }
                let owner = try r.field("owner") { try $0.node() }
                let epoch = try r.field("epoch") { try $0.counter() }
                let reason = try r.field("reason") { try $0.string() }
                return .assign(group: group, owner: owner, epoch: epoch, reason: reason)
            }
        case .report:
            return try field("report") { r in
                let node = try r.field("node") { try $0.node() }
                let report = try r.nodeReport()
                return .report(node: node, report)
            }
        case .action:
            return try field("action") { r in
                let action = try r.operatorAction()
                let origin = try r.field("origin") { try $0.optional { try $0.requestOrigin() } }
                return .action(action, origin: origin)
            }
        case .kv:
            return try field("kv") { r in
                let operation = try r.kvOperation()
                let fence = try r.field("fence") { try $0.optional { try $0.fence() } }
                let origin = try r.field("origin") { try $0.optional { try $0.requestOrigin() } }
                return .kv(operation, fence: fence, origin: origin)
            }
        case .pendingEnded:
            return try field("pendingEnded") { r in
                let group = try r.field("group") { try $0.group() }
                let outcome = try r.field("outcome") { try $0.outcome() }
                return .pendingEnded(group: group, outcome: outcome)
            }
        case .configure:
            return try field("configure") { r in
                let config = try r.field("config") { try $0.config() }
                let source = try r.field("source") { try $0.optional { try $0.configSource() } }
                let origin = try r.field("origin") { try $0.optional { try $0.requestOrigin() } }
                return .configure(config, source: source, origin: origin)
            }
        }
    }

    mutating func requestOrigin() throws -> RequestOrigin {
        let node = try field("node") { try $0.node() }
        let incarnation = try field("incarnation") { try $0.varint() }
        let id = try field("id") { try $0.varint() }
        return RequestOrigin(node: node, incarnation: incarnation, id: id)
    }

    mutating func fence() throws -> Fence {
        let group = try field("group") { try $0.group() }
        let epoch = try field("epoch") { try $0.varint() }
        return Fence(group: group, epoch: epoch)
    }

    mutating func nodeReport() throws -> NodeReport {
        let health = try field("health") { try $0.dictionary(key: { try $0.group() }, value: { try $0.bool() }) }
        let upstream = try field("upstream") { try $0.bool() }
        let software = try field("software") { try $0.string() }
        let configRevision = try field("configRevision") { try $0.counter() }
        return NodeReport(health: health, upstream: upstream, software: software, configRevision: configRevision)
    }

    mutating func configSource() throws -> ConfigSource {
        let document = try field("document") { try $0.string() }
        let author = try field("author") { try $0.string() }
        let time = try field("time") { try $0.string() }
        let baseline = try field("baseline") { try $0.optional { try $0.string() } }
        return ConfigSource(document: document, author: author, time: time, baseline: baseline)
    }

    mutating func operatorAction() throws -> OperatorAction {
        switch try tag(OperatorActionTag.self, "OperatorAction") {
        case .switchover:
            return try field("switchover") { r in
                let group = try r.field("group") { try $0.group() }
                let to = try r.field("to") { try $0.optional { try $0.node() } }
                return .switchover(group, to: to)
            }
        case .failback:
            return .failback(try field("failback") { try $0.group() })
        case .maintenance:
            return try field("maintenance") { r in
                let node = try r.field("node") { try $0.node() }
                let on = try r.field("on") { try $0.bool() }
                return .maintenance(node, on: on)
            }
        case .freeze:
            return .freeze(on: try field("freeze") { try $0.bool() })
        }
    }

    mutating func kvOperation() throws -> KVOperation {
        switch try tag(KVOperationTag.self, "KVOperation") {
        case .put:
            return try field("put") { r in
                let key = try r.field("key") { try $0.string() }
                let value = try r.field("value") { try $0.data() }
                let ifRevision = try r.field("ifRevision") { try $0.optional { try $0.varint() } }
                return .put(key: key, value: value, ifRevision: ifRevision)
            }
        case .delete:
            return try field("delete") { r in
                let key = try r.field("key") { try $0.string() }
                let ifRevision = try r.field("ifRevision") { try $0.optional { try $0.varint() } }
                return .delete(key: key, ifRevision: ifRevision)
            }
        }
    }

    mutating func outcome() throws -> Outcome {
        switch try tag(OutcomeTag.self, "Outcome") {
        case .completed:
            return try field("completed") { r in
                let owner = try r.field("owner") { try $0.node() }
                let epoch = try r.field("epoch") { try $0.counter() }
                return .completed(owner: owner, epoch: epoch)
            }
        case .refused:
            return .refused(try field("refused") { try $0.refusal() })
        }
    }

    mutating func refusal() throws -> Refusal {
        let code = try field("code") { try $0.string() }
        let message = try field("message") { try $0.string() }
        return Refusal(Refusal.Code(code), message)
    }

    mutating func kvError() throws -> KVError {
        let code = try field("code") { try $0.string() }
        let message = try field("message") { try $0.string() }
        let current = try field("currentRevision") { try $0.optional { try $0.varint() } }
        return KVError(code: KVError.Code(code), message: message, currentRevision: current)
    }

    mutating func request() throws -> Request {
        switch try tag(RequestTag.self, "Request") {
        case .kv:
            return try field("kv") { r in
                let operation = try r.kvOperation()
                let fence = try r.field("fence") { try $0.optional { try $0.fence() } }
                return .kv(operation, fence: fence)
            }
        case .action:
            return .action(try field("action") { try $0.operatorAction() })
        case .configure:
            return try field("configure") { r in
                let config = try r.field("config") { try $0.config() }
                let source = try r.field("source") { try $0.optional { try $0.configSource() } }
                return .configure(config, source: source)
            }
        case .readBarrier:
            return .readBarrier
        case .transferLeadership:
            return .transferLeadership(to: try field("transferLeadership") { try $0.node() })
        }
    }

    mutating func response() throws -> Response {
        switch try tag(ResponseTag.self, "Response") {
        case .done:
            return .done(index: try field("done") { try $0.counter() })
        case .written:
            return try field("written") { r in
                let revision = try r.field("revision") { try $0.counter() }
                let index = try r.field("index") { try $0.counter() }
                return .written(revision: revision, index: index)
            }
        case .kvFailed:
            return .kvFailed(try field("kvFailed") { try $0.kvError() })
        case .moved:
            return try field("moved") { r in
                let group = try r.field("group") { try $0.group() }
                let owner = try r.field("owner") { try $0.node() }
                let epoch = try r.field("epoch") { try $0.counter() }
                let index = try r.field("index") { try $0.counter() }
                return .moved(group: group, owner: owner, epoch: epoch, index: index)
            }
        case .readable:
            return .readable(index: try field("readable") { try $0.counter() })
        case .refused:
            return .refused(try field("refused") { try $0.refusal() })
        }
    }
}
