import Foundation
import Testing
@testable import SlipwayTracking

/// The direct reader of log-batch bodies answers what `JSONDecoder` would,
/// or gives up and lets the decoder answer.
@Suite struct LogBatchReaderTests {
    /// A request's content, comparable (NaN as its bits).
    static func summary(_ r: LogBatchRequest) -> String {
        func d(_ v: WireDouble?) -> String { v.map { String($0.value.bitPattern, radix: 16) } ?? "-" }
        func i(_ v: WireInt64?) -> String { v.map { String($0.value) } ?? "-" }
        func s(_ v: String?) -> String { v.map { "\"\($0)\"" } ?? "-" }
        let metrics = r.metrics.map { $0.map { "\(s($0.key)) \(d($0.value)) \(i($0.timestamp)) \(i($0.step)) \(s($0.model_id)) \(s($0.dataset_name)) \(s($0.dataset_digest))" } }
        let kv = { (xs: [WireKeyValue]?) in xs.map { $0.map { "\(s($0.key))=\(s($0.value))" } } }
        return "\(s(r.run_id)) \(metrics ?? ["nil"]) \(kv(r.params) ?? ["nil"]) \(kv(r.tags) ?? ["nil"])"
    }

    static func decoded(_ text: String) -> LogBatchRequest? {
        try? JSONDecoder().decode(LogBatchRequest.self, from: Data(text.utf8))
    }

    @Test func theClientsShapesReadAsTheDecoderReadsThem() throws {
        let bodies = [
            #"{"run_id": "abc", "metrics": [{"key": "loss", "value": 0.5, "timestamp": 1700000000000, "step": 3}], "params": [], "tags": []}"#,
            #"{"run_id":"abc","metrics":[{"key":"a","value":1,"timestamp":"12","step":"-4"},{"key":"b","value":"NaN","timestamp":0}]}"#,
            #"{"metrics": [{"key": "x", "value": "Infinity"}, {"key": "x", "value": "-Infinity", "step": null}, {"key": "y", "value": -0.0}]}"#,
            #"{"metrics": [{"key": "x", "value": 1e-7}, {"key": "x", "value": 0.1}, {"key": "x", "value": 123456789.123456789e3}, {"key": "x", "value": 5E+2}]}"#,
            #"{"metrics": [{"key": "x", "value": 0.30000000000000004, "model_id": "m-1", "dataset_name": "d", "dataset_digest": "f00"}]}"#,
            #"{"metrics": [{"key": "x", "value": 1, "timestamp": 9223372036854775807, "step": -9223372036854775808}]}"#,
            #" { "run_id" : null , "params" : [ { "key" : "lr" , "value" : "0.01" } ] , "tags" : [ {"key": "t", "value": null}, {} ] } "#,
            #"{"tags": [{"key": "précision", "value": "día"}], "metrics": null}"#,
            #"{}"#,
            #"{"metrics": []}"#,
            #"{"run_id": "r", "metrics": [{"key": "x", "value": 1, "timestamp": "5", "step": "0", "run_id": "r", "model_id": "m-1"}]}"#,
        ]
        for body in bodies {
            let fast = LogBatchReader.read(Array(body.utf8))
            let slow = Self.decoded(body)
            #expect(fast != nil, "read directly: \(body)")
            #expect(slow != nil, "decoded: \(body)")
            if let fast, let slow { #expect(Self.summary(fast) == Self.summary(slow), "\(body)") }
        }
    }

    /// What the reader leaves to the decoder: it never accepts what the decoder refuses.
    @Test func itGivesUpOnWhatItDoesNotTake() {
        let bodies = [
            #"{"metrics": [{"key": "a\"b", "value": 1}]}"#,               // an escape
            #"{"metrics": [{"key": "a", "value": 1, "extra": 2}]}"#,     // an unknown field
            #"{"metrics": [{"key": "a", "value": 1, "run_id": 2}]}"#,    // a field ignored, but not a string
            #"{"run_id": "a", "run_id": "b"}"#,                         // a repeated field
            #"{"metrics": [{"key": "a", "value": 1, "step": 1.0}]}"#,    // an integer with a fraction
            #"{"metrics": [{"key": "a", "value": 1, "step": 1e2}]}"#,
            #"{"metrics": [{"key": "a", "value": 1e999}]}"#,             // out of range
            #"{"metrics": [{"key": "a", "value": 01}]}"#,                // not JSON
            #"{"metrics": [{"key": "a", "value": .5}]}"#,
            #"{"metrics": [{"key": "a", "value": true}]}"#,
            #"{"metrics": [{"key": "a", "value": "one"}]}"#,
            #"{"metrics": [{"key": "a", "value": 1, "timestamp": 99999999999999999999}]}"#,
            #"{"metrics": [{"key": "a", "value": 1},]}"#,
            #"{"metrics": [null]}"#,
            #"{"metrics": [{"key": "a", "value": 1}]} x"#,
            #"{"metrics": [{"key": "a", "value": 1}]"#,
            #"[]"#,
            "",
        ]
        for body in bodies {
            #expect(LogBatchReader.read(Array(body.utf8)) == nil, "\(body)")
        }
        // Invalid UTF-8 inside a string.
        #expect(LogBatchReader.read(Array(#"{"run_id": ""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)) == nil)
    }

    /// At the edges of numbers: the reader gives up, or agrees with the
    /// decoder; it never takes what the decoder refuses.
    @Test func atTheEdgesOfNumbersItAgreesOrGivesUp() {
        let values = ["1e-400", "4.9e-324", "2.2250738585072011e-308", "1.7976931348623157e308", "1.7976931348623159e308",
                      "-0", "0e0", "-0.0e-0", "123456789012345678901234567890", "0.1e1", "1E400", "\"1e-400\"", "\"0x10\"", "\"nan\"",
                      "\" 1\"", "\"1_0\"", "9007199254740993"]
        let ints = ["0", "-0", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
                    "\"+5\"", "\" 5\"", "\"05\"", "1.5", "2e3", "\"-0\""]
        var bodies = values.map { #"{"metrics": [{"key": "k", "value": \#($0)}]}"# }
        bodies += ints.map { #"{"metrics": [{"key": "k", "value": 1, "step": \#($0), "timestamp": \#($0)}]}"# }
        for body in bodies {
            let slow = Self.decoded(body)
            guard let fast = LogBatchReader.read(Array(body.utf8)) else { continue }
            #expect(slow != nil, "taken but the decoder refuses: \(body)")
            if let slow { #expect(Self.summary(fast) == Self.summary(slow), "\(body)") }
        }
    }

    /// The bytes check of a key agrees with the full one on ASCII keys.
    @Test func theASCIIKeyCheckAgreesWithTheFullRules() {
        let keys = ["loss", "train/loss", "a:b-c.d_e", "val acc", "...", "a/.../b", ".hidden", "a.", "x/..y",
                    ".", "..", "a/./b", "a/../b", "/abs", "abs/", "a//b", "", "a\u{1b}", "a\tb", "a+b",
                    String(repeating: "k", count: 250), String(repeating: "k", count: 251)]
        for key in keys {
            let full = key.allSatisfy(Names.isKeyCharacter) && Names.isNormalPath(key) && key.count <= Names.maxKeyLength
            #expect(Names.isValidASCIIKey(key) == full, "\(key)")
            #expect(((try? Names.checkKey(key, field: "k")) != nil) == full, "\(key)")
        }
    }
}
