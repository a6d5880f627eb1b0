import Foundation
import Testing
@testable import SlipwayEngine

/// Collects records as strings, for assertions.
struct Recorder: RecordSink {
    var names: [String] = []
    var rows: [[String]] = []
    var lines: [Int] = []

    mutating func header(_ names: [String], file: String) throws { self.names = names }
    mutating func record(_ fields: UnsafeBufferPointer<Field>, line: Int) throws {
        rows.append(fields.map { String(decoding: $0.bytes, as: UTF8.self) })
        lines.append(line)
    }
}

func tempFile(_ bytes: [UInt8], suffix: String = ".csv") -> String {
    let path = NSTemporaryDirectory() + "slipway-csv-\(UUID().uuidString)\(suffix)"
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

func readCSV(_ text: String) throws -> Recorder {
    var r = Recorder()
    try CSVReader(path: tempFile(Array(text.utf8)), displayName: "d.csv").read(into: &r)
    return r
}

func csvError(_ bytes: [UInt8]) -> DataFileError? {
    var r = Recorder()
    do { try CSVReader(path: tempFile(bytes), displayName: "d.csv").read(into: &r); return nil } catch { return error as? DataFileError }
}

@Suite struct CSVReaderTests {
    @Test func rfc4180QuotingAndLineEndings() throws {
        let r = try readCSV("\u{FEFF}a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\r\n2,\"multi\nline\",\r\n\n3,,\"\"\n")
        #expect(r.names == ["a", "b", "c"])
        #expect(r.rows == [["1", "x, y", "say \"hi\""], ["2", "multi\nline", ""], ["3", "", ""]])
        #expect(r.lines == [2, 3, 6])
    }

    @Test func lastLineWithoutNewline() throws {
        #expect(try readCSV("a,b\n1,2").rows == [["1", "2"]])
        #expect(try readCSV("a,b\n1,\"2\"").rows == [["1", "2"]])
        #expect(try readCSV("a\n\"\"").rows == [[""]])
    }

    @Test func recordsSpanningReadChunks() throws {
        // Larger than one 4 MiB read, with a quoted field across the boundary.
        var text = "id,text\n"
        let long = String(repeating: "z", count: 1000)
        for i in 0..<5000 { text += "\(i),\"\(long),\n\(i)\"\n" }
        let r = try readCSV(text)
        #expect(r.rows.count == 5000)
        #expect(r.rows[4999] == ["4999", "\(long),\n4999"])
        #expect(r.lines[4999] == 2 + 2 * 4999)
    }

    @Test func raggedRowNamesLineAndColumn() {
        let e = csvError(Array("a,b,c\n1,2,3\n4,5\n".utf8))
        #expect(e?.description == "d.csv:3:3: has 2 fields, the header has 3 (ragged row)")
    }

    @Test func unterminatedQuote() {
        let e = csvError(Array("a,b\n1,\"open\n2,3\n".utf8))
        #expect(e?.line == 2)
        #expect(e?.message.contains("unterminated quote") == true)
    }

    @Test func emptyAndHeaderOnly() throws {
        #expect(csvError([])?.message == "is empty (no header row)")
        let r = try readCSV("a,b\n")
        #expect(r.names == ["a", "b"] && r.rows.isEmpty)
    }

    @Test func hugeLineIsRefusedNotBuffered() {
        var bytes = Array("a\n".utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "x"), count: CSVReader.maxRecordBytes + 10)
        let e = csvError(bytes)
        #expect(e?.message.contains("longer than 16 MiB") == true)
    }
}

@Suite struct ValidatorTests {
    func validate(_ csv: String, schema: String? = nil, reference: String? = nil) throws -> ValidationReport {
        let s = try schema.map { try DataSchema.parse(yaml: $0, file: "schema.yaml") }
        return try DataValidator.validate(dataPath: tempFile(Array(csv.utf8)), dataName: "d.csv", schema: s,
                                          referencePath: reference.map { tempFile(Array($0.utf8)) }, referenceName: "ref.csv")
    }

    @Test func schemaChecksSayWhichColumnFailedByHowMuch() throws {
        let r = try validate("""
        id,temp,kind,flag,when
        1,10.5,a,true,2024-01-01
        2,NA,b,false,2024-01-02T10:00:00Z
        2,55,zz,maybe,not-a-date
        4,abc,a,true,
        """, schema: """
        min_rows: 5
        extra_columns: fail
        columns:
          id: {type: int, unique: true}
          temp: {type: float, min: 0, max: 50, max_missing: 0.1}
          kind: {type: string, allowed: [a, b]}
          flag: {type: bool}
          when: {type: timestamp, min: "2024-01-01"}
          gone: {type: float}
        """)
        #expect(!r.passed)
        func check(_ column: String?, _ name: String) -> ValidationReport.Check? { r.checks.first { $0.column == column && $0.check == name } }
        #expect(check(nil, "min_rows")?.message == "4 rows, fewer than min_rows 5 (short by 1)")
        #expect(check("id", "unique")?.message == "1 duplicate value")
        #expect(check("temp", "type")?.message == "1 value is not a float (first at line 5: 'abc')")
        #expect(check("temp", "max")?.message == "1 value above max 50 (largest 55, 5 over)")
        #expect(check("temp", "max_missing")?.passed == false)
        #expect(check("temp", "max_missing")?.value == 0.25)
        #expect(check("kind", "allowed")?.message == "1 value not allowed: 'zz' ×1")
        #expect(check("flag", "type")?.passed == false)
        #expect(check("when", "type")?.message.contains("line 4") == true)
        #expect(check("gone", "required")?.message == "is missing from the data")
        #expect(r.failures.count == 9)
    }

    @Test func rangesAreJudgedOnSortedValues() throws {
        let r = try validate("x\n70\n3\n-9\n60\n5\n", schema: "columns:\n  x: {type: float, min: -5, max: 50}\n", reference: "x\n1\n2\n")
        #expect(r.checks.first { $0.check == "min" }?.message == "1 value below min -5 (smallest -9, 4 under)")
        #expect(r.checks.first { $0.check == "max" }?.message == "2 values above max 50 (largest 70, 20 over)")
    }

    @Test func specialNumbersAreInvalidNotCrashes() throws {
        let r = try validate("x\n1\n1e400\ninf\n-inf\nnan\n2\n", schema: "columns:\n  x: {type: float, max_missing: 0.5}\n")
        let type = r.checks.first { $0.check == "type" }
        #expect(type?.value == 3)
        #expect(r.checks.first { $0.check == "max_missing" }?.value == 1.0 / 6.0)
    }

    @Test func duplicateColumnNames() {
        #expect(throws: DataFileError.self) { try validate("a,b,a\n1,2,3\n") }
    }

    @Test func invalidUTF8IsAFailedCheck() throws {
        let bytes: [UInt8] = Array("s\nok\n".utf8) + [0xFF, 0xFE, 0x0A]
        let r = try DataValidator.validate(dataPath: tempFile(bytes), dataName: "d.csv",
                                           schema: try DataSchema.parse(yaml: "columns:\n  s: {type: string}\n", file: "s.yaml"),
                                           referencePath: nil, referenceName: nil)
        #expect(r.checks.first { $0.check == "type" }?.message.contains("not valid UTF-8 text (first at line 3") == true)
    }

    @Test func driftUsesEvidentlyDefaultsAndExplainsTheShift() throws {
        var ref = "x,c\n", cur = "x,c\n"
        for i in 0..<1500 { ref += "\(i % 100),\(["a", "b", "c"][i % 3])\n" }
        for i in 0..<1500 { cur += "\(i % 100 + 30),\(i % 5 == 0 ? "b" : "a")\n" }
        let r = try validate(cur, reference: ref)
        let x = try #require(r.drift.first { $0.column == "x" })
        #expect(x.method == "Wasserstein (normed)")  // reference > 1000 rows
        #expect(x.drifted)
        #expect(x.detail.contains("mean 49.5 → 79.5"))
        for key in ["ks_statistic", "ks_pvalue", "wasserstein", "wasserstein_normed", "psi", "jensen_shannon"] {
            #expect(x.statistics[key] != nil, "\(key)")
        }
        let c = try #require(r.drift.first { $0.column == "c" })
        #expect(c.method == "Jensen-Shannon")
        #expect(c.detail.contains("most moved: 'a' 33.3% → 80%"))
        #expect(r.driftShare == 1)
        #expect(!r.passed)

        // A small reference uses KS and chi-square p-values.
        let small = try validate("x\n1\n2\n3\n", reference: "x\n1\n2\n3\n")
        #expect(small.drift.first?.method == "KS p-value")
        #expect(small.passed)
    }

    @Test func perColumnDriftOverrides() throws {
        let r = try validate("x,y\n1,1\n2,2\n", schema: """
        columns:
          x: {type: float, drift: {method: psi, threshold: 0.5}}
          y: {type: float, drift: false}
        """, reference: "x,y\n1,1\n2,2\n")
        #expect(r.drift.map(\.column) == ["x"])
        #expect(r.drift[0].method == "PSI" && r.drift[0].threshold == 0.5)
    }

    @Test func badSchemaNamesItsPlace() {
        do {
            _ = try DataSchema.parse(yaml: "columns:\n  x: {type: flaot, mni: 3}\ndrift_share: 2\n", file: "schema.yaml")
            Issue.record("expected errors")
        } catch {
            let text = error.issues.map(\.description)
            #expect(text.contains("schema.yaml:2:13: columns.x.type: unknown type 'flaot'; types: int, float, string, bool, timestamp"))
            #expect(text.contains { $0.contains("columns.x.mni: unknown rule (did you mean 'min'?)") })
            #expect(text.contains { $0.contains("drift_share: is a fraction in (0, 1]") })
        }
    }

    @Test func jsonLines() throws {
        let path = tempFile(Array("{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2.5, \"b\": null}\n".utf8), suffix: ".jsonl")
        let r = try DataValidator.validate(dataPath: path, dataName: "d.jsonl",
                                           schema: try DataSchema.parse(yaml: "columns:\n  a: {type: float}\n  b: {type: string, max_missing: 0}\n", file: "s"),
                                           referencePath: nil, referenceName: nil)
        #expect(r.rows == 2)
        #expect(r.checks.first { $0.column == "b" && $0.check == "max_missing" }?.passed == false)
        let bad = tempFile(Array("{\"a\": 1}\n{oops\n".utf8), suffix: ".jsonl")
        #expect(throws: DataFileError.self) {
            _ = try DataValidator.validate(dataPath: bad, dataName: "d.jsonl", schema: nil, referencePath: nil, referenceName: nil)
        }
    }

    @Test func numbersParseExactly() {
        for text in ["0", "-0.5", "12.345678", "1e-7", "3.14159265358979", "123456789012345678901234", "0.1", "2.5E+10", " 7 "] {
            let v = Array(text.utf8).withUnsafeBytes { FastNumbers.parseDouble($0) }
            #expect(v == Double(text.trimmingCharacters(in: .whitespaces)), "\(text)")
        }
        for text in ["", "abc", "1.2.3", "--1", "0x10", "1e", "inf"] {
            #expect(Array(text.utf8).withUnsafeBytes { FastNumbers.parseDouble($0) } == nil, "\(text)")
        }
        var xs = (0..<20_000).map { _ in Double.random(in: -1e6...1e6) } + [0, -0.0, 1e-300, -1e300]
        var expected = xs
        expected.sort()
        FastNumbers.radixSort(&xs)
        #expect(xs == expected)
    }
}
