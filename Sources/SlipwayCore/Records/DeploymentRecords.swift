import Foundation

public struct NewDeployment: Sendable {
    public var environment: String
    public var model: String
    public var version: Int
    public var stableVersion: Int?
    /// Traffic percent at each step (the last is 100).
    public var steps: [Int]
    public var actor: String
    public var reason: String
    /// The approved request this deployment carries out (checked and used in
    /// the transaction that starts it).
    public var approval: ApprovalUse? = nil
    /// What started it (a person's promotion, an approval, an automatic
    /// promotion): the cause of its alias change when it goes live without a canary.
    public var origin: AliasCause = .promotion
    /// Events recorded in the same transaction, before the deployment's own.
    public var audit: [AuditDraft] = []

    public init(environment: String, model: String, version: Int, stableVersion: Int?, steps: [Int], actor: String, reason: String) {
        self.environment = environment
        self.model = model
        self.version = version
        self.stableVersion = stableVersion
        self.steps = steps
        self.actor = actor
        self.reason = reason
    }
}

/// One call of an environment's target (the local pointer and the deploy
/// command), journalled so a restarted agent neither repeats nor skips one.
public struct DeployCallRecord: Codable, Sendable, Hashable {
    public var id: Int64
    /// `SLIPWAY_DEPLOYMENT_ID`: the same on a retry.
    public var callID: String
    public var deploymentID: Int64?
    public var environment: String
    public var model: String
    public var version: Int
    public var stableVersion: Int?
    public var traffic: Int
    public var startedAt: Millis
    public var finishedAt: Millis?
    /// `exited 0`, `exited 3`, `timed out after 600 s`, nil while running.
    public var outcome: String?
    public var ok: Bool?
    public var log: String?
    /// Who is making the call: `pid@host` (a call is made by one driver at a time).
    public var owner: String?

    public init(id: Int64, callID: String, deploymentID: Int64?, environment: String, model: String, version: Int, stableVersion: Int?,
                traffic: Int, startedAt: Millis, finishedAt: Millis?, outcome: String?, ok: Bool?, log: String?, owner: String? = nil) {
        self.owner = owner
        self.id = id
        self.callID = callID
        self.deploymentID = deploymentID
        self.environment = environment
        self.model = model
        self.version = version
        self.stableVersion = stableVersion
        self.traffic = traffic
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.outcome = outcome
        self.ok = ok
        self.log = log
    }
}

/// One measured analysis value: one metric of one measurement, with the
/// evidence behind its verdict (the query as sent and the raw answer).
public struct AnalysisSampleRecord: Codable, Sendable, Hashable {
    public var id: Int64
    public var deploymentID: Int64
    /// The step index (`-1` for the `rollback_when` watch).
    public var step: Int
    public var metric: String
    public var value: Double?
    public var production: Double?
    public var condition: String
    /// `pass`, `fail`, `inconclusive` or `error`.
    public var verdict: String
    public var explanation: String
    public var at: Millis
    /// Which analysis of the step this is (a step analysed again after an
    /// inconclusive analysis has a higher round); 0 on rows before v14.
    public var round: Int = 0
    /// The measurement's number within its round, from 1.
    public var measurement: Int = 1
    /// `prometheus`, `http`, `cmd` (nil on rows before v14).
    public var source: String? = nil
    /// What was asked: the PromQL as sent, the address, the command.
    public var query: String? = nil
    /// The raw answer, bounded (``AnalysisSampleRecord/maxAnswer`` bytes).
    public var answer: String? = nil

    /// Bytes of a raw answer kept with a measurement.
    public static let maxAnswer = 2048

    public init(id: Int64 = 0, deploymentID: Int64, step: Int, metric: String, value: Double?, production: Double?, condition: String,
                verdict: String, explanation: String, at: Millis, round: Int = 0, measurement: Int = 1, source: String? = nil,
                query: String? = nil, answer: String? = nil) {
        self.round = round
        self.measurement = measurement
        self.source = source
        self.query = query
        self.answer = answer.map { Self.bounded($0) }
        self.id = id
        self.deploymentID = deploymentID
        self.step = step
        self.metric = metric
        self.value = value
        self.production = production
        self.condition = condition
        self.verdict = verdict
        self.explanation = explanation
        self.at = at
    }

    /// `text` cut to ``maxAnswer`` bytes on a character boundary, marked when cut.
    public static func bounded(_ text: String) -> String {
        guard text.utf8.count > maxAnswer else { return text }
        var cut = ""
        for ch in text {
            if cut.utf8.count + ch.utf8.count > maxAnswer - 3 { break }
            cut.append(ch)
        }
        return cut + "…"
    }
}

extension DeploymentRecord {
    /// A new deployment as every store first writes it (id 0 until inserted):
    /// progressing, at step 0 of its steps (`[100]` when none are given), phase deploy.
    public static func starting(_ new: NewDeployment, at now: Millis) -> DeploymentRecord {
        let steps = new.steps.isEmpty ? [100] : new.steps
        return DeploymentRecord(id: 0, environment: new.environment, model: new.model, version: new.version,
                                stableVersion: new.stableVersion, steps: steps.map(String.init).joined(separator: ","),
                                state: .progressing, phase: .deploy, step: 0, traffic: 0, dueAt: nil, inconclusive: 0,
                                watchUntil: nil, ending: nil, startedAt: now, updatedAt: now, actor: new.actor,
                                reason: new.reason, detail: "starting")
    }

    /// This (active) deployment, aborted because `new` starts in its environment.
    public func aborted(by new: NewDeployment, at now: Millis) -> DeploymentRecord {
        var old = self
        old.state = .aborted
        old.phase = .none
        old.updatedAt = now
        old.detail = "superseded by \(new.model):\(new.version)"
        return old
    }
}
