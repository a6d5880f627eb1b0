import Crypto
import Foundation

/// Writes a tar stream (POSIX ustar, with pax headers for long paths and big
/// files) to a file while hashing it, in one pass. Every entry is written the
/// same way every time: owner 0:0, no user or group names, a fixed mtime,
/// mode 0644 (0755 for folders and executables), so the same files give the
/// same bytes.
struct TarWriter {
    let fd: Int32
    let mtime: Int64
    private(set) var size: Int64 = 0
    private(set) var hasher = SHA256()
    private var buffer: [UInt8] = []

    init(fd: Int32, mtime: Int64) {
        self.fd = fd
        self.mtime = max(0, mtime)
        buffer.reserveCapacity(1 << 20)
    }

    enum Entry {
        case directory(path: String)
        case file(path: String, source: String, size: Int64, executable: Bool)
    }

    mutating func add(_ entry: Entry) throws {
        switch entry {
        case .directory(let path):
            try header(path: path.hasSuffix("/") ? path : path + "/", size: 0, mode: 0o755, type: UInt8(ascii: "5"))
        case .file(let path, let source, let size, let executable):
            try header(path: path, size: size, mode: executable ? 0o755 : 0o644, type: UInt8(ascii: "0"))
            let input = open(source, O_RDONLY | O_CLOEXEC)
            guard input >= 0 else { throw FileSystem.Failure(path: source, operation: "open", code: errno) }
            defer { close(input) }
            var remaining = size
            let chunk = 1 << 20
            var data = [UInt8](repeating: 0, count: chunk)
            while remaining > 0 {
                let want = Int(min(Int64(chunk), remaining))
                let n = data.withUnsafeMutableBytes { read(input, $0.baseAddress, want) }
                if n < 0 { if errno == EINTR { continue }; throw FileSystem.Failure(path: source, operation: "read", code: errno) }
                if n == 0 { throw FileSystem.Failure(path: source, operation: "read (the file shrank while packaging)", code: EIO) }
                try emit(data[0..<n])
                remaining -= Int64(n)
            }
            let pad = Int((512 - size % 512) % 512)
            if pad > 0 { try emit([UInt8](repeating: 0, count: pad)[...]) }
        }
    }

    /// Ends the archive (two zero blocks) and flushes; returns the digest and size.
    mutating func finish() throws -> (digest: String, size: Int64) {
        try emit([UInt8](repeating: 0, count: 1024)[...])
        try flush()
        return ("sha256:" + Digests.hex(hasher.finalize()), size)
    }

    private mutating func header(path: String, size: Int64, mode: Int, type: UInt8) throws {
        var name = Array(path.utf8), prefix: [UInt8] = []
        var pax: [String: String] = [:]
        if name.count > 100 {
            // Split at a slash into prefix (≤ 155) and name (≤ 100), else a pax header.
            if let cut = name.indices.reversed().first(where: { name[$0] == UInt8(ascii: "/") && $0 <= 155 && name.count - $0 - 1 <= 100 && $0 > 0 }) {
                prefix = Array(name[..<cut])
                name = Array(name[(cut + 1)...])
            } else {
                pax["path"] = path
                name = Array(String(path.suffix(90)).utf8.suffix(99))
            }
        }
        if size > 0o77777777777 { pax["size"] = String(size) }
        if !pax.isEmpty {
            var records: [UInt8] = []
            for (k, v) in pax.sorted(by: { $0.key < $1.key }) {
                let body = " \(k)=\(v)\n"
                var length = body.utf8.count + 1
                while String(length).utf8.count + body.utf8.count != length { length = String(length).utf8.count + body.utf8.count }
                records.append(contentsOf: Array("\(length)\(body)".utf8))
            }
            try block(name: Array("PaxHeaders/\(name.count > 80 ? String(decoding: name.suffix(80), as: UTF8.self) : String(decoding: name, as: UTF8.self))".utf8.prefix(100)),
                      prefix: [], size: Int64(records.count), mode: 0o644, type: UInt8(ascii: "x"))
            try emit(records[...])
            let pad = (512 - records.count % 512) % 512
            if pad > 0 { try emit([UInt8](repeating: 0, count: pad)[...]) }
        }
        try block(name: name, prefix: prefix, size: min(size, 0o77777777777), mode: mode, type: type)
    }

    private mutating func block(name: [UInt8], prefix: [UInt8], size: Int64, mode: Int, type: UInt8) throws {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int, max: Int) {
            for (i, b) in bytes.prefix(max).enumerated() { h[offset + i] = b }
        }
        func octal(_ value: Int64, at offset: Int, width: Int) {
            let digits = Array(String(value, radix: 8).utf8)
            let padded = [UInt8](repeating: UInt8(ascii: "0"), count: max(0, width - 1 - digits.count)) + digits
            put(padded, at: offset, max: width - 1)
        }
        put(name, at: 0, max: 100)
        octal(Int64(mode), at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(mtime, at: 136, width: 12)
        h[156] = type
        put(Array("ustar".utf8) + [0], at: 257, max: 6)
        put(Array("00".utf8), at: 263, max: 2)
        octal(0, at: 329, width: 8)
        octal(0, at: 337, width: 8)
        put(prefix, at: 345, max: 155)
        for i in 148..<156 { h[i] = UInt8(ascii: " ") }
        let sum = h.reduce(0) { $0 + Int($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        put([UInt8](repeating: UInt8(ascii: "0"), count: max(0, 6 - digits.count)) + digits + [0, UInt8(ascii: " ")], at: 148, max: 8)
        try emit(h[...])
    }

    private mutating func emit(_ bytes: ArraySlice<UInt8>) throws {
        hasher.update(data: bytes)
        size += Int64(bytes.count)
        if bytes.count >= 64 << 10 {
            // File contents: written straight from the read buffer, not copied again.
            try flush()
            try bytes.withUnsafeBytes { try writeAll($0) }
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func writeAll(_ raw: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, raw.count - off)
            if n < 0 { if errno == EINTR { continue }; throw FileSystem.Failure(path: "layer", operation: "write", code: errno) }
            off += n
        }
    }

    private mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }
}
