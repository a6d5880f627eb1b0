import Foundation
import Testing
@testable import SlipwayCore

/// The fast reader of flat JSON objects answers what `JSONDecoder` answers,
/// or leaves the answer to it.
@Suite struct FlatJSONTests {
    /// `FlatJSON.decodeStrings` and `JSONDecoder` agree: the same map, or both refuse.
    func agree(_ text: String, fast expectFast: Bool? = nil, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        agree(Data(text.utf8), fast: expectFast, sourceLocation: sourceLocation)
    }

    func agree(_ data: Data, fast expectFast: Bool? = nil, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let reference = try? JSONDecoder().decode([String: String].self, from: data)
        let ours = try? FlatJSON.decodeStrings(data)
        #expect(ours == reference, "\(String(decoding: data, as: UTF8.self))", sourceLocation: sourceLocation)
        if let expectFast {
            #expect((FlatJSON.strings(data) != nil) == expectFast, "\(String(decoding: data, as: UTF8.self))", sourceLocation: sourceLocation)
        }
    }

    @Test func stringMapsReadTheWayJSONDecoderReadsThem() throws {
        agree(#"{}"#, fast: true)
        agree(#"{"out\/908.txt":"cfd8725d4592d22b15a6e35f08dfd4fee1b2d8bb4fa4f7d0c2323680c13fc44d"}"#, fast: true)
        agree(#" { "a" : "1" , "b":"2" } "#, fast: true)
        agree(#"{"esc":"q\" b\\ s\/ \b\f\n\r\t"}"#, fast: true)
        agree(#"{"u":"\u00e9\u4e2d\uD83D\uDE00 é 😀"}"#, fast: true)
        agree(#"{"données/x.csv":"h"}"#, fast: true)
        // Left to JSONDecoder, which refuses or reads them its own way.
        agree(#"{"lone":"\uD83D"}"#, fast: false)
        agree(#"{"low":"\uDE00x"}"#, fast: false)
        agree(#"{"a":"1","a":"2"}"#, fast: false)
        agree(#"{"n":1}"#, fast: false)
        agree(#"{"n":null}"#, fast: false)
        agree(#"{"nested":{"a":"b"}}"#, fast: false)
        agree(#"{"a":["b"]}"#, fast: false)
        agree(#"{"a":"b",}"#, fast: false)
        agree(#"{"a":"b"} x"#, fast: false)
        agree(#"{"a":"b""#, fast: false)
        agree(#"{"a":"b\x"}"#, fast: false)
        agree(#"{"a":"\u12"}"#, fast: false)
        agree("{\"tab\":\"a\tb\"}", fast: false)
        agree(#"["a"]"#, fast: false)
        agree("", fast: false)
        agree(Data([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]), fast: false)
    }

    @Test func whatEncodableWritesIsReadBackByTheFastPath() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abc/._-\"\\\n\té中😀 ") + [Character(Unicode.Scalar(0x01)), Character(Unicode.Scalar(0x7F))]
        for _ in 0..<300 {
            var map: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &generator) {
                let key = String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
                map[key] = String((0..<Int.random(in: 0...20, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            }
            for encoder in [JSONEncoder.sorted, JSONEncoder()] {
                let data = try encoder.encode(map)
                #expect(FlatJSON.strings(data) == map, "\(String(decoding: data, as: UTF8.self))")
            }
        }
    }

    @Test func numbersBooleansAndNullsAreReadAsJSONDecoderReadsThem() throws {
        struct Probe: Decodable, Equatable { var d: Double?; var b: Bool?; var s: String? }
        for text in [#"{"d":0.004,"b":true,"s":null}"#, #"{"d":-0,"b":false}"#, #"{"d":1e3}"#, #"{"d":12.5E-2}"#,
                     #"{"d":1.7976931348623157e308}"#, #"{"d":5e-324}"#, #"{"d":0.1}"#, #"{"d":0e-400}"#, #"{"d":-0.000e5}"#, #"{"d":123456789012345678901234567890}"#] {
            let reference = try JSONDecoder().decode(Probe.self, from: Data(text.utf8))
            let m = try #require(FlatJSON.object(Data(text.utf8)), "\(text)")
            if case .number(let d)? = m["d"] { #expect(d.bitPattern == reference.d?.bitPattern, "\(text)") }
            if case .bool(let b)? = m["b"] { #expect(b == reference.b, "\(text)") }
        }
        for bad in [#"{"d":01}"#, #"{"d":1.}"#, #"{"d":.5}"#, #"{"d":-}"#, #"{"d":1e}"#, #"{"d":1e400}"#, #"{"d":+1}"#, #"{"d":tru}"#,
                    // Not zero, but rounds to it: JSONDecoder refuses these.
                    #"{"d":1e-400}"#, #"{"d":-1e-400}"#, #"{"d":2e-324}"#, #"{"d":0.0000001e-330}"#] {
            #expect(throws: (any Error).self, "\(bad)") { try JSONDecoder().decode(Probe.self, from: Data(bad.utf8)) }
            #expect(FlatJSON.object(Data(bad.utf8)) == nil, "\(bad)")
        }
    }

    @Test func jobStatusesReadTheSameByEitherPath() throws {
        let statuses = [
            JobStatus(executor: "local", jobID: "5129", state: "COMPLETED", node: "vm", elapsed: 0.004, exitCode: "0:0"),
            JobStatus(executor: "slurm", jobID: "12", state: "PENDING", reason: "Resources", requested: "partition=gpu cpus=8",
                      allocated: "cpu=8,mem=32G", elapsed: 61.25, queued: 3, timeLimit: "2:00:00", exitCode: nil),
            JobStatus(executor: "slurm", state: "RUNNING"),
        ]
        for status in statuses {
            let data = try JSONEncoder.sorted.encode(status)
            #expect(try JobStatus.decode(data) == status)
            #expect(JobStatus(try #require(FlatJSON.object(data))) == status)
        }
        // What the synthesised Decodable refuses, the fast path leaves to it.
        for text in [#"{"state":"RUNNING"}"#, #"{"executor":"local","state":null}"#, #"{"executor":"local","state":"X","elapsed":"1"}"#,
                     #"{"executor":"local","state":"X","node":3}"#] {
            #expect(JobStatus(try #require(FlatJSON.object(Data(text.utf8)))) == nil, "\(text)")
            #expect(throws: (any Error).self) { try JobStatus.decode(Data(text.utf8)) }
        }
        // Unknown members are ignored, as Decodable ignores them.
        let extra = Data(#"{"executor":"local","state":"COMPLETED","later":{"x":1}}"#.utf8)
        #expect(try JobStatus.decode(extra) == JobStatus(executor: "local", state: "COMPLETED"))
    }
}
