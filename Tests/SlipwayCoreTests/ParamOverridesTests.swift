import Testing
@testable import SlipwayCore

/// `run --set` and `run --sweep` arguments: resolved against the known
/// params, refused with the argument named when wrong.
@Suite struct ParamOverridesTests {
    let known: Set<String> = ["train.lr", "train.epochs", "model.arch", "data.arch"]

    @Test func fullAndShortNamesResolve() throws {
        let o = try ParamOverrides.parse(sets: ["train.lr=0.05", "epochs = 3"], known: known)
        #expect(o == [ParamOverride(key: "train.lr", value: "0.05"), ParamOverride(key: "train.epochs", value: "3")])
        let p = ParamOverrides.apply(o, to: Params(values: ["train.lr": "0.1", "model.arch": "small"]))
        #expect(p.values == ["train.lr": "0.05", "train.epochs": "3", "model.arch": "small"])
        // A value may hold '=' and ','.
        #expect(try ParamOverrides.parse(sets: ["model.arch=a=b,c"], known: known).first?.value == "a=b,c")
    }

    @Test func mistakesNameTheArgument() throws {
        func problem(_ arg: String) -> String {
            do { _ = try ParamOverrides.parse(sets: [arg], known: known); return "" } catch { return error.description }
        }
        #expect(problem("arch=large") == "--set 'arch=large': 'arch' could be any of data.arch, model.arch: give the full name")
        #expect(problem("lr") == "--set 'lr': expected KEY=VALUE")
        #expect(problem("=1") == "--set '=1': no param name before '='")
        #expect(problem("train.lr=") == "--set 'train.lr=': no value after '='")
        #expect(problem("train.lrr=1").hasPrefix("--set 'train.lrr=1': no param named 'train.lrr' in params.yaml or a stage's params (known: "))
        #expect(problem("train.lr=1\u{1B}[2J") == "--set 'train.lr=1^[[2J': the value holds a control character (U+001B)")
        #expect(problem("train.lr=1\u{9B}2J").hasSuffix(": the value holds a control character (U+009B)"))
        #expect(problem("train.lr=0.1\u{200B}").hasSuffix(": the value holds an invisible character (U+200B)"))
        #expect(problem("train.lr=\u{202E}1.0").hasSuffix(": the value holds an invisible character (U+202E)"))
        // A name quoted in the problem is shown as safely as the argument.
        #expect(problem("train.lr\nslipway: run 99 succeeded=1") == "--set 'train.lr^Jslipway: run 99 succeeded=1': "
                + "no param named 'train.lr^Jslipway: run 99 succeeded' in params.yaml or a stage's params (known: data.arch, model.arch, train.epochs, train.lr)")
        #expect(problem("train.lr=0.1\u{2003}").hasSuffix(": the value holds a space or line break other than ' ' (U+2003)"))
        #expect(problem("train.lr=0.1\u{A0}").hasSuffix(": the value holds a space or line break other than ' ' (U+00A0)"))
        #expect(problem("train.lr=a\u{2028}b").hasSuffix(": the value holds a space or line break other than ' ' (U+2028)"))
        #expect(try ParamOverrides.parse(sets: ["train.lr=a b ✓"], known: known).first?.value == "a b ✓")
        func swept(_ arg: String) -> String {
            do { _ = try ParamOverrides.parse(sweeps: [arg], known: known); return "" } catch { return error.description }
        }
        #expect(swept("train.lr=0.1,") == "--sweep 'train.lr=0.1,': value 2 of 2 is empty (a stray ',')")
        #expect(swept("train.lr=") == "--sweep 'train.lr=': no value after '='")
        #expect(problem("train.lr=" + String(repeating: "9", count: 5000)).hasSuffix("the value is longer than 4096 bytes"))
        #expect(throws: ParamOverrideError.self) { try ParamOverrides.parse(sets: ["train.lr=1", "lr=2"], known: known) }
    }

    @Test func sweepsMultiplyFirstAxisSlowest() throws {
        let axes = try ParamOverrides.parse(sweeps: ["lr=0.1, 0.01", "model.arch=s,m,l"], known: known)
        #expect(axes.map(\.key) == ["train.lr", "model.arch"])
        let members = ParamOverrides.combinations(axes)
        #expect(members.count == 6)
        #expect(members[0].map(\.text) == ["train.lr=0.1", "model.arch=s"])
        #expect(members[5].map(\.text) == ["train.lr=0.01", "model.arch=l"])
        #expect(ParamOverrides.combinations([]).isEmpty)
        #expect(throws: ParamOverrideError.self) { try ParamOverrides.parse(sweeps: ["lr=0.1,,0.2"], known: known) }
        #expect(throws: ParamOverrideError.self) { try ParamOverrides.parse(sweeps: ["lr=0.1", "train.lr=0.2"], known: known) }
    }
}
