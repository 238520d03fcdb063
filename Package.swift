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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The pure core: the standard library only. No I/O, no clock, no unseeded randomness.
        .target(name: "TandemCore", swiftSettings: swiftSettings),
        // Manual clocks, the simulated network and the invariant checkers (DESIGN §10).
        .target(name: "TandemTestKit", dependencies: ["TandemCore"], swiftSettings: swiftSettings),
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
    ],
    swiftLanguageModes: [.v6]
)
