import Foundation
import SlipwayStore

/// Finds model versions by name and number, with errors that help.
public struct ModelLookup: Sendable {
    let registry: any Registry

    public init(registry: any Registry) { self.registry = registry }

    public struct NotFound: SlipwayError {
        public var message: String
        public var exitStatus: ExitStatus { .usage }
        public var description: String { message }
    }

    /// The version named, or the newest when `version` is nil.
    public func version(model: String, _ version: Int?) throws -> ModelVersionRecord {
        if let version {
            guard version > 0 else { throw NotFound(message: "versions are positive whole numbers: \(model):\(version) names none") }
            guard let v = try registry.modelVersion(model: model, version: version) else {
                throw NotFound(message: "no version \(version) of model '\(model)'" + hint(model))
            }
            return v
        }
        guard let v = try registry.modelVersions(model: model, limit: 1).first else {
            throw NotFound(message: "no model '\(model)'" + hint(model))
        }
        return v
    }

    private func hint(_ model: String) -> String {
        let names = ((try? registry.models()) ?? []).map(\.name)
        if names.isEmpty { return " (no model is registered yet: a successful run registers its pipeline's model)" }
        if names.contains(model) {
            let newest = (try? registry.modelVersions(model: model, limit: 1).first?.version) ?? nil
            return newest.map { " (its versions are 1…\($0))" } ?? ""
        }
        return Suggestions.closest(to: model, in: names).map { " (did you mean '\($0)'?)" } ?? "; models: \(names.joined(separator: ", "))"
    }
}
