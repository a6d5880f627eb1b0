import Foundation
import SlipwayEngine

/// The files of the bundled Seattle weather example, read from the target's
/// resources (`Resources/seattle-weather/`): the data (vega-datasets 0.9.0,
/// MIT; NOAA), a classifier in plain Python 3 (softmax regression or
/// k-nearest neighbours, chosen by `model.arch`), a deploy script and a probe
/// that serve the packaged model from its OCI image, and two specs: the
/// example `slipway init --demo` writes and the tour `slipway demo` plays.
enum DemoFiles {
    /// The scripts and data both workspaces share, as they are written there.
    static let shared = [
        "params.yaml", "schema.yaml", "prepare.py", "predict.py", "train.py", "evaluate.py",
        "data/seattle-weather.csv", "data/README.md",
    ]

    /// The tour's deploy command and canary probe.
    static let tourOnly = ["deploy.py", "probe.py"]

    /// The tour's production on HAProxy and Prometheus, instead of the probe:
    /// the supervisor with its scorers and load generator, and the deploy
    /// recipe of `examples/deploy/haproxy/deploy.sh` (the same file).
    static let realProduction = ["deploy.py", "production.py", "haproxy-deploy.sh"]

    struct Missing: SlipwayError {
        var name: String
        var exitStatus: ExitStatus { .internalError }
        var description: String {
            "the demo's file \(name) is missing beside the slipway binary (the Slipway_SlipwayDemo.resources folder): reinstall slipway with its resources"
        }
    }

    static var folder: URL? {
        Bundle.module.resourceURL?.appendingPathComponent("seattle-weather")
    }

    /// One file's text.
    static func text(_ name: String) throws -> String {
        guard let url = folder?.appendingPathComponent(name), let data = FileManager.default.contents(atPath: url.path) else {
            throw Missing(name: name)
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func files(_ names: [String]) throws -> [(String, String)] {
        try names.map { ($0, try text($0)) }
    }

    /// The tour's `slipway.yaml`, with the demo's keys and canary interval filled in.
    static func tourSpec(approverKey: String, signerKey: String, canaryInterval: String) throws -> String {
        try text("tour.yaml")
            .replacingOccurrences(of: "{{APPROVER_KEY}}", with: approverKey)
            .replacingOccurrences(of: "{{SIGNER_KEY}}", with: signerKey)
            .replacingOccurrences(of: "{{CANARY_INTERVAL}}", with: canaryInterval)
    }

    /// The tour's `slipway.yaml` with production on HAProxy and Prometheus
    /// (`production-haproxy.yaml` instead of the simulated production block).
    static func realTourSpec(approverKey: String, signerKey: String, canaryInterval: String, prometheus: String, socket: String) throws -> String {
        let tour = try tourSpec(approverKey: approverKey, signerKey: signerKey, canaryInterval: canaryInterval)
        guard let start = tour.range(of: "\n  production:\n"), let end = tour.range(of: "\npolicy:", range: start.upperBound..<tour.endIndex) else {
            throw Missing(name: "tour.yaml's production block")
        }
        let block = try text("production-haproxy.yaml")
            .replacingOccurrences(of: "{{CANARY_INTERVAL}}", with: canaryInterval)
            .replacingOccurrences(of: "{{PROMETHEUS}}", with: prometheus)
            .replacingOccurrences(of: "{{HAPROXY_SOCKET}}", with: socket)
        return String(tour[..<start.lowerBound]) + "\n" + block + String(tour[end.lowerBound...])
    }
}

/// `slipway init --demo`: the example workspace.
public enum DemoProject {
    public static func files() throws -> [(String, String)] {
        [("slipway.yaml", try DemoFiles.text("slipway.yaml"))] + (try DemoFiles.files(DemoFiles.shared))
    }

    /// Makes the example workspace in `directory` (refusing an existing one).
    public static func initialize(at directory: String) throws -> Workspace {
        try Workspace.initialize(at: directory, files: try files(), demo: true)
    }
}
