import Foundation

/// A monitor's reference data, profiled once: its columns' sorted numbers and
/// category counts kept in `.slipway/monitors/NAME/reference.bin`, keyed by
/// the reference's content hash. Every batch is compared with it without
/// reading the reference again.
struct ReferenceCache {
    let path: String

    struct Header: Codable {
        var sha256: String
        var rows: Int
        var columns: [Column]
        struct Column: Codable {
            var name: String
            var type: String
            var numbers: Int
            var counts: [String: Int]
            var countsTruncated: Bool
            var present: Int
            var missing: Int
        }
    }

    init(workspace: Workspace, monitor: String) {
        path = workspace.stateDir + "/monitors/\(monitor)/reference.bin"
    }

    /// The cached profile when it is of data with this hash.
    func load(sha256: String, name: String) -> DatasetProfile? {
        guard let data = try? FileSystem.readFile(path), let newline = data.firstIndex(of: UInt8(ascii: "\n")),
              let header = try? JSONDecoder().decode(Header.self, from: data[data.startIndex..<newline]), header.sha256 == sha256 else { return nil }
        var offset = newline + 1
        var columns: [ColumnProfile] = []
        for c in header.columns {
            guard let type = DataSchema.ColumnType(rawValue: c.type) else { return nil }
            var p = ColumnProfile(name: c.name, type: type)
            let bytes = c.numbers * 8
            guard offset + bytes <= data.endIndex else { return nil }
            p.numbers = [Double](repeating: 0, count: c.numbers)
            _ = p.numbers.withUnsafeMutableBytes { dst in data.copyBytes(to: dst, from: offset..<(offset + bytes)) }
            offset += bytes
            p.counts = c.counts
            p.countsTruncated = c.countsTruncated
            p.present = c.present
            p.missing = c.missing
            p.sorted = true
            columns.append(p)
        }
        return DatasetProfile(path: name, rows: header.rows, columns: columns)
    }

    /// Keeps a profile whose numbers are sorted (written beside, then renamed).
    func save(_ profile: DatasetProfile, sha256: String) {
        let header = Header(sha256: sha256, rows: profile.rows, columns: profile.columns.map {
            .init(name: $0.name, type: $0.type.rawValue, numbers: $0.numbers.count, counts: $0.counts, countsTruncated: $0.countsTruncated,
                  present: $0.present, missing: $0.missing)
        })
        guard var data = try? JSONEncoder.sorted.encode(header) else { return }
        data.append(UInt8(ascii: "\n"))
        for c in profile.columns { c.numbers.withUnsafeBytes { data.append(contentsOf: $0) } }
        try? FileSystem.makeDirectory((path as NSString).deletingLastPathComponent)
        try? FileSystem.writeFile(path, data)
    }
}
