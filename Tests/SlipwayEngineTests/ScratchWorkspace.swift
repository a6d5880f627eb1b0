import Foundation
@testable import SlipwayEngine

extension Workspace {
    /// A workspace in a temporary folder holding `spec` as its `slipway.yaml` and an empty `.slipway/`.
    static func scratch(_ spec: String) throws -> Workspace {
        let root = NSTemporaryDirectory() + "slipway-scratch-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/.slipway", withIntermediateDirectories: true)
        try spec.write(toFile: root + "/slipway.yaml", atomically: true, encoding: .utf8)
        return Workspace(root: root)
    }
}
