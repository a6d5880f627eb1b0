import Foundation

/// `policy:` in slipway.yaml: which promotions are high risk, who may
/// approve them, how many approvals they need and for how long a request stands.
public struct PolicySpec: Sendable, Hashable, Codable {
    public enum Rule: Sendable, Hashable, Codable {
        case paramsChanged([String])
        case tag(String)
        case metricDrop(metric: String, moreThan: Double)
        case env(String)
        case dataChanged([String])
        case always
    }

    public struct Approver: Sendable, Hashable, Codable {
        public var name: String
        /// OS user names and commit e-mails that are this person (for the no-self-approval rule).
        public var users: [String]
        public var key: SSHSig.PublicKey

        public init(name: String, users: [String], key: SSHSig.PublicKey) {
            self.name = name
            self.users = users
            self.key = key
        }
    }

    public struct Override: Sendable, Hashable, Codable {
        public var requiredApprovals: Int?
        public var expiresSeconds: Double?
    }

    public var highRiskWhen: [Rule] = []
    public var lowRiskWhen: [Rule] = []
    public var approvers: [Approver] = []
    public var requiredApprovals = 1
    public var expiresSeconds: Double = 7 * 86_400
    public var environments: [String: Override] = [:]

    public init() {}

    public func requiredApprovals(for environment: String) -> Int {
        environments[environment]?.requiredApprovals ?? requiredApprovals
    }

    public func expiresSeconds(for environment: String) -> Double {
        environments[environment]?.expiresSeconds ?? expiresSeconds
    }

    public func approver(withKey raw: [UInt8]) -> Approver? {
        approvers.first { $0.key.raw == raw }
    }
}

/// What a promotion changes, against the version live in the target environment.
public struct PromotionFacts: Sendable, Hashable {
    public var environment: String
    public var candidateParams: [String: String]
    public var liveParams: [String: String]?
    public var tags: [String: String]
    public var candidateMetrics: [String: Double]
    public var liveMetrics: [String: Double]?
    /// Dataset path → content hash the candidate and the live version read.
    public var candidateData: [String: String]
    public var liveData: [String: String]?

    public init(environment: String, candidateParams: [String: String], liveParams: [String: String]?, tags: [String: String],
                candidateMetrics: [String: Double], liveMetrics: [String: Double]?, candidateData: [String: String],
                liveData: [String: String]?) {
        self.environment = environment
        self.candidateParams = candidateParams
        self.liveParams = liveParams
        self.tags = tags
        self.candidateMetrics = candidateMetrics
        self.liveMetrics = liveMetrics
        self.candidateData = candidateData
        self.liveData = liveData
    }

    /// Params whose value differs from the live version's (all, with nothing live).
    public var changedParams: [String] {
        guard let live = liveParams else { return candidateParams.keys.sorted() }
        return Set(candidateParams.keys).union(live.keys).filter { candidateParams[$0] != live[$0] }.sorted()
    }

    public var changedData: [String] {
        guard let live = liveData else { return [] }
        return Set(candidateData.keys).union(live.keys).filter { candidateData[$0] != live[$0] }.sorted()
    }
}

public enum Risk: String, Sendable, Hashable, Codable {
    case low, high
}

/// Classifies a promotion, with the reasons in words.
public enum RiskClassifier {
    public static func classify(_ f: PromotionFacts, policy: PolicySpec) -> (risk: Risk, reasons: [String]) {
        var high: [String] = []
        var dataRuleMatched = false
        for rule in policy.highRiskWhen {
            if let why = matches(rule, f) {
                high.append(why)
                if case .dataChanged = rule { dataRuleMatched = true }
            }
        }
        guard !high.isEmpty else { return (.low, ["no high-risk rule matches"]) }
        // `low_risk_when` wins when the params it names are the only params that
        // changed (and no high-risk dataset changed with them).
        for rule in policy.lowRiskWhen {
            switch rule {
            case .paramsChanged(let keys):
                let changed = f.changedParams
                if !changed.isEmpty, changed.allSatisfy(keys.contains), !dataRuleMatched, f.liveParams != nil {
                    return (.low, ["only low-risk params changed: " + describe(changed, f)])
                }
            default:
                // Said as what it is: the reason a low verdict gives reads as low risk.
                if let why = matches(rule, f, asLow: true) { return (.low, ["low_risk_when: " + why + " (over: " + high.joined(separator: "; ") + ")"]) }
            }
        }
        return (.high, high)
    }

    static func describe(_ keys: [String], _ f: PromotionFacts) -> String {
        keys.map { k in "\(k) (\(f.liveParams?[k] ?? "—") → \(f.candidateParams[k] ?? "—"))" }.joined(separator: ", ")
    }

    static func matches(_ rule: PolicySpec.Rule, _ f: PromotionFacts, asLow: Bool = false) -> String? {
        let level = asLow ? "low" : "high"
        switch rule {
        case .always:
            return "every promotion is \(level) risk (always)"
        case .env(let env):
            return f.environment == env ? "every promotion into \(env) is \(level) risk" : nil
        case .tag(let name):
            return f.tags[name] != nil ? "the version is tagged \(name)" : nil
        case .paramsChanged(let keys):
            let hit = f.changedParams.filter(keys.contains)
            return hit.isEmpty ? nil : "params changed: " + describe(hit, f)
        case .dataChanged(let paths):
            let hit = f.changedData.filter { p in paths.contains { WorkspacePath.contains($0, p) || $0 == p } }
            return hit.isEmpty ? nil : "data changed: " + hit.joined(separator: ", ")
        case .metricDrop(let metric, let moreThan):
            guard let c = f.candidateMetrics[metric], let l = f.liveMetrics?[metric] else { return nil }
            return l - c > moreThan ? "\(metric) drops \(l) → \(c) (more than \(moreThan))" : nil
        }
    }
}
