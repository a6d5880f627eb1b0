import Foundation
import SlipwayStore

/// Drift-triggered retraining, one path for every door: a production batch
/// is recorded and scored (``MonitorService/ingest(monitor:path:source:actor:)``);
/// a drifted batch (or a performance breach) queues trigger events; queued
/// events start a run of the monitor's pipeline through the launcher when
/// the pipeline has room (``TriggerService/startQueued(pipeline:)``). Used
/// by `slipway monitor ingest`; the agent's drop-folder duty ingests many
/// files, then starts what they queued at once.
extension TriggerService {
    public struct IngestOutcome: Sendable {
        public var ingest: MonitorService.Ingest
        /// What was launched (empty: nothing fired, or the pipeline is busy and the events wait).
        public var started: [String]
    }

    public func ingestAndStart(monitor: String, path: String, source: String, actor: String) throws -> IngestOutcome {
        let result = try MonitorService(workspace: workspace, registry: registry, spec: spec)
            .ingest(monitor: monitor, path: path, source: source, actor: actor)
        let started = result.events.isEmpty ? [] : try startQueued()
        return IngestOutcome(ingest: result, started: started)
    }

    /// The runs that claimed `events`, waiting up to `within` seconds for a
    /// launched run to claim them (it does so moments after it starts).
    public func runs(claiming events: [TriggerEventRecord], within seconds: Double) throws -> [Int64] {
        let ids = Set(events.map(\.id))
        let end = Date().addingTimeInterval(seconds)
        while true {
            let started = try registry.triggerEvents(pipeline: nil, state: .started, limit: 200).filter { ids.contains($0.id) }
            let runs = Array(Set(started.compactMap(\.runID))).sorted()
            if !runs.isEmpty || Date() >= end { return runs }
            usleep(50_000)
        }
    }
}
