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
        self.stages = stages
        self.position = StageGraph.positions(of: stages.map(\.name))
    }

    public subscript(name: String) -> StageSpec? {
        position[name].map { stages[$0] }
    }
}
