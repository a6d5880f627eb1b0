// swift-tools-version: 6.2
import PackageDescription

// Layers, each depending only downward (LayeringTests checks the imports):
//   SlipwayCore     plain values and pure logic (spec, DAG, records, audit chain rules, gates)
//   SlipwayPostgres a small synchronous PostgreSQL client over libpq (opened with dlopen)
//   SlipwayStore    the registry: protocols + the SQLite (GRDB) and PostgreSQL implementations
//   SlipwayEngine   services (every decision), workspace, content store, executors, scheduler
//   SlipwayTracking the MLflow-compatible tracking endpoint a run serves (SwiftNIO), in
//                   its own executable, slipway-mlflow, which a run starts when a stage
//                   first connects; the engine knows it only through its TrackingEndpoint
//                   protocols and the frames it exchanges with it
//   SlipwayConsole  the full-screen console (a face)
//   SlipwayDemo     the bundled example and `slipway demo` (a face)
//   slipway         the command line (a face), thin over the engine
//
// The faces (console, command line, demo) see the engine only: they do not depend on
// SlipwayStore, and with member import visibility the compiler refuses a call to a
// registry method they could reach through an engine value (`any Registry`). They read
// through `RegistryReading` (a `RegistryConnection`) and act through the engine's services.
let faceSettings: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "Slipway",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "slipway", targets: ["slipway"]),
        // Installed beside `slipway`: serves a run's MLflow endpoint (docs/mlflow.md).
        .executable(name: "slipway-mlflow", targets: ["slipway-mlflow"]),
        .executable(name: "slipway-bench", targets: ["slipway-bench"]),
        // For the fuzzers in Fuzz/, a separate package that depends on this one by path.
        .library(name: "SlipwayCore", targets: ["SlipwayCore"]),
        .library(name: "SlipwayEngine", targets: ["SlipwayEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
    ],
    targets: [
        .target(
            name: "SlipwayCore",
            dependencies: [
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // libpq's headers only: SlipwayPostgres opens libpq.so.5 at run time, so
        // commands on the embedded registry never load it (see docs/postgres-store.md).
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ"),
        .target(name: "SlipwayPostgres", dependencies: ["SlipwayCore", "CLibPQ"]),
        .target(
            name: "SlipwayStore",
            dependencies: [
                "SlipwayCore",
                "SlipwayPostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .target(
            name: "SlipwayEngine",
            dependencies: [
                "SlipwayCore",
                "SlipwayStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "SlipwayTracking",
            dependencies: [
                "SlipwayEngine",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The bundled example and `slipway demo`: its scripts and data are files (resources).
        .target(
            name: "SlipwayDemo",
            dependencies: ["SlipwayEngine"],
            resources: [.copy("Resources/seattle-weather")],
            swiftSettings: faceSettings
        ),
        .systemLibrary(name: "CNcursesw", path: "Sources/CNcursesw"),
        .target(
            name: "SlipwayConsole",
            dependencies: ["SlipwayEngine", "CNcursesw"],
            swiftSettings: faceSettings
        ),
        .executableTarget(
            name: "slipway",
            dependencies: [
                "SlipwayCore",
                "SlipwayEngine",
                "SlipwayConsole",
                "SlipwayDemo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: faceSettings
        ),
        .executableTarget(name: "slipway-mlflow", dependencies: ["SlipwayTracking"]),
        .executableTarget(
            name: "slipway-bench",
            dependencies: [
                "SlipwayCore",
                "SlipwayStore",
                "SlipwayEngine",
                "SlipwayPostgres",
                // A point count read while a run writes (mlflow-100k), without loading the points.
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(name: "SlipwayCoreTests", dependencies: ["SlipwayCore"], exclude: ["Fixtures"]),
        // Starts and stops the throw-away PostgreSQL server the PostgreSQL tests share.
        .target(name: "PostgresTestServer", dependencies: ["SlipwayPostgres"], path: "Tests/PostgresTestServer"),
        .testTarget(name: "SlipwayPostgresTests", dependencies: ["SlipwayPostgres", "PostgresTestServer"]),
        .testTarget(
            name: "SlipwayStoreTests",
            dependencies: ["SlipwayStore", "SlipwayEngine", "SlipwayCore", "PostgresTestServer", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "SlipwayEngineTests", dependencies: ["SlipwayEngine", "SlipwayStore", "SlipwayCore"]),
        .testTarget(name: "SlipwayTrackingTests", dependencies: ["SlipwayTracking", "SlipwayEngine", "SlipwayStore", "SlipwayCore"]),
        .testTarget(name: "SlipwayDemoTests", dependencies: ["SlipwayDemo", "SlipwayEngine"]),
        .testTarget(name: "SlipwayConsoleTests", dependencies: ["SlipwayConsole", "SlipwayEngine", "SlipwayStore", "SlipwayTracking"], exclude: ["Snapshots"]),
        // Drives the built `slipway` binary (and the helper it starts); depending on them
        // makes sure they are built.
        .testTarget(name: "SlipwayEndToEndTests", dependencies: ["slipway", "slipway-mlflow", "SlipwayStore", "SlipwayCore", "PostgresTestServer"],
                    exclude: ["Fixtures"]),
    ]
)
