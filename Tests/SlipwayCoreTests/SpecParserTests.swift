import Foundation
import Testing
@testable import SlipwayCore

@Suite struct SpecParserTests {

    /// The spec is composed without tag resolution: bools, numbers and nulls
    /// are read from the text, with YAML 1.1's spellings, and quoting keeps text.
    @Test func readsBoolsAndNumbersFromTheText() throws {
        let spec = try SpecParser.parse("""
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "true", outs: [out.txt]}
        environments:
          dev: {deploy: ./d.sh, auto: yes}
          production: {deploy: ./d.sh, auto: False, requires: dev}
        """)
        let auto = Dictionary(uniqueKeysWithValues: spec.environments.map { ($0.name, $0.plan.auto) })
        #expect(auto["dev"] == true)
        #expect(auto["production"] == false)
        let quoted = issues("""
        project: p
        pipelines: {main: {stages: {a: {cmd: x}}}}
        environments:
          staging: {deploy: ./d.sh, auto: "on"}
        """)
        #expect(quoted.contains { $0.keyPath.hasSuffix(".auto") && $0.message == "must be true or false" }, "\(quoted)")
        for word in ["true", "off", "1.5", "0x1f", ".inf"] {
            let found = issues("project: p\npipelines: {main: {stages: {a: {cmd: x, outs: [\(word)]}}}}\n")
            #expect(found.contains { $0.message.hasPrefix("must be a path or a list of paths") }, "\(word): \(found)")
        }
        let paths = try SpecParser.parse("project: p\npipelines: {main: {stages: {a: {cmd: x, outs: [\"true\", out/true.txt, model.v1]}}}}\n")
        #expect(paths.pipelines.first?.stages.first?.outs.map(\.value) == ["true", "out/true.txt", "model.v1"])
    }
    func issues(_ yaml: String, params: Params? = nil) -> [SpecIssue] {
        do {
            _ = try SpecParser.parse(yaml, params: params)
            return []
        } catch {
            return error.issues
        }
    }

    @Test func parsesTheBriefShape() throws {
        let spec = try SpecParser.parse("""
        project: seattle-weather
        pipelines:
          weather:
            triggers: [commit, {data: data/train.csv}, {schedule: "0 3 * * 1"}, {drift: inputs}]
            stages:
              validate: {uses: validate, data: data/train.csv, schema: schema.yaml, reference: data/reference.csv}
              train:
                cmd: python3 train.py --out model.json
                deps: [train.py, data/train.csv]
                params: [train.lr, train.epochs, model.arch]
                outs: [model.json]
                metrics: [train_metrics.json]
                needs: [validate]
                timeout: 1h30m
              evaluate:
                cmd: python3 evaluate.py model.json data/test.csv --out eval.json
                deps: [evaluate.py, model.json, data/test.csv]
                metrics: [eval.json]
                gates: {accuracy: ">= production - 0.01", latency_p95_ms: "<= 50"}
                needs: [train]
              package: {uses: package, model: model.json, include: [predict.py], needs: [evaluate]}
              deploy: {uses: deploy, model: weather-classifier, needs: [package]}
        environments:
          dev: {deploy: "./deploy.sh dev"}
          production:
            deploy: "./deploy.sh production"
            canary: {steps: [10, 50, 100], interval: 30s}
        policy:
          required_approvals: 1
        monitors:
          inputs: {reference: data/train.csv, method: psi, threshold: 0.2}
        """, params: Params(values: ["train.lr": "0.1", "train.epochs": "3", "model.arch": "gbm"]))
        #expect(spec.project == "seattle-weather")
        let p = try #require(spec.pipeline(named: "weather"))
        #expect(p.stages.map(\.name) == ["validate", "train", "evaluate", "package", "deploy"])
        #expect(p.triggers == [.commit, .data(path: "data/train.csv"), .schedule(cron: "0 3 * * 1"), .drift(monitor: "inputs")])
        #expect(p.modelName == "weather-classifier")
        let train = try #require(p.stage(named: "train"))
        #expect(train.timeout == 5400)
        #expect(train.params.map(\.value) == ["train.lr", "train.epochs", "model.arch"])
        #expect(train.command?.location?.line == 8)
        let validate = try #require(p.stage(named: "validate"))
        #expect(validate.builtin == .validate)
        #expect(validate.deps.map(\.value) == ["data/train.csv", "schema.yaml", "data/reference.csv"])
        #expect(p.stage(named: "evaluate")?.gates.map(\.metric) == ["accuracy", "latency_p95_ms"])
        #expect(spec.environments.map(\.name) == ["dev", "production"])
        #expect(spec.environments[1].deploy == "./deploy.sh production")
    }

    @Test func unknownNeedsNamesTheStageWithASuggestion() {
        let found = issues("""
        project: p
        pipelines:
          main:
            stages:
              train: {cmd: "true"}
              evaluate: {cmd: "true", needs: [trian]}
        """)
        #expect(found.count == 1)
        #expect(found[0].keyPath == "pipelines.main.stages.evaluate.needs[0]")
        #expect(found[0].line == 6)
        #expect(found[0].column == 39)
        #expect(found[0].message.contains("unknown stage 'trian' (did you mean 'train'?)"))
    }

    @Test func cycleNamesItsStages() {
        let found = issues("""
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "true", needs: [c]}
              b: {cmd: "true", needs: [a]}
              c: {cmd: "true", needs: [b]}
              d: {cmd: "true"}
        """)
        #expect(found.count == 1)
        let message = found[0].message
        #expect(message.hasPrefix("stages form a cycle: "))
        #expect(message == "stages form a cycle: b → c → a → b (c needs b; a needs c; b needs a)")
        #expect(found[0].line == 3)
    }

    @Test func cycleThroughDataEdges() {
        let found = issues("""
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "true", deps: [b.out], outs: [a.out]}
              b: {cmd: "true", deps: [a.out], outs: [b.out]}
        """)
        #expect(found.map(\.message).contains { $0.contains("cycle") })
    }

    @Test func twoStagesWritingOneOut() {
        let found = issues("""
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "true", outs: [model.json]}
              b: {cmd: "true", outs: [model.json]}
              c: {cmd: "true", outs: [dir]}
              d: {cmd: "true", outs: [dir/inner.txt]}
        """)
        #expect(found.count == 2)
        #expect(found[0].message == "'model.json' is also written by stage 'a'; each path has one writer")
        #expect(found[0].line == 6)
        #expect(found[1].message.contains("overlaps 'dir' written by stage 'c'"))
    }

    @Test(arguments: ["../escape", "/etc/passwd", "a/../../b", "~/x"])
    func pathsOutsideTheWorkspace(path: String) {
        let found = issues("""
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "true", outs: ["\(path)"]}
        """)
        #expect(found.count == 1)
        #expect(found[0].keyPath == "pipelines.main.stages.a.outs[0]")
        #expect(found[0].message.contains("'\(path)'"))
        #expect(found[0].message.contains("workspace"))
    }

    @Test func pathsAreNormalised() throws {
        let spec = try SpecParser.parse("""
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "true", deps: [./data//x.csv, data/sub/../y.csv], outs: [out/]}
        """)
        #expect(spec.pipelines[0].stages[0].deps.map(\.value) == ["data/x.csv", "data/y.csv"])
        #expect(spec.pipelines[0].stages[0].outs.map(\.value) == ["out"])
    }

    @Test func unknownKeysSuggestTheRightOne() {
        let found = issues("""
        project: p
        pipelnes: {}
        pipelines:
          main:
            stages:
              a: {cmd: "true", dep: [x], output: [y]}
        """)
        #expect(found.count == 3)
        #expect(found[0].description == "slipway.yaml:2:1: pipelnes: unknown key (did you mean 'pipelines'?)")
        #expect(found[1].description.contains("pipelines.main.stages.a.dep: unknown key (did you mean 'deps'?)"))
        #expect(found[2].description.contains("pipelines.main.stages.a.output: unknown key"))
    }

    @Test func wrongTypes() {
        let found = issues("""
        project: [a, b]
        pipelines:
          main:
            stages:
              a: {cmd: {x: 1}, deps: {a: b}, timeout: soon}
              b: just-a-string
        """)
        let messages = found.map(\.description)
        #expect(messages.contains { $0.hasPrefix("slipway.yaml:1:10: project: must be a string, found a list") })
        #expect(messages.contains { $0.contains("stages.a.cmd: must be a string, found a mapping") })
        #expect(messages.contains { $0.contains("stages.a.deps: must be a list, found a mapping") })
        #expect(messages.contains { $0.contains("stages.a.timeout: must be a duration") })
        #expect(messages.contains { $0.contains("stages.b: must be a mapping (key: value), found 'just-a-string'") })
    }

    @Test func missingParams() {
        let found = issues("""
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "true", params: [train.lr, train.epoch]}
        """, params: Params(values: ["train.lr": "0.1", "train.epochs": "3"]))
        #expect(found.count == 1)
        #expect(found[0].keyPath == "pipelines.main.stages.a.params[1]")
        #expect(found[0].message == "param 'train.epoch' is not defined in params.yaml (did you mean 'train.epochs'?)")
    }

    @Test func reportsEveryProblemAtOnce() {
        let found = issues("""
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "true", outs: [../x], needs: [zz]}
              b: {cmd: "true", bogus: 1}
              c: {}
        """)
        #expect(found.count == 4)
    }

    @Test func stageNeedsCommandOrBuiltin() {
        let found = issues("""
        project: p
        pipelines:
          main:
            stages:
              a: {deps: [x]}
              b: {cmd: "true", uses: package, model: m}
              c: {uses: validat, data: d.csv}
              d: {uses: package}
        """)
        let text = found.map(\.description).joined(separator: "\n")
        #expect(text.contains("stages.a: needs `cmd` (a command to run) or `uses` (a built-in stage)"))
        #expect(text.contains("stages.b: has both `cmd` and `uses`"))
        #expect(text.contains("unknown built-in stage 'validat' (did you mean 'validate'?)"))
        #expect(text.contains("stages.d.model: is missing: `uses: package` needs `model:`"))
    }

    @Test func invalidYAMLHasItsPlace() {
        let found = issues("project: p\npipelines:\n  main: [unclosed\n")
        #expect(found.count == 1)
        #expect(found[0].line != nil)
        #expect(found[0].message.hasPrefix("invalid YAML"))
    }

    @Test func duplicateKeys() {
        let found = issues("project: p\nproject: q\npipelines: {m: {stages: {a: {cmd: x}}}}\n")
        #expect(found.count == 1)
        #expect(found[0].message.contains("duplicate"))
    }

    @Test func emptyAndMissing() {
        #expect(issues("").first?.message.contains("is empty") == true)
        let found = issues("project: p\n")
        #expect(found.first?.keyPath == "pipelines")
    }

    /// Outs are deleted before a stage runs: one naming git's or Slipway's own
    /// files (or the spec) would wipe history. Deps inside them would copy
    /// Slipway's state into the store and packages.
    @Test func outsAndDepsMayNotNameSlipwaysOrGitsOwnFiles() {
        let found = issues("""
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "true", outs: [.git]}
              b: {cmd: "true", outs: [.slipway]}
              c: {cmd: "true", outs: [.slipway/registry.sqlite]}
              d: {cmd: "true", outs: [./.slipway/registry.sqlite.head]}
              e: {cmd: "true", outs: [slipway.yaml]}
              f: {cmd: "true", outs: [params.yaml], metrics: [.git/m.json]}
              g: {cmd: "true", deps: [.slipway/registry.sqlite, sub/.git/config, .Slipway/x]}
              h: {cmd: "true", deps: [slipway.yaml, params.yaml], outs: [data/.gitkeep, git/x, slipway.yaml.bak, sub/params.yaml]}
              i: {uses: package, model: .slipway/store, out: .slipway/images}
              j: {uses: validate, data: .git/index}
          other:
            triggers: [{data: .slipway/registry.sqlite}]
            stages: {k: {cmd: "true"}}
        monitors:
          m: {reference: .slipway/registry.sqlite, incoming: .git/hooks}
        """)
        let text = found.map(\.description)
        func has(_ place: String, _ words: String) {
            #expect(text.contains { $0.hasPrefix("slipway.yaml:" + place) && $0.contains(words) }, "\(place) \(words): \(text.joined(separator: "\n"))")
        }
        has("5:31: pipelines.main.stages.a.outs[0]: '.git'", "git's own files")
        has("6:31: pipelines.main.stages.b.outs[0]: '.slipway'", "Slipway's own state")
        has("7:31: pipelines.main.stages.c.outs[0]: '.slipway/registry.sqlite'", "Slipway's own state")
        has("8:31: pipelines.main.stages.d.outs[0]: './.slipway/registry.sqlite.head'", "Slipway's own state")
        has("9:31: pipelines.main.stages.e.outs[0]: 'slipway.yaml'", "the workspace's spec")
        has("10:31: pipelines.main.stages.f.outs[0]: 'params.yaml'", "the workspace's params")
        has("10:55: pipelines.main.stages.f.metrics[0]: '.git/m.json'", "git's own files")
        has("11:31: pipelines.main.stages.g.deps[0]: '.slipway/registry.sqlite'", "Slipway's own state")
        has("11:57: pipelines.main.stages.g.deps[1]: 'sub/.git/config'", "git's own files")
        has("11:74: pipelines.main.stages.g.deps[2]: '.Slipway/x'", "Slipway's own state")
        has("13:33: pipelines.main.stages.i.model: '.slipway/store'", "Slipway's own state")
        has("13:54: pipelines.main.stages.i.out: '.slipway/images'", "Slipway's own state")
        has("14:33: pipelines.main.stages.j.data: '.git/index'", "git's own files")
        has("16:23: pipelines.other.triggers[0].data: '.slipway/registry.sqlite'", "Slipway's own state")
        has("19:18: monitors.m.reference: '.slipway/registry.sqlite'", "Slipway's own state")
        has("19:54: monitors.m.incoming: '.git/hooks'", "git's own files")
        // Reading the spec and params is fine; names that only look alike are fine.
        #expect(!text.contains { $0.contains("stages.h") }, "\(text)")
        #expect(found.count == 16, "\(text.joined(separator: "\n"))")
    }

    @Test func anOverflowingDurationIsRefused() {
        let found = issues("""
        project: p
        pipelines:
          main:
            stages:
              a: {cmd: "true", timeout: 99999999999999999999h}
              b: {cmd: "true", timeout: 99999999999999999999}
              c: {cmd: "true", timeout: 36500d}
        environments:
          production: {timeout: 1e300s, watch: 99999999999999999999m}
        """)
        let text = found.map(\.description)
        #expect(text.contains { $0.contains("pipelines.main.stages.a.timeout") && $0.contains("longer than") }, "\(text)")
        #expect(text.contains { $0.contains("pipelines.main.stages.b.timeout") && $0.contains("longer than") }, "\(text)")
        #expect(text.contains { $0.contains("environments.production.timeout") }, "\(text)")
        #expect(text.contains { $0.contains("environments.production.watch") && $0.contains("longer than") }, "\(text)")
        #expect(!text.contains { $0.contains("stages.c") }, "100 years is still a duration: \(text)")
        #expect(found.count == 4, "\(text)")
    }

    @Test func environmentsThatRequireEachOtherAreRefused() {
        let found = issues("""
        project: p
        pipelines: {main: {stages: {a: {cmd: "true"}}}}
        environments:
          dev: {requires: none}
          staging: {requires: production}
          qa: {requires: staging}
          production: {requires: qa}
        """)
        let text = found.map(\.description)
        #expect(found.count == 1, "\(text)")
        #expect(text.first?.contains("environments.staging.requires") == true, "\(text)")
        #expect(text.first?.contains("staging → production → qa → staging") == true, "\(text)")
    }

    /// A 1 MiB scalar behind an anchor, referenced 200,000 times, is a few
    /// hundred thousand nodes but 200 GB of text once expanded: refused by its
    /// expanded size before anything expands it.
    @Test func aLargeAnchorReferencedManyTimesIsRefusedByItsExpandedSize() {
        let big = String(repeating: "x", count: 1 << 20)
        let text = "big: &a \"\(big)\"\nrefs: [" + Array(repeating: "*a", count: 200_000).joined(separator: ",") + "]\n"
        var refused: SpecErrors?
        do { _ = try BoundedYAML.compose(text, file: "params.yaml") } catch { refused = error }
        #expect(refused?.description.contains("params.yaml:2:") == true, "\(refused?.description ?? "accepted")")
        #expect(refused?.description.contains("expand to more than 16 MiB") == true, "\(refused?.description ?? "accepted")")
        guard refused != nil else { return }  // Expanding it would take hundreds of gigabytes.
        #expect(throws: SpecErrors.self) { try Params.parse(yaml: text) }
        // Anchors used as intended stay fine.
        let reuse = "base: &b {lr: 0.1, epochs: 3}\nsmall: *b\nlarge: *b\nnames: &n " + String(repeating: "y", count: 1 << 20) + "\ncopy: *n\n"
        #expect(throws: Never.self) { try BoundedYAML.compose(reuse, file: "params.yaml") }
    }
}

@Suite struct SpecReferenceDocTests {
    /// docs/slipway-yaml.md names every key the parser accepts.
    @Test func everyKeyIsDocumented() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/slipway-yaml.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        for (place, keys) in SpecParser.allKeyLists {
            for key in keys {
                #expect(text.contains("`\(key)`") || text.contains("`\(key):") || text.contains(" \(key),") || text.contains("`\(key)\\|"),
                        "docs/slipway-yaml.md does not mention the \(place) key `\(key)`")
            }
        }
    }
}
