import ArgumentParser

/// `tandem`: the one executable (DESIGN §3).
@main
struct Tandem: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem",
        abstract: "A hot-standby manager: one service active on exactly one node, moved within a fraction of a second.",
        subcommands: [
            AgentCommand.self, StatusCommand.self, SwitchoverCommand.self, FailbackCommand.self, MaintenanceCommand.self,
            FreezeCommand.self, EventsCommand.self, KVCommand.self, LabCommand.self, ConfigCommand.self, KeygenCommand.self,
            DrillCommand.self, VersionCommand.self, GuardCommand.self, ProbeCommand.self, EchoCommand.self,
        ])
}
