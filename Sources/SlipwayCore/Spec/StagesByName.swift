/// A pipeline's stages found by name: the first stage of each name, as
/// ``PipelineSpec/stage(named:)`` finds it, in constant time.
///
/// It keeps the stages in their array and only positions by name, so a
/// thousand-stage pipeline is not copied into a dictionary of whole stage
/// specs (each grown step by step, each copy retaining every field).
public struct StagesByName: Sendable {
    public let stages: [StageSpec]
    private let position: [String: Int]

    public init(_ stages: [StageSpec]) {
        var position: [String: Int] = [:]
        position.reserveCapacity(stages.count)
        for (i, stage) in stages.enumerated() where position[stage.name] == nil { position[stage.name] = i }
        self.stages = stages
        self.position = position
    }

    public subscript(name: String) -> StageSpec? {
        position[name].map { stages[$0] }
    }

    /// Whether a stage has this name.
    public func contains(_ name: String) -> Bool { position[name] != nil }
}
