// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Tandem",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "TandemCore", targets: ["TandemCore"]),
        .library(name: "TandemTestKit", targets: ["TandemTestKit"]),
        .executable(name: "tandem-sim", targets: ["tandem-sim"]),
        .executable(name: "tandem", targets: ["tandem"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // The pure core: the standard library only. No I/O, no clock, no unseeded randomness.
        .target(name: "TandemCore", swiftSettings: swiftSettings),
        // Manual clocks, the simulated network and the invariant checkers (DESIGN §10).
        .target(name: "TandemTestKit", dependencies: ["TandemCore"], swiftSettings: swiftSettings),
        // Binary encoding of every core value; sealing (ChaCha20-Poly1305), replay window.
        .target(
            name: "TandemWire",
            dependencies: [
                "TandemCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // SQLite (GRDB, WAL): hard state, log, snapshots, activation records, events.
        .target(
            name: "TandemStore",
            dependencies: ["TandemCore", "TandemWire", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // The configuration file (YAML): the cluster config plus what only the agent needs.
        .target(
            name: "TandemConfig",
            dependencies: ["TandemCore", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        // Resources (vip, exec, systemd), checks, notifiers: the agent's hands and eyes.
        .target(
            name: "TandemResources",
            dependencies: [
                "TandemCore", "TandemConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The node runtime: transports per link, timers, store, resources, the guard.
        .target(
            name: "TandemAgent",
            dependencies: [
                "TandemCore", "TandemWire", "TandemStore", "TandemConfig", "TandemResources",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP API (status, events, actions, KV, metrics) on each node's `api` address (HTTPS with `api.tls`).
        .target(
            name: "TandemHTTP",
            dependencies: [
                "TandemCore", "TandemAgent", "TandemConfig", "TandemStore",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "tandem",
            dependencies: [
                "TandemCore", "TandemWire", "TandemStore", "TandemConfig", "TandemResources", "TandemAgent",
                "TandemHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "tandem-sim",
            dependencies: [
                "TandemCore", "TandemTestKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "TandemCoreTests", dependencies: ["TandemCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "TandemSimulationTests", dependencies: ["TandemCore", "TandemTestKit"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TandemWireTests",
            dependencies: [
                "TandemCore", "TandemWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "TandemStoreTests", dependencies: ["TandemCore", "TandemWire", "TandemStore"], swiftSettings: swiftSettings),
        .testTarget(name: "TandemConfigTests", dependencies: ["TandemCore", "TandemConfig"], swiftSettings: swiftSettings),
        .testTarget(
            name: "TandemResourcesTests",
            dependencies: [
                "TandemCore", "TandemConfig", "TandemResources", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TandemAgentTests",
            dependencies: ["TandemCore", "TandemWire", "TandemStore", "TandemConfig", "TandemAgent"],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
