import Foundation
import SlipwayCore
import SlipwayStore

/// Edits to the model catalogue that change no environment: a version's
/// tags and description (each audited as `model.edited`).
public struct ModelCatalog: Sendable {
    public let registry: any Registry

    public init(registry: any Registry) {
        self.registry = registry
    }

    public struct BadTag: SlipwayError {
        public var text: String
        public var description: String { "'\(text)' is not KEY=VALUE (KEY= removes the tag)" }
        public var exitStatus: ExitStatus { .usage }
    }

    /// `KEY=VALUE` sets a tag, `KEY=` removes it.
    public static func parseTags(_ pairs: [String]) throws -> [String: String?] {
        var tags: [String: String?] = [:]
        for pair in pairs {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else { throw BadTag(text: pair) }
            let value = String(pair[pair.index(after: eq)...])
            tags[String(pair[..<eq])] = value.isEmpty ? .some(nil) : value
        }
        return tags
    }

    public func tag(model: String, version: Int, tags: [String: String?], actor: String) throws -> ModelVersionRecord {
        try registry.editVersion(model: model, version: version, tags: tags, description: nil, actor: actor)
    }

    public func describe(model: String, version: Int, text: String, actor: String) throws -> ModelVersionRecord {
        try registry.editVersion(model: model, version: version, tags: [:], description: text, actor: actor)
    }
}
