import Foundation
import Testing
@testable import SlipwayCore

@Suite struct RiskClassifierTests {
    func facts(env: String = "production", params: [String: String], live: [String: String]?, tags: [String: String] = [:],
               metrics: [String: Double] = [:], liveMetrics: [String: Double]? = nil,
               data: [String: String] = [:], liveData: [String: String]? = nil) -> PromotionFacts {
        PromotionFacts(environment: env, candidateParams: params, liveParams: live, tags: tags, candidateMetrics: metrics,
                       liveMetrics: liveMetrics, candidateData: data, liveData: liveData)
    }

    func policy(_ yaml: String) throws -> PolicySpec {
        try SpecParser.parse("project: p\npipelines:\n  m:\n    stages:\n      a: {cmd: 'true'}\n" + yaml).rules
    }

    @Test func eachRuleWithItsReason() throws {
        let p = try policy("""
        policy:
          high_risk_when:
            - {params_changed: [model.arch]}
            - {tag: base-model-upgrade}
            - {metric_drop: {metric: accuracy, more_than: 0.02}}
            - {data_changed: [data/train.csv]}
        """)
        let arch = RiskClassifier.classify(facts(params: ["model.arch": "mlp"], live: ["model.arch": "gbm"]), policy: p)
        #expect(arch.risk == .high && arch.reasons == ["params changed: model.arch (gbm → mlp)"])
        #expect(RiskClassifier.classify(facts(params: [:], live: [:], tags: ["base-model-upgrade": "llama-3"]), policy: p).reasons
                == ["the version is tagged base-model-upgrade"])
        let drop = RiskClassifier.classify(facts(params: [:], live: [:], metrics: ["accuracy": 0.85], liveMetrics: ["accuracy": 0.9]), policy: p)
        #expect(drop.risk == .high && drop.reasons[0].hasPrefix("accuracy drops 0.9 → 0.85"))
        #expect(RiskClassifier.classify(facts(params: [:], live: [:], metrics: ["accuracy": 0.89], liveMetrics: ["accuracy": 0.9]), policy: p).risk == .low)
        let data = RiskClassifier.classify(facts(params: [:], live: [:], data: ["data/train.csv": "b"], liveData: ["data/train.csv": "a"]), policy: p)
        #expect(data.reasons == ["data changed: data/train.csv"])
        #expect(RiskClassifier.classify(facts(params: ["lr": "0.2"], live: ["lr": "0.1"]), policy: p).risk == .low)
    }

    @Test func lowRiskWinsWhenItAloneMatches() throws {
        let p = try policy("""
        policy:
          high_risk_when: [{env: production}, {params_changed: [model.arch]}]
          low_risk_when: [{params_changed: [serving.threshold]}]
        """)
        let threshold = RiskClassifier.classify(facts(params: ["serving.threshold": "0.6", "model.arch": "gbm"],
                                                      live: ["serving.threshold": "0.5", "model.arch": "gbm"]), policy: p)
        #expect(threshold.risk == .low)
        #expect(threshold.reasons == ["only low-risk params changed: serving.threshold (0.5 → 0.6)"])
        // With the architecture changed too, the high-risk rules stand.
        let both = RiskClassifier.classify(facts(params: ["serving.threshold": "0.6", "model.arch": "mlp"],
                                                 live: ["serving.threshold": "0.5", "model.arch": "gbm"]), policy: p)
        #expect(both.risk == .high && both.reasons.count == 2)
        // Nothing live: not a threshold-only change.
        #expect(RiskClassifier.classify(facts(params: ["serving.threshold": "0.6"], live: nil), policy: p).risk == .high)
        #expect(RiskClassifier.classify(facts(env: "staging", params: ["serving.threshold": "0.6"], live: ["serving.threshold": "0.6"]), policy: p).risk == .low)
    }

    @Test func policyParsingAndOverrides() throws {
        let p = try policy("""
        policy:
          high_risk_when: [always]
          required_approvals: 2
          expires: 36h
          environments: {staging: {required_approvals: 1, expires: 1h}}
          approvers:
            - {name: Dana Ruiz, user: [dana, dana@example.org], key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDYwPERrGbAmnoWKT+iQu6+hzT6JCrqTnpwT2J+dbd65 dana"}
        """)
        #expect(p.highRiskWhen == [.always])
        #expect(p.requiredApprovals(for: "production") == 2 && p.requiredApprovals(for: "staging") == 1)
        #expect(p.expiresSeconds(for: "production") == 36 * 3600 && p.expiresSeconds(for: "staging") == 3600)
        #expect(p.approvers.first?.users == ["dana", "dana@example.org"])
        #expect(throws: SpecErrors.self) {
            _ = try policy("policy:\n  approvers: [{name: X, key: 'ssh-rsa AAAA x'}]\n  required_approvals: 0\n")
        }
        do {
            _ = try policy("policy:\n  high_risk_when: [{param_changed: [x]}]\n")
            Issue.record("accepted an unknown rule")
        } catch let error as SpecErrors {
            #expect(error.description.contains("unknown key (did you mean 'params_changed'?)"))
        }
    }
}

@Suite struct RiskReasonWordingTests {
    /// A low verdict's reason reads as low risk, and names what it overrode.
    @Test func aLowRiskRuleThatWinsSaysLowRisk() throws {
        let p = try SpecParser.parse("""
        project: p
        pipelines:
          m:
            stages:
              a: {cmd: 'true'}
        policy:
          high_risk_when: [{env: staging}]
          low_risk_when: [{env: staging}]
        """).rules
        let f = PromotionFacts(environment: "staging", candidateParams: [:], liveParams: [:], tags: [:], candidateMetrics: [:],
                               liveMetrics: nil, candidateData: [:], liveData: nil)
        let verdict = RiskClassifier.classify(f, policy: p)
        #expect(verdict.risk == .low)
        #expect(verdict.reasons == ["low_risk_when: every promotion into staging is low risk (over: every promotion into staging is high risk)"])
    }
}
