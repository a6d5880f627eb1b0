// swift-tools-version: 6.2
import PackageDescription

// libFuzzer targets for Slipway's parsers of outside input. A separate package
// so the main build never compiles them; build and run them with Fuzz/fuzz
// (docs/security.md):
//
//   swift build -c release --package-path Fuzz --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address \
//       -Xswiftc -parse-as-library -Xcc -fsanitize=address
//
// Each target is one executable whose LLVMFuzzerTestOneInput feeds the bytes
// to one parser; libFuzzer supplies `main`.
let targets = ["spec", "params", "csv", "metric", "cron", "gate", "oci", "sshsig"]

let package = Package(
    name: "SlipwayFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "Slipway", path: "..")],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [.product(name: "SlipwayCore", package: "Slipway")]
        ),
    ] + targets.map { name in
        .executableTarget(
            name: "fuzz-\(name)",
            dependencies: [
                "FuzzSupport",
                .product(name: "SlipwayCore", package: "Slipway"),
                .product(name: "SlipwayEngine", package: "Slipway"),
            ]
        )
    }
)
