import Foundation

extension Provenance {
    /// Who and where this process runs, and the git state of the workspace.
    public static func collect(workspace: Workspace) -> Provenance {
        let env = ProcessInfo.processInfo.environment
        var git: (commit: String?, dirty: Bool?) = (nil, nil)
        if isInsideGitRepository(workspace.root), let commit = runGit(["rev-parse", "HEAD"], in: workspace.root) {
            let status = runGit(["status", "--porcelain", "--untracked-files=no"], in: workspace.root)
            git = (commit, status.map { !$0.isEmpty })
        }
        return Provenance(gitCommit: git.commit, gitDirty: git.dirty, user: currentUser(environment: env),
                          host: hostName(), slipwayVersion: Slipway.version)
    }

    public static func currentUser(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let u = environment["SLIPWAY_USER"], !u.isEmpty { return u }
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return environment["USER"] ?? "unknown"
    }

    public static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, 255)
        return String(cString: buf)
    }

    /// True when the folder or a parent has `.git` (checked without spawning git).
    static func isInsideGitRepository(_ dir: String) -> Bool {
        var d = dir
        while true {
            if FileSystem.exists(d + "/.git") { return true }
            let parent = (d as NSString).deletingLastPathComponent
            if parent == d || parent.isEmpty { return false }
            d = parent
        }
    }

    private static func runGit(_ args: [String], in dir: String) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", dir] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingWhitespace()
    }
}
