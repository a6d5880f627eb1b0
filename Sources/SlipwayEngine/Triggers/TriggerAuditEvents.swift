import SlipwayCore
import SlipwayStore

/// What the audit trail says about trigger events: `trigger.fired`, its
/// payload the event's cause with the pipeline and key, composed here once for
/// every store.
enum TriggerEvents {
    static func fired(_ trigger: NewTrigger, id: Int64, actor: String) -> AuditDraft {
        var fields = trigger.cause
        fields["pipeline"] = trigger.pipeline
        fields["key"] = trigger.key
        return AuditDraft(actor: actor, kind: .triggerFired, subject: "trigger/\(id)", payload: AuditChain.payload(fields))
    }
}

extension MonitorStore {
    /// Records a trigger event, audited as `trigger.fired` by `actor`, unless
    /// one with the same key exists for the pipeline (then nil).
    public func fireTrigger(pipeline: String, kind: String, key: String, cause: [String: String], actor: String,
                            state: TriggerEventRecord.State = .queued) throws -> TriggerEventRecord? {
        try fireTrigger(NewTrigger(pipeline: pipeline, kind: kind, key: key, cause: cause, state: state),
                        audit: { TriggerEvents.fired($0, id: $1, actor: actor) })
    }
}
