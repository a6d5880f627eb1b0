import Foundation

extension Workspace {
    public struct AlreadyExists: SlipwayError {
        public var exitStatus: ExitStatus { .usage }
        public var path: String
        public var description: String {
            "\(path) is already a Slipway workspace (it has \(Workspace.specFileName) or \(Workspace.stateDirName)/); nothing was changed"
        }
    }

    /// Makes a workspace in `directory`: a commented `slipway.yaml`, a
    /// `params.yaml` and `.slipway/`. Refuses to touch a folder that already is
    /// a workspace.
    /// With `registry`, a PostgreSQL URL (without a password), the spec names
    /// it and the project's schema is created there.
    public static func initialize(at directory: String, registry: String? = nil) throws -> Workspace {
        var skeleton = Templates.skeleton
        if let registry {
            if let problem = RegistrySetting.problem(registry) { throw RegistryLocation.Unusable(reason: "--registry \(problem)") }
            skeleton = skeleton.replacingOccurrences(of: "project: my-model\n", with: """
                project: my-model
                # The team's registry (passwords come from PGPASSWORD, ~/.pgpass or PGPASSFILE).
                registry: \(registry)

                """)
        }
        // The project is named after its folder (when that name is a plain one).
        let folder = ((FileSystem.realPath(directory) ?? directory) as NSString).lastPathComponent
        if let name = projectName(folder) { skeleton = skeleton.replacingOccurrences(of: "project: my-model\n", with: "project: \(name)\n") }
        let ws = try initialize(at: directory, files: [(specFileName, skeleton), (paramsFileName, Templates.params)], demo: false)
        try ignoreStateDirectory(ws.root)
        return ws
    }

    /// A folder name usable as a project name as it is, or nil.
    static func projectName(_ folder: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard !folder.isEmpty, folder.count <= 64, folder.allSatisfy(allowed.contains), folder.first!.isLetter || folder.first!.isNumber else { return nil }
        return folder
    }

    /// `.slipway/` holds the registry, logs and the cache: machine state, never
    /// committed. It goes into the workspace's `.gitignore` (made if missing).
    static func ignoreStateDirectory(_ root: String) throws {
        let path = root + "/.gitignore"
        let current = FileSystem.exists(path) ? String(decoding: try FileSystem.readFile(path), as: UTF8.self) : ""
        let lines = current.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !lines.contains(where: { [".slipway", ".slipway/", "/.slipway", "/.slipway/"].contains($0) }) else { return }
        let text = current + (current.isEmpty || current.hasSuffix("\n") ? "" : "\n") + "# Slipway's registry, logs and cache: machine state, not source\n.slipway/\n"
        try FileSystem.writeFile(path, Data(text.utf8), mode: 0o644)
    }

    /// Makes a workspace in `directory` from `files` (path → text), refusing a
    /// folder that already is a workspace (and, for an example, one holding any of those files).
    public static func initialize(at directory: String, files: [(String, String)], demo: Bool) throws -> Workspace {
        let existed = FileSystem.exists(directory)
        try FileSystem.makeDirectory(directory)
        let root = FileSystem.realPath(directory) ?? directory
        for existing in [specFileName, stateDirName] where FileSystem.exists(root + "/" + existing) {
            throw AlreadyExists(path: root)
        }
        // The skeleton leaves a params.yaml already there alone; an example's files must all be new.
        if demo {
            for (name, _) in files where FileSystem.exists(root + "/" + name) {
                throw AlreadyExists(path: root + "/" + name)
            }
        }
        var written: [String] = []
        let ws = Workspace(root: root)
        do {
            for (name, content) in files {
                let path = root + "/" + name
                if FileSystem.exists(path) { continue }  // a params.yaml of the user's own stays as it is
                try FileSystem.makeDirectory((path as NSString).deletingLastPathComponent)
                let executable = name.hasSuffix(".sh")
                try FileSystem.writeFile(path, Data(content.utf8), mode: executable ? 0o755 : 0o644)
                written.append(path)
            }
            let registry = try ws.openRegistry()
            try registry.appendAudit(AuditDraft(actor: Provenance.currentUser(), kind: .workspaceCreated, subject: "workspace",
                                                payload: AuditChain.payload(["demo": demo ? "true" : "false"])))
        } catch {
            // A registry that cannot be reached (or refuses) leaves no half-made workspace behind.
            for path in written.reversed() { try? FileManager.default.removeItem(atPath: path) }
            if !written.isEmpty || FileSystem.exists(ws.stateDir) { try? FileManager.default.removeItem(atPath: ws.stateDir) }
            if !existed { rmdir(root) }  // only if it is empty
            throw error
        }
        return ws
    }
}

enum Templates {
    static let skeleton = """
    # slipway.yaml: the pipelines, environments, policy and monitors of this workspace.
    # Reference: docs/spec.md. Check it with `slipway lint`; run it with `slipway run`.
    project: my-model

    pipelines:
      main:
        stages:
          # A stage is a command (cmd:) or a built-in (uses:).
          # It re-runs only when its command, deps (by content), params or env files change.
          train:
            cmd: echo "train here, e.g. python3 train.py" && echo '{"loss":0.5}' > metrics.json
            # deps: [train.py, data/train.csv]   # files or folders it reads
            params: [train.epochs]                # keys of params.yaml; reach the command as SLIPWAY_PARAM_TRAIN_EPOCHS
            # outs: [model.bin]                  # what it writes; cached in .slipway/store
            metrics: [metrics.json]               # JSON metrics files; also `::metric name=loss value=0.4 step=1` lines
            # needs: [prepare]                   # stages that must finish first
            # timeout: 2h
            # env: [requirements.txt]            # environment files that enter the cache key

    # environments:
    #   staging: {deploy: "./deploy.sh staging"}
    #   production: {deploy: "./deploy.sh production"}

    """

    static let params = """
    # params.yaml: hyperparameters. Stages list the keys they read under `params:`.
    train:
      epochs: 10

    """
}
