import Foundation

extension Provenance {
    /// Who and where this process runs, and the git state of the workspace.
    public static func collect(workspace: Workspace) -> Provenance {
        let env = ProcessInfo.processInfo.environment
        let git = GitState.read(workspace: workspace)
        return Provenance(gitCommit: git?.commit, gitDirty: git?.dirty, user: currentUser(environment: env),
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
        let name = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: name, as: UTF8.self)
    }
}
