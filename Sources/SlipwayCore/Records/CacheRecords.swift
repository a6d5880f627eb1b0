import Foundation

/// A reusable stage result: the outputs (path → content hash) a stage with
/// these inputs produced.
public struct CacheEntry: Codable, Sendable, Hashable {
    public var key: String
    public var pipeline: String
    public var stage: String
    public var stageRunID: Int64
    public var outputs: [String: String]
    public var createdAt: Millis

    public init(key: String, pipeline: String, stage: String, stageRunID: Int64, outputs: [String: String], createdAt: Millis) {
        self.key = key
        self.pipeline = pipeline
        self.stage = stage
        self.stageRunID = stageRunID
        self.outputs = outputs
        self.createdAt = createdAt
    }
}

/// A stage a run restored from the cache, as the registry records it.
public struct RestoredStage: Sendable, Hashable {
    /// The stage run, finished (`cached`), with its inputs, key and reason.
    public var stageRun: StageRunRecord
    /// The stage run whose results it reuses: its metrics and validation reports are copied.
    public var source: Int64
    /// The deps it read: path → content hash.
    public var datasets: [String: String]
    /// The outs it restored: path → content hash.
    public var outputs: [String: String]

    public init(stageRun: StageRunRecord, source: Int64, datasets: [String: String], outputs: [String: String]) {
        self.stageRun = stageRun
        self.source = source
        self.datasets = datasets
        self.outputs = outputs
    }
}

/// What a file looked like when it was hashed: an unchanged size, mtime and
/// inode means an unchanged hash.
public struct FileState: Codable, Sendable, Hashable {
    public var path: String
    public var size: Int64
    public var mtimeNanos: Int64
    public var inode: Int64
    public var hash: String

    public init(path: String, size: Int64, mtimeNanos: Int64, inode: Int64, hash: String) {
        self.path = path
        self.size = size
        self.mtimeNanos = mtimeNanos
        self.inode = inode
        self.hash = hash
    }
}
