import Foundation
import Testing

@Suite struct ValidationEndToEndTests {
    func workspace() -> Sandbox {
        let s = Sandbox()
        s.write("slipway.yaml", """
        project: v
        pipelines:
          main:
            stages:
              validate: {uses: validate, data: data/train.csv, schema: schema.yaml, reference: data/reference.csv}
              train: {cmd: "echo trained > model.txt", deps: [data/train.csv], outs: [model.txt], needs: [validate]}
        """)
        s.write("schema.yaml", "min_rows: 3\ncolumns:\n  temp: {type: float, min: -40, max: 50}\n  weather: {type: string, allowed: [sun, rain]}\n")
        var ref = "temp,weather\n"
        for i in 0..<200 { ref += "\(Double(i % 40) - 5),\(i % 2 == 0 ? "sun" : "rain")\n" }
        s.write("data/reference.csv", ref)
        s.write("data/train.csv", ref)
        return s
    }

    @Test func failedCheckStopsThePipelineBeforeTraining() throws {
        let s = workspace()
        let ok = s.run("run")
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(s.exists("model.txt"))
        #expect(s.run("logs", "1", "validate").stdout.contains("data/train.csv: 200 rows · reference data/reference.csv (200 rows) · PASS"))
        #expect(s.run("status").stdout.contains("drift        no drift in data/train.csv (run 1)"))

        s.remove("model.txt")
        s.write("data/train.csv", "temp,weather\n10,sun\n99,snow\n12,rain\n")
        let bad = s.run("run", "--junit", "junit.xml")
        #expect(bad.status == 3)
        #expect(bad.stderr.contains("column temp: 1 value above max 50 (largest 99, 49 over)"))
        #expect(bad.stderr.contains("column weather: 1 value not allowed: 'snow' ×1"))
        #expect(!s.exists("model.txt"))
        let stages = try s.stageRecords("2")
        #expect(stages.map { $0["status"] as? String } == ["failed", "cancelled"])
        let junit = try #require(s.read("junit.xml"))
        #expect(junit.contains("<testsuite name=\"validation: data/train.csv\""))
        #expect(junit.contains("message=\"1 value above max 50 (largest 99, 49 over)\""))
    }

    @Test func stageLevelDriftRule() throws {
        let s = workspace()
        var yaml = s.read("slipway.yaml")!
        yaml = yaml.replacingOccurrences(of: "reference: data/reference.csv}", with: "reference: data/reference.csv, method: psi, threshold: 0.3}")
        s.write("slipway.yaml", yaml)
        #expect(s.run("run").status == 0)
        #expect(s.run("logs", "1", "validate").stdout.contains("temp [numeric] PSI 0 < 0.3"))
    }

    @Test func cachedValidationKeepsItsReport() throws {
        let s = workspace()
        #expect(s.run("run").status == 0)
        #expect(s.run("run").status == 0)
        let stages = try s.stageRecords("2")
        #expect(stages.first?["status"] as? String == "cached")
    }

    @Test func dataCheckCommand() throws {
        let s = workspace()
        let ok = s.run("data", "check", "data/train.csv", "--schema", "schema.yaml", "--reference", "data/reference.csv", "--json")
        #expect(ok.status == 0, "\(ok.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any])
        let drift = try #require(report["drift"] as? [[String: Any]])
        let temp = try #require(drift.first { $0["column"] as? String == "temp" })
        let stats = try #require(temp["statistics"] as? [String: Any])
        for key in ["ks_statistic", "ks_pvalue", "wasserstein", "wasserstein_normed", "psi", "jensen_shannon"] {
            #expect(stats[key] is Double || stats[key] is Int, "\(key) is a number")
        }
        let weather = try #require(drift.first { $0["column"] as? String == "weather" })
        let wstats = try #require(weather["statistics"] as? [String: Any])
        for key in ["chi_square", "chi_square_pvalue", "jensen_shannon", "l_infinity"] { #expect(wstats[key] != nil, "\(key)") }

        s.write("bad.csv", "temp,weather\n1,sun\n2\n")
        let ragged = s.run("data", "check", "bad.csv", "--schema", "schema.yaml")
        #expect(ragged.status == 2)
        #expect(ragged.stderr.contains("bad.csv:3:2: has 1 field, the header has 2 (ragged row)"))
        s.write("bad-schema.yaml", "columns: [x]\n")
        let badSchema = s.run("data", "check", "data/train.csv", "--schema", "bad-schema.yaml")
        #expect(badSchema.status == 2)
        #expect(badSchema.stderr.contains("bad-schema.yaml:1:10: columns: must be a mapping"))
        let missing = s.run("data", "check", "nope.csv")
        #expect(missing.status == 2)
    }

    @Test func inferredSchemaAcceptsItsOwnData() throws {
        let s = workspace()
        let infer = s.run("data", "schema", "infer", "data/reference.csv")
        #expect(infer.status == 0)
        #expect(infer.stdout.contains("temp: {type: float, max_missing: 0, min: -5, max: 34}"))
        #expect(infer.stdout.contains("weather: {type: string, max_missing: 0, allowed: [rain, sun]}"))
        s.write("inferred.yaml", infer.stdout)
        #expect(s.run("data", "check", "data/reference.csv", "--schema", "inferred.yaml").status == 0)
    }
}
