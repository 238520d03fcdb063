import Logging
import TandemConfig
import TandemCore

/// Runs an `exec` notifier for one event in the background and returns at once; the task's
/// value is the command's result (callers may ignore it: failures are logged).
///
/// The command sees the agent's environment plus TANDEM_EVENT (the kind of event, e.g.
/// "role-change"), TANDEM_MESSAGE (the sentence a person reads), TANDEM_NODE (this node) and,
/// when the event concerns a group, the rest of `context.environment` (TANDEM_GROUP,
/// TANDEM_ROLE, TANDEM_EPOCH, TANDEM_REASON). Each call runs its own command: two events in
/// quick succession may have their commands run concurrently.
@discardableResult
public func notify(
    _ notifier: NotifierSpec, event: String, message: String, node: NodeID, context: ResourceContext? = nil,
    logger: Logger
) -> Task<CommandResult, Never> {
    switch notifier {
    case .exec(let command, let timeout):
        var environment = context?.environment ?? [:]
        environment["TANDEM_NODE"] = node.name
        environment["TANDEM_EVENT"] = event
        environment["TANDEM_MESSAGE"] = message
        return Task.detached {
            let result = await runShell(command, environment: environment, timeout: timeout)
            if !result.succeeded {
                logger.warning("notifier failed: \(result)", metadata: ["event": "\(event)"])
            }
            return result
        }
    case .webhook, .syslog:
        // Not commands: `Notifiers` delivers them.
        return Task { CommandResult(command: "\(notifier)", outcome: .launchFailed("not an exec notifier"), output: "") }
    }
}

/// Runs the fence hook against unreachable `target`, the owner of `group` at `epoch`, for the
/// controller (rule 4(f), docs/PROTOCOL.md). `ok` only when the command exits 0 within the
/// spec's timeout: the hook promises that `target` is then powered off or cut off from
/// everything its groups use. Anything else (non-zero exit, timeout, cannot start) is a
/// failure; `detail` says which, with the command's last output.
///
/// The command sees TANDEM_TARGET (the node to fence), TANDEM_GROUP and TANDEM_EPOCH (the
/// group and epoch the target owns), TANDEM_NODE (this node), TANDEM_ROLE=fencing and
/// TANDEM_REASON (why the target is deemed failed).
public func runFence(
    _ spec: FenceSpec, target: NodeID, group: GroupID, epoch: Epoch, node: NodeID, reason: String, logger: Logger
) async -> (ok: Bool, detail: String) {
    let context = ResourceContext(group: group, role: "fencing", epoch: epoch, node: node, reason: reason)
    var environment = context.environment
    environment["TANDEM_TARGET"] = target.name
    let result = await runShell(spec.command, environment: environment, timeout: spec.timeout)
    if result.succeeded {
        logger.notice("fence confirmed \(target.name) is off", metadata: ["group": "\(group.name)"])
        return (true, result.description)
    }
    logger.error("fence of \(target.name) not confirmed: \(result)", metadata: ["group": "\(group.name)"])
    return (false, result.description)
}
