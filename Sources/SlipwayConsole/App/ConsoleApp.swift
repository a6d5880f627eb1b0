import Foundation

/// Runs the console: one thread owns the terminal and the state; a poller
/// thread reads the registry when it changes (any process's write) and posts
/// snapshots; only changed cells are written.
public final class ConsoleApp: @unchecked Sendable {
    let workspace: Workspace
    let loader: ConsoleLoader
    let device: TerminalDevice
    let slipwayPath: String
    var state: ConsoleState
    var theme: ResolvedTheme
    let renderer = Renderer()
    let noColor: Bool

    // Poller ↔ UI.
    private let lock = NSCondition()
    private var inbox: [Message] = []
    private var wanted: (run: Int64?, model: String?, stage: String?) = (nil, nil, nil)
    private var reloadRequested = true
    /// Another run or stage was chosen: its detail is read at once; the rest
    /// of the snapshot is read again only when the registry changed.
    private var detailRequested = false
    private var stopping = false
    /// A write was announced on the registry's change feed: check now.
    private var changeHeard = false
    /// Whether a change feed (PostgreSQL LISTEN/NOTIFY) wakes the poller;
    /// without one the poller checks the change token 4 times a second.
    private var feedActive = false

    public init(workspace: Workspace, registry: RegistryConnection, device: TerminalDevice, themeName: String, ascii: Bool,
                noColor: Bool, keyMap: KeyMap, slipwayPath: String, keyPath: String? = nil) throws {
        self.workspace = workspace
        self.loader = ConsoleLoader(workspace: workspace, registry: registry, keyPath: keyPath)
        self.device = device
        self.slipwayPath = slipwayPath
        self.noColor = noColor
        state = ConsoleState()
        state.ascii = ascii
        state.keyMap = keyMap
        state.themeName = noColor ? "monochrome" : themeName
        theme = ResolvedTheme(try Theme.named(state.themeName), colors: device.colorCount, noColor: noColor)
        (state.width, state.height) = device.size
    }

    /// With SLIPWAY_CONSOLE_TRACE=FILE, timings go to FILE (for the benchmark):
    /// `first-frame-ms N` once, then `key-frame-us N` per key press.
    let trace: FileHandle? = ProcessInfo.processInfo.environment["SLIPWAY_CONSOLE_TRACE"].flatMap {
        _ = FileManager.default.createFile(atPath: $0, contents: nil)
        return FileHandle(forWritingAtPath: $0)
    }
    /// When the process started (monotonic seconds), for the first-frame time.
    public var launchedAt: Double?

    func traceLine(_ text: String) { trace?.write(Data((text + "\n").utf8)) }

    static func monotonic() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// The main loop; returns when the user quits.
    public func run() {
        let poller = Thread { [self] in poll() }
        poller.start()
        // Without a change feed the console polls; it says so when one could not be opened.
        var feed: RegistryChanges?
        do { feed = try loader.registry.changes() } catch {
            post(.notice("live updates fall back to polling: \(error)", isError: true))
        }
        if let feed {
            lock.withLock { feedActive = true }
            Thread { [self] in listen(feed) }.start()
        }
        defer {
            lock.withLock { stopping = true; lock.broadcast() }
            feed?.close()
        }
        var dirty = true
        var firstFrame = true
        var keyAt: Double?
        var lastSecond = Int(Date().timeIntervalSince1970)
        while !state.quit {
            if dirty {
                renderer.render(ConsoleView.render(state), to: device, theme: theme)
                dirty = false
                if firstFrame, let start = launchedAt {
                    traceLine("first-frame-ms \(Int(((Self.monotonic() - start) * 1000).rounded()))")
                    firstFrame = false
                }
                if let k = keyAt { traceLine("key-frame-us \(Int(((Self.monotonic() - k) * 1e6).rounded()))"); keyAt = nil }
            }
            var messages: [Message] = []
            if let event = device.nextEvent(timeoutMs: 200) {
                if case .resize = event { renderer.invalidate() }
                if case .key = event { keyAt = Self.monotonic() }
                messages.append(.event(event))
            }
            messages += lock.withLock { defer { inbox.removeAll() }; return inbox }
            for m in messages {
                for effect in state.update(m) { perform(effect) }
                dirty = true
            }
            // The header clock.
            let second = Int(Date().timeIntervalSince1970)
            if second != lastSecond { lastSecond = second; state.snapshot.now = Millis(second) * 1000; dirty = true }
        }
    }

    /// Runs one frame cycle without a terminal loop (tests): applies the
    /// messages and returns the frame.
    public func step(_ messages: [Message]) -> ScreenBuffer {
        for m in messages { for effect in state.update(m) { perform(effect) } }
        let frame = ConsoleView.render(state)
        renderer.render(frame, to: device, theme: theme)
        return frame
    }

    /// Loads a snapshot now, on this thread (tests and the first frame).
    public func loadNow() {
        _ = state.update(.data(loader.load(selectedRun: wanted.run, selectedModel: wanted.model, shownStage: wanted.stage)))
    }

    func post(_ m: Message) { lock.withLock { inbox.append(m); lock.broadcast() } }

    /// Waits on the registry's change feed and wakes the poller when a write
    /// is announced. A feed that fails leaves the poller polling as before.
    func listen(_ feed: RegistryChanges) {
        while !lock.withLock({ stopping }) {
            do {
                guard try feed.wait(timeout: 1) else { continue }
                lock.withLock { changeHeard = true; lock.broadcast() }
            } catch {
                lock.withLock { feedActive = false; lock.broadcast() }
                return
            }
        }
    }

    func poll() {
        // The poller yields to the thread that draws: on Linux a thread's nice
        // value is its own, so a busy read never delays a key's frame.
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 5)
        #endif
        var lastToken: Int64 = -1
        var lastStatus: Int64 = -1
        var verified = false
        var last: (snapshot: ConsoleSnapshot, model: String?)?
        while true {
            let (stop, forced, detailOnly, heard, want) = lock.withLock { () -> (Bool, Bool, Bool, Bool, (run: Int64?, model: String?, stage: String?)) in
                // With a change feed the token is read when a write is announced,
                // and once a second as a fallback (a missed announcement, the demo's status file).
                if !stopping && !reloadRequested && !detailRequested && !changeHeard {
                    _ = lock.wait(until: Date().addingTimeInterval(feedActive ? 1 : 0.25))
                }
                defer { reloadRequested = false; detailRequested = false; changeHeard = false }
                return (stopping, reloadRequested, detailRequested, changeHeard, wanted)
            }
            if stop { return }
            let token = (try? loader.registry.changeToken()) ?? 0
            // New events (by anyone) are verified too; a finished pass reloads once to show it.
            let wasVerified = verified
            verified = loader.verifyMore()
            // The demo's status line is a file beside the registry: it changes without a registry write.
            let status = FileSystem.status(workspace.demoStatusPath).map { Int64($0.st_mtim.tv_sec) * 1_000_000_000 + Int64($0.st_mtim.tv_nsec) } ?? 0
            let changed = token != lastToken || verified != wasVerified || status != lastStatus
            guard forced || detailOnly || changed else { continue }
            lastToken = token
            lastStatus = status
            if heard { traceLine("reload-after-change-feed") }
            // Only the chosen run or stage moved: the rest of the last snapshot still holds.
            if detailOnly, !forced, !changed, let last, last.model == want.model {
                post(.data(loader.reloadDetail(last.snapshot, selectedRun: want.run, shownStage: want.stage)))
                continue
            }
            let snapshot = loader.load(selectedRun: want.run, selectedModel: want.model, shownStage: want.stage)
            last = (snapshot, want.model)
            post(.data(snapshot))
        }
    }

    func perform(_ effect: Effect) {
        switch effect {
        case .quit: break
        case .reload: lock.withLock { reloadRequested = true; lock.broadcast() }
        case .select(let run, let model):
            lock.withLock {
                if model != nil && model != wanted.model { reloadRequested = true } else { detailRequested = true }
                wanted = (run ?? wanted.run, model ?? wanted.model, run == nil || run == wanted.run ? wanted.stage : nil)
                lock.broadcast()
            }
        case .showStage(let stage, let reload):
            lock.withLock {
                wanted.stage = stage
                if reload { detailRequested = true; lock.broadcast() }
            }
        case .startRun(let pipeline):
            do {
                let pid = try SelfLauncher(workspace: workspace, executable: slipwayPath).start(pipeline: pipeline)
                post(.started(pipeline: pipeline, pid: pid))
            } catch {
                post(.notice("could not start \(pipeline): \(error)", isError: true))
            }
            lock.withLock { reloadRequested = true; lock.broadcast() }
        case .cancelRun(let id):
            do {
                switch try RunCancellation(registry: loader.registry).cancel(runID: id, actor: Provenance.currentUser()) {
                case .notRunning(let status): post(.notice("run \(id) is already \(status.rawValue)", isError: false))
                case .ownerSignalled: post(.notice("cancelling run \(id): its stages are being stopped", isError: false))
                case .requested(let host): post(.notice("cancelling run \(id): its process on \(host) stops its stages when it next checks", isError: false))
                case .settled: post(.notice("run \(id)'s process had died: its jobs were cancelled", isError: false))
                }
            } catch {
                post(.notice("could not cancel run \(id): \(error)", isError: true))
            }
            lock.withLock { reloadRequested = true; lock.broadcast() }
        case .verifyPackage(let model, let version):
            let workspace = self.workspace, registry = loader.registry
            DispatchQueue.global().async { [self] in
                let label = "\(model):\(version)"
                do {
                    let spec = try workspace.loadSpec().spec
                    guard let v = try registry.modelVersion(model: model, version: version) else {
                        post(.packageChecked(label: label, text: "\(label) is no longer in the registry", ok: false)); return
                    }
                    let report = try PackageVerifier(workspace: workspace, signing: spec.signing).verify(v)
                    let valid = report.signatures.filter(\.valid)
                    let text = report.ok
                        ? "verified: \(report.blobs) blobs match their digests, provenance \(report.provenance ? "matches" : "absent"), "
                            + (valid.isEmpty ? "unsigned" : "signed by " + valid.map { $0.signer ?? $0.key }.joined(separator: ", "))
                        : "DOES NOT VERIFY: " + report.problems.joined(separator: "; ")
                    post(.packageChecked(label: label, text: text, ok: report.ok))
                } catch {
                    post(.packageChecked(label: label, text: "cannot be verified: \(error)", ok: false))
                }
            }
        case .previewPromotion(let model, let version, let envs):
            guard let spec = try? workspace.loadSpec().spec else { break }
            let service = ApprovalService(workspace: workspace, registry: loader.registry, spec: spec)
            let now = SystemClock.nowMillis()
            post(.promotionPreview(envs.map { service.preview(model: model, version: version, environment: $0, now: now) }))
        case .promote(let model, let version, let env, let reason):
            do {
                let spec = try workspace.loadSpec().spec
                let request = PromotionService.Request(model: model, version: version, environment: env,
                                                       actor: Provenance.currentUser(), reason: reason.isEmpty ? "promoted from the console" : reason)
                switch try ApprovalService(workspace: workspace, registry: loader.registry, spec: spec).requestPromotion(request) {
                case .alreadyLive:
                    post(.notice("\(model):\(version) is already live in \(env)", isError: false))
                case .decided(let outcome, _):
                    if case .failed = outcome { post(.notice(outcome.summary("\(model):\(version)"), isError: true)) }
                    else { post(.notice(outcome.summary("\(model):\(version)"), isError: false)) }
                case .queued(let r, _):
                    post(.notice("\(model):\(version) → \(env) is high risk: waiting for approval (request \(r.id))", isError: false))
                }
            } catch {
                post(.notice("promotion refused: \(error)", isError: true))
            }
        case .vote(let id, let approve, let comment):
            guard let keyPath = loader.keyPath else {
                post(.notice("no signing key: start the console with --key FILE", isError: true))
                return
            }
            do {
                let spec = try workspace.loadSpec().spec
                let service = ApprovalService(workspace: workspace, registry: loader.registry, spec: spec)
                // ssh-keygen may ask for a passphrase: give it the terminal, then take it back.
                let prompts = SSHSigner(keyPath: keyPath).mayPrompt
                if prompts { device.suspend() }
                defer { if prompts { device.resume(); renderer.invalidate() } }
                switch try service.vote(requestID: id, decision: approve ? .approve : .reject, keyPath: keyPath, comment: comment) {
                case .recorded(let v, let n, let of):
                    post(.notice("approved by \(v.approver) (\(n) of \(of)); request \(id) waits for \(of - n) more", isError: false))
                case .approved(let v, let promotion):
                    // The vote is recorded; what became of the promotion is reported as such.
                    let label = (try? loader.registry.approvalRequest(id: id)).flatMap { $0.map { "\($0.model):\($0.version)" } } ?? "request \(id)"
                    post(.notice("approved by \(v.approver): " + promotion.summary(label), isError: promotion.failed))
                case .rejected(let v):
                    post(.notice("request \(id) rejected by \(v.approver)", isError: false))
                }
            } catch {
                post(.notice("not recorded: \(error)", isError: true))
            }
            lock.withLock { reloadRequested = true; lock.broadcast() }
        case .rollback(let env, let reason):
            do {
                let spec = try workspace.loadSpec().spec
                let r = try DeploymentService(workspace: workspace, registry: loader.registry, spec: spec)
                    .rollback(environment: env, model: nil, to: nil, reason: reason, actor: Provenance.currentUser())
                let deploy = r.deploy.map { $0.succeeded ? " · deploy command ok" : " · the deploy command FAILED (\($0.summary))" } ?? ""
                post(.notice("\(r.model):\(r.to) is live in \(env) again" + (r.from.map { " (was :\($0))" } ?? "") + deploy,
                             isError: !(r.deploy?.succeeded ?? true)))
            } catch {
                post(.notice("not rolled back: \(error)", isError: true))
            }
            lock.withLock { reloadRequested = true; lock.broadcast() }
        case .abortCanary(let env, let reason):
            do {
                let spec = try workspace.loadSpec().spec
                let d = try DeploymentService(workspace: workspace, registry: loader.registry, spec: spec)
                    .abort(environment: env, actor: Provenance.currentUser(), reason: reason).deployment
                post(.notice("aborted \(d.label)" + (d.stableVersion.map { ": \(d.model):\($0) is back at 100%" } ?? ""), isError: false))
            } catch {
                post(.notice("not aborted: \(error)", isError: true))
            }
            lock.withLock { reloadRequested = true; lock.broadcast() }
        case .continueCanary(let env):
            do {
                let spec = try workspace.loadSpec().spec
                let p = try DeploymentService(workspace: workspace, registry: loader.registry, spec: spec)
                    .continuePaused(environment: env, actor: Provenance.currentUser())
                let outcome = PromotionService.outcome(p)
                if case .failed = outcome { post(.notice(outcome.summary("\(p.deployment.model):\(p.deployment.version)"), isError: true)) }
                else { post(.notice(outcome.summary("\(p.deployment.model):\(p.deployment.version)"), isError: false)) }
            } catch {
                post(.notice("not continued: \(error)", isError: true))
            }
            lock.withLock { reloadRequested = true; lock.broadcast() }
        case .setTheme(let name):
            do {
                let t = try Theme.named(name)
                theme = ResolvedTheme(t, colors: device.colorCount, noColor: noColor)
                state.themeName = name
                renderer.invalidate()
                post(.notice("theme \(name)" + (noColor ? " (NO_COLOR is set: shown without colour)" : ""), isError: false))
            } catch {
                post(.notice("\(error)", isError: true))
            }
        }
    }
}
