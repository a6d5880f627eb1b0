import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayTracking

extension ServiceFixture {
    /// Uploads `text` as the HTTP layer does: streamed, then finished.
    func put(_ path: String, _ text: String) throws -> TrackingResponse {
        let upload: ArtifactUpload
        do {
            upload = try service.upload(scope, path: TrackingService.artifactsPrefix + "/" + path)
        } catch let e as MLflowError {
            return .error(e)
        }
        let bytes = Array(text.utf8)
        // In two pieces, as a body arrives.
        try bytes.prefix(bytes.count / 2).withUnsafeBytes { try upload.write($0) }
        try bytes.dropFirst(bytes.count / 2).withUnsafeBytes { try upload.write($0) }
        return service.finished(scope, upload: upload)
    }

    func get(_ path: String) throws -> (status: Int, text: String?) {
        let r = service.handle(TrackingRequest(method: "GET", path: TrackingService.artifactsPrefix + "/" + path), scope: scope)
        guard case .file(let fd, let size) = r.body else { return (r.status, nil) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: Int(size))
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(size), 0) }
        return (r.status, String(decoding: buffer.prefix(max(0, n)), as: UTF8.self))
    }

    func list(_ dir: String) throws -> [[String: Any]] {
        let r = try call("GET", TrackingService.artifactsPrefix, query: [("path", dir)])
        return r.json["files"] as? [[String: Any]] ?? []
    }
}

@Suite struct ArtifactTests {
    @Test func anUploadLandsInTheStagesAreaWithItsDigest() throws {
        let f = try ServiceFixture()
        #expect(try f.put("train/report/summary.txt", "hello artifacts").status == 200)
        let onDisk = try String(contentsOfFile: f.root + "/mlflow-artifacts/train/report/summary.txt", encoding: .utf8)
        #expect(onDisk == "hello artifacts")
        #expect(f.sink.artifacts.count == 1)
        #expect(f.sink.artifacts.first?.path == "mlflow-artifacts/train/report/summary.txt")
        // sha256 of "hello artifacts"
        #expect(f.sink.artifacts.first?.digest == "sha256:" + sha256Hex("hello artifacts"))
        #expect(f.sink.artifacts.first?.size == 15)

        #expect(try f.get("train/report/summary.txt").text == "hello artifacts")
        let top = try f.list("train")
        #expect(top.map { $0["path"] as? String } == ["report"])
        #expect(top.first?["is_dir"] as? Bool == true)
        let inner = try f.list("train/report")
        #expect(inner.first?["path"] as? String == "summary.txt")
        #expect(inner.first?["file_size"] as? Int == 15)
        #expect(try f.get("train/report/missing.txt").status == 404)
        // No temporary file is left beside it.
        let names = try FileManager.default.contentsOfDirectory(atPath: f.root + "/mlflow-artifacts/train/report")
        #expect(names == ["summary.txt"])
    }

    @Test func pathsStayInsideTheStagesArea() throws {
        let f = try ServiceFixture()
        let outside = f.root + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        for bad in ["train/../escape.txt", "train/./x", "train//x", "train/a/../../b", "other/x.txt", "../x", "/etc/passwd",
                    "train/\u{1b}x", "train/.slipway-upload-x"] {
            let r = try f.put(bad, "no")
            #expect(r.status == 400 || r.status == 403, "\(bad) answered \(r.status)")
        }
        // A symlink planted inside the area is never followed, to write or to read.
        try FileManager.default.createDirectory(atPath: f.root + "/mlflow-artifacts/train", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: f.root + "/mlflow-artifacts/train/link", withDestinationPath: outside)
        #expect(try f.put("train/link/owned.txt", "no").status >= 400)
        #expect(!FileManager.default.fileExists(atPath: outside + "/owned.txt"))
        try "secret".write(toFile: outside + "/secret.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: f.root + "/mlflow-artifacts/train/secret.txt", withDestinationPath: outside + "/secret.txt")
        #expect(try f.get("train/secret.txt").status == 404)
        #expect(try f.get("train/link/secret.txt").status == 404)
        #expect(try f.list("train/link").isEmpty)
        // Listing shows neither link.
        #expect(try f.list("train").isEmpty)
        #expect(f.sink.artifacts.isEmpty)
    }

    @Test func theRunsArtifactListingSpeaksInRunPaths() throws {
        let f = try ServiceFixture()
        #expect(try f.put("train/a.txt", "1").status == 200)
        #expect(try f.put("train/dir/b.txt", "22").status == 200)
        let listed = try f.api("GET", "artifacts/list", query: [("run_id", f.runID), ("path", "dir")]).json
        #expect(listed["root_uri"] as? String == "mlflow-artifacts:/train")
        #expect((listed["files"] as? [[String: Any]])?.first?["path"] as? String == "dir/b.txt")
    }
}

func sha256Hex(_ s: String) -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    let input = Pipe(), output = Pipe()
    p.standardInput = input
    p.standardOutput = output
    try? p.run()
    input.fileHandleForWriting.write(Data(s.utf8))
    try? input.fileHandleForWriting.close()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(String(decoding: out, as: UTF8.self).prefix(64))
}

/// What a stage leaves behind when it ends in the middle of an upload, or plants in its folder.
@Suite struct ArtifactEndTests {
    /// The files in the stage's folder, hidden ones included.
    func files(_ f: ServiceFixture) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: f.root + "/mlflow-artifacts/train")) ?? []
    }

    @Test func anUploadUnderWayWhenTheStageEndsLeavesNothing() throws {
        let f = try ServiceFixture()
        let scope = f.scope
        let upload = try f.service.upload(scope, path: TrackingService.artifactsPrefix + "/train/late.bin")
        try Array(repeating: UInt8(7), count: 1000).withUnsafeBytes { try upload.write($0) }
        #expect(files(f).count == 1)  // the partial file, under its temporary name
        _ = f.service.close(token: f.token)
        // Gone before the run reads the stage's outputs, and nothing more lands.
        #expect(files(f).isEmpty)
        #expect(throws: MLflowError.self) { try [UInt8(1)].withUnsafeBytes { try upload.write($0) } }
        #expect(f.service.finished(scope, upload: upload).status == 403)
        #expect(files(f).isEmpty)
        #expect(f.sink.artifacts.isEmpty)
        // A request that found the scope before it closed cannot start another.
        #expect(throws: MLflowError.self) { try f.service.upload(scope, path: TrackingService.artifactsPrefix + "/train/later.bin") }
        #expect(files(f).isEmpty)
    }

    @Test func aFIFOInTheFolderIsRefusedWithoutWaiting() throws {
        let f = try ServiceFixture()
        #expect(try f.put("train/ok.txt", "fine").status == 200)
        #expect(mkfifo(f.root + "/mlflow-artifacts/train/pipe", 0o644) == 0)
        // Opening it for reading would wait for a writer: it is not opened that way.
        #expect(try f.get("train/pipe").status == 404)
        #expect(try f.get("train/ok.txt").text == "fine")
    }
}
