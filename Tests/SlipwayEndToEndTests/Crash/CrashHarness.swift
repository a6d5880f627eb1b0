import Foundation
import Testing

/// The crash harness: drives the real `slipway` binary through runs,
/// promotions, approvals, canaries, rollbacks and the agent, sends it SIGKILL
/// at chosen or random points, lets the next command and one agent pass
/// recover, and checks ``CrashInvariants``.
///
/// Points are of three kinds:
/// - `hold`: a stage, deploy or analysis command, or `ssh-keygen -Y sign`,
///   blocks on a fifo; the kill lands while the call is in flight. The held
///   command is then either let go on (it finishes as an orphan) or killed
///   with its process group, as the seed decides.
/// - `at`: the process kills itself at a named `CrashPoint` between two
///   writes (`SLIPWAY_TEST_CRASH_AT`).
/// - `delay`: SIGKILL after a random delay within the command's usual duration.
///
/// Everything is chosen by a seeded generator; a violation keeps a copy of the
/// workspace with the initial files and a transcript of every command.
final class CrashHarness {
    enum Op: Equatable, CustomStringConvertible {
        case run(archChange: Bool)
        case promote(String)
        case agentOnce
        case agentLoop
        case approve
        case rollback(String)

        var description: String {
            switch self {
            case .run(let arch): return arch ? "run (architecture change)" : "run"
            case .promote(let env): return "promote → \(env)"
            case .agentOnce: return "agent --once"
            case .agentLoop: return "agent"
            case .approve: return "approve"
            case .rollback(let env): return "rollback \(env)"
            }
        }

        var kind: String {
            switch self {
            case .run: return "run"
            case .promote: return "promote"
            case .agentOnce, .agentLoop: return "agent"
            case .approve: return "approve"
            case .rollback: return "rollback"
            }
        }

        /// Where a hold can land inside this command.
        var holds: [String] {
            switch self {
            case .run: return ["stage:train", "stage:evaluate", "deploy:staging"]
            case .promote(let env): return ["deploy:\(env)"]
            case .agentOnce, .agentLoop: return ["deploy:production", "probe", "deploy:staging"]
            case .approve: return ["sign", "deploy:staging", "deploy:production", "probe"]
            case .rollback(let env): return ["deploy:\(env)"]
            }
        }

        /// The `CrashPoint`s this command can reach.
        var crashPoints: [String] {
            switch self {
            case .run: return ["run.before-finish", "run.after-register", "audit.before-head", "deploy.before-journal"]
            case .promote: return ["deploy.before-journal", "deployment.after-alias", "audit.before-head"]
            case .agentOnce, .agentLoop: return ["deploy.before-journal", "deployment.after-alias", "audit.before-head"]
            case .approve: return ["approve.after-vote", "deploy.before-journal", "deployment.after-alias", "audit.before-head"]
            case .rollback: return ["rollback.after-alias", "deploy.before-journal", "audit.before-head"]
            }
        }

        /// Exit statuses that are answers, not failures (a refusal, a failed gate).
        var acceptable: Set<Int32> {
            switch self {
            case .run: return [0, 1, 3]
            case .promote, .approve: return [0, 2, 3]
            case .agentOnce, .agentLoop: return [0]
            case .rollback: return [0, 1, 2]
            }
        }
    }

    enum Kill: Equatable, CustomStringConvertible {
        case none
        case hold(String, releaseOrphan: Bool)
        case at(String)
        case delay(milliseconds: Int)

        var description: String {
            switch self {
            case .none: return "not killed"
            case .hold(let p, let release): return "killed holding at \(p) (the held command then \(release ? "let go on" : "killed too"))"
            case .at(let p): return "killed at \(p)"
            case .delay(let ms): return "killed after \(ms) ms"
            }
        }

        var mode: String {
            switch self {
            case .none: return "none"
            case .hold: return "hold"
            case .at: return "at"
            case .delay: return "delay"
            }
        }
    }

    /// What happened at one point.
    struct Point {
        var episode: Int
        var step: Int
        var op: Op
        var kill: Kill
        /// The kill landed (false: the command ended, or never reached the point, first).
        var landed: Bool
        var violations: [CrashViolation]
        var kept: String?
    }

    let seed: UInt64
    var rng: SeededGenerator
    /// Where workspaces with a violation are copied.
    let keepFolder: String
    private(set) var points: [Point] = []
    /// Violations already reported for a workspace (a broken state is reported once, where it appeared).
    private var reported: [String: Set<String>] = [:]
    /// Usual durations (ms) per command kind, for delays that land inside.
    private var durations: [String: Double] = [:]
    let log: (String) -> Void
    /// Now and then a failing gate or a failing canary analysis (off for the fixed points).
    var varyOutcomes = true

    init(seed: UInt64, keepFolder: String, log: @escaping (String) -> Void = { print($0) }) {
        self.seed = seed
        self.rng = SeededGenerator(seed: seed)
        self.keepFolder = keepFolder
        self.log = log
    }

    var landed: [Point] { points.filter(\.landed) }

    // MARK: - One point

    /// Runs `op` in `w`, killed as `kill` says; after a landed kill, recovers
    /// and checks every invariant. Returns the point.
    @discardableResult
    func execute(_ op: Op, kill: Kill, in w: CrashWorkspace, episode: Int, step: Int) throws -> Point {
        prepare(op, in: w)
        let args = arguments(op, in: w)
        guard let args else {
            w.note("step \(step): \(op): nothing to do")
            return Point(episode: episode, step: step, op: op, kill: .none, landed: false, violations: [])
        }
        let user = op == .approve ? approver(in: w, args: args) : "ana"
        var point = Point(episode: episode, step: step, op: op, kill: kill, landed: false, violations: [])
        let started = DispatchTime.now().uptimeNanoseconds
        /// The wait status of a started command that was not killed by the harness's own SIGKILL.
        var ended: Int32?
        switch kill {
        case .none:
            if op == .agentLoop {
                let p = try w.start(args, user: user, note: "then SIGTERM")
                usleep(UInt32(400_000 + Int.random(in: 0...1_200_000, using: &rng)))
                Glibc.kill(p.processIdentifier, SIGTERM)
                // What the agent was doing, read before the harness kills it.
                var doing = ""
                let status = w.wait(p, timeout: 30, before: {
                    let children = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/task/\(p.processIdentifier)/children", encoding: .utf8)) ?? ""
                    let commands = children.split(separator: " ").compactMap { pid in
                        (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8))?.replacingOccurrences(of: "\0", with: " ")
                    }
                    let log = (w.s.read(".slipway/agent.log") ?? "").split(separator: "\n").suffix(6).joined(separator: " | ")
                    doing = "; its children: [\(commands.joined(separator: "; "))]; agent.log: \(log)"
                })
                if (status & 0x7f) == SIGKILL {
                    point.violations.append(CrashViolation(invariant: "exit", detail: "the agent was still running 30 s after SIGTERM" + doing,
                                                           knownIssue: KnownCrashIssues.agentLosesASIGTERMThatArrivesWhileItStarts
                                                               ? "SIGTERM lost while the agent starts" : nil))
                } else if status != 0 && (status & 0x7f) != SIGTERM {
                    // (Killed by SIGTERM itself: it arrived before the agent handles signals, which is a stop too.)
                    point.violations.append(CrashViolation(invariant: "exit", detail: "\(op) stopped by SIGTERM exited with wait status \(status)"))
                }
            } else {
                let r = w.run(args, user: user)
                if !op.acceptable.contains(r.status) {
                    point.violations.append(CrashViolation(invariant: "exit", detail: "\(op) (\(args.joined(separator: " "))) exit \(r.status): "
                                                           + r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)))
                }
                let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
                durations[op.kind] = durations[op.kind].map { 0.7 * $0 + 0.3 * ms } ?? ms
            }
        case .hold(let at, let releaseOrphan):
            w.arm(at)
            let p = try w.start(args, user: user, note: kill.description)
            var heldPid: Int32?
            let deadline = Date().addingTimeInterval(op == .agentLoop ? 3 : 30)
            var status: Int32 = 0
            var exited = false
            while Date() < deadline {
                if let pid = w.held() { heldPid = pid; break }
                if let st = w.poll(p) { status = st; exited = true; break }
                usleep(10_000)
            }
            if let heldPid {
                Glibc.kill(p.processIdentifier, SIGKILL)
                w.wait(p)
                point.landed = true
                if releaseOrphan { w.release() } else { w.killGroup(of: heldPid) }
            } else if exited {
                ended = status
            } else {
                // Never reached the point: stopped as it would be by a person.
                Glibc.kill(p.processIdentifier, SIGTERM)
                ended = w.wait(p)
            }
            w.disarm()
        case .at(let name):
            let p = try w.start(args, user: user, crashAt: name, note: kill.description)
            if op == .agentLoop {
                let deadline = Date().addingTimeInterval(1.5)
                var done: Int32?
                while Date() < deadline, done == nil { done = w.poll(p); if done == nil { usleep(10_000) } }
                if done == nil { Glibc.kill(p.processIdentifier, SIGTERM); done = w.wait(p) }
                ended = done
            } else {
                ended = w.wait(p)
            }
        case .delay(let ms):
            let p = try w.start(args, user: user, note: kill.description)
            usleep(UInt32(ms * 1000))
            if let status = w.poll(p) {
                ended = status
            } else {
                Glibc.kill(p.processIdentifier, SIGKILL)
                ended = w.wait(p)
            }
        }
        if let status = ended {
            if (status & 0x7f) == SIGKILL {
                point.landed = true
            } else if (status & 0x7f) != 0 || !op.acceptable.contains((status >> 8) & 0xff) {
                let output = w.lastOutput.trimmingCharacters(in: .whitespacesAndNewlines)
                point.violations.append(CrashViolation(invariant: "exit", detail: "\(op) (\(args.joined(separator: " "))) ended with wait status \(status): \(output.suffix(300))"))
            }
        }
        if point.landed {
            point.violations += recover(w)
        }
        point.violations = point.violations.filter { reported[w.root, default: []].insert($0.description).inserted }
        if !point.violations.isEmpty {
            point.kept = w.keep(in: keepFolder, name: "seed\(seed)-episode\(episode)-step\(step)")
        }
        points.append(point)
        let verdict = point.violations.isEmpty ? "ok" : point.violations.map(\.description).joined(separator: "; ")
        log("crash \(episode).\(step): \(op), \(point.landed ? kill.description : kill == .none ? "not killed" : "missed (\(kill))") → \(verdict)")
        return point
    }

    /// After a kill: the integrity of the file as the kill left it, then the
    /// next command (which reaps dead runs) and one agent pass, then the rest.
    func recover(_ w: CrashWorkspace) -> [CrashViolation] {
        let invariants = CrashInvariants(w: w)
        var v = invariants.integrity()
        let status = w.run(["status"])
        if status.status != 0 {
            v.append(CrashViolation(invariant: "exit", detail: "status after the kill exit \(status.status): \(status.stderr.trimmingCharacters(in: .whitespacesAndNewlines))"))
        }
        let agent = w.run(["agent", "--once", "--quiet"])
        if agent.status != 0 {
            v.append(CrashViolation(invariant: "exit", detail: "agent --once after the kill exit \(agent.status): \(agent.stderr.trimmingCharacters(in: .whitespacesAndNewlines))"))
        }
        let after = invariants.all()
        return v + after.filter { a in !v.contains { $0.description == a.description } }
    }

    // MARK: - Arguments, from the registry's state

    /// Sets up what the command will meet (params for a run, error rates for a canary).
    func prepare(_ op: Op, in w: CrashWorkspace) {
        switch op {
        case .run(let archChange):
            let params = w.s.read("params.yaml") ?? ""
            let arch = params.contains("arch: gbm") ? "gbm" : "mlp"
            let lr = (Int(params.split(separator: "lr: ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0") ?? 0) + 1
            let nextArch = archChange ? (arch == "gbm" ? "mlp" : "gbm") : arch
            w.s.write("params.yaml", "model:\n  arch: \(nextArch)\ntrain:\n  lr: \(lr)\n")
            // Now and then a version whose gate fails.
            if varyOutcomes { w.s.write(".crash/accuracy", Int.random(in: 0..<10, using: &rng) == 0 ? "0.3" : "0.9") }
        case .agentOnce, .agentLoop, .approve where varyOutcomes:
            // Now and then the newest version's canary analysis fails.
            if let newest = w.rows("SELECT MAX(version) AS v FROM modelVersion").first?["v"] as? Int {
                w.s.write(".crash/rate.\(newest)", Int.random(in: 0..<5, using: &rng) == 0 ? "0.9" : "0.01")
            }
        default:
            break
        }
    }

    func arguments(_ op: Op, in w: CrashWorkspace) -> [String]? {
        switch op {
        case .run: return ["run"]
        case .promote(let env):
            // The newest version not live there now.
            let live = w.rows("SELECT version FROM aliasEvent WHERE model = 'clf' AND environment = '\(env)' ORDER BY id DESC LIMIT 1").first?["version"] as? Int
            guard let v = w.rows("SELECT MAX(version) AS v FROM modelVersion WHERE version != \(live ?? -1)").first?["v"] as? Int else { return nil }
            return ["promote", "clf:\(v)", "--to", env]
        case .agentOnce: return ["agent", "--once", "--quiet"]
        case .agentLoop: return ["agent", "--interval", "0.2", "--quiet"]
        case .approve:
            guard let r = w.rows("SELECT id FROM approvalRequest WHERE status = 'pending' ORDER BY id LIMIT 1").first?["id"] as? Int else { return nil }
            let voted = Set(w.rows("SELECT approver FROM approvalVote WHERE requestID = \(r)").compactMap { $0["approver"] as? String })
            guard let who = ["Dana", "Sam"].first(where: { !voted.contains($0) }) else { return nil }
            return ["approve", String(r), "--key", w.root + "/keys/\(who.lowercased())", "--comment", "checked"]
        case .rollback(let env):
            let versions = Set(w.rows("SELECT version FROM aliasEvent WHERE model = 'clf' AND environment = '\(env)'").compactMap { $0["version"] as? Int })
            return versions.count >= 2 ? ["rollback", env, "--reason", "crash harness"] : nil
        }
    }

    func approver(in w: CrashWorkspace, args: [String]) -> String {
        args.contains { $0.hasSuffix("/keys/dana") } ? "dana" : "sam"
    }

    // MARK: - Random episodes

    /// The next command, weighted by what the workspace's state allows.
    func chooseOp(in w: CrashWorkspace) -> Op {
        // Right after a version reached staging the agent has work (production follows): kill it there more often.
        let agentHasWork = points.last.map { !$0.landed && ($0.op.kind == "run" || $0.op.kind == "promote" || $0.op.kind == "approve") } ?? false
        var choices: [(Op, Int)] = [(.run(archChange: Int.random(in: 0..<5, using: &rng) == 0), 4), (.agentOnce, agentHasWork ? 6 : 2),
                                    (.agentLoop, agentHasWork ? 3 : 1)]
        if !w.rows("SELECT id FROM approvalRequest WHERE status = 'pending' LIMIT 1").isEmpty { choices.append((.approve, 5)) }
        if arguments(.promote("staging"), in: w) != nil { choices.append((.promote("staging"), 2)) }
        for env in ["staging", "production"] where arguments(.rollback(env), in: w) != nil { choices.append((.rollback(env), 3)) }
        var pick = Int.random(in: 0..<choices.map(\.1).reduce(0, +), using: &rng)
        for (op, weight) in choices {
            if pick < weight { return op }
            pick -= weight
        }
        return .agentOnce
    }

    func chooseKill(for op: Op) -> Kill {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0..<3:
            return .hold(op.holds.randomElement(using: &rng)!, releaseOrphan: Bool.random(using: &rng))
        case 3..<6:
            return .at(op.crashPoints.randomElement(using: &rng)!)
        default:
            let usual = durations[op.kind] ?? 400
            return .delay(milliseconds: Int.random(in: 5...max(10, Int(usual * 1.2)), using: &rng))
        }
    }

    /// Random episodes until `target` kills landed (or `maxEpisodes` ran).
    func randomRun(target: Int, opsPerEpisode: Int = 22, killChance: Double = 0.6, maxEpisodes: Int = 400) throws {
        var episode = 0
        while landed.count < target && episode < maxEpisodes {
            episode += 1
            let w = CrashWorkspace(canaryInterval: Bool.random(using: &rng) ? "0s" : "1s")
            w.note("episode \(episode) of seed \(seed), canary interval \(w.canaryInterval)")
            var clean = true
            for step in 1...opsPerEpisode where landed.count < target {
                // Every episode starts by putting a version live in staging and production
                // (each step may be killed like any other), then goes at random.
                let warmUp: [Op] = [.run(archChange: false), .approve, .agentOnce, .approve, .approve]
                let op = step <= warmUp.count ? warmUp[step - 1] : chooseOp(in: w)
                let kill = Double.random(in: 0..<1, using: &rng) < killChance ? chooseKill(for: op) : .none
                let point = try execute(op, kill: kill, in: w, episode: episode, step: step)
                // A broken workspace would only repeat its violation: start afresh.
                if !point.violations.filter({ $0.knownIssue == nil }).isEmpty { clean = false; break }
            }
            if clean {
                let end = recover(w).filter { reported[w.root, default: []].insert($0.description).inserted }
                if !end.isEmpty {
                    let kept = w.keep(in: keepFolder, name: "seed\(seed)-episode\(episode)-end")
                    points.append(Point(episode: episode, step: opsPerEpisode + 1, op: .agentOnce, kill: .none, landed: false, violations: end, kept: kept))
                    log("crash \(episode).end → " + end.map(\.description).joined(separator: "; "))
                }
            }
            w.remove()
        }
    }

    // MARK: - Report

    func report() -> String {
        var lines = ["# Crash harness: seed \(seed)", ""]
        let kills = landed
        lines.append("\(kills.count) kills landed (\(points.filter { $0.kill != .none && !$0.landed }.count) missed: the command ended first), "
                     + "\(points.count) commands in \(Set(points.map(\.episode)).count) episodes.")
        var byKind: [String: Int] = [:]
        for p in kills { byKind["\(p.op.kind) · \(p.kill.mode)", default: 0] += 1 }
        lines.append("")
        lines.append("| command · kill | landed |")
        lines.append("|---|---|")
        for (k, n) in byKind.sorted(by: { $0.key < $1.key }) { lines.append("| \(k) | \(n) |") }
        var atPoints: [String: Int] = [:]
        for p in kills { if case .at(let name) = p.kill { atPoints[name, default: 0] += 1 }; if case .hold(let name, _) = p.kill { atPoints["hold " + name, default: 0] += 1 } }
        lines.append("")
        lines.append("Points: " + atPoints.sorted(by: { $0.key < $1.key }).map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
        let bad = points.filter { !$0.violations.isEmpty }
        lines.append("")
        lines.append(bad.isEmpty ? "No violations." : "## Violations")
        for p in bad {
            lines.append("")
            lines.append("- episode \(p.episode) step \(p.step): \(p.op), \(p.kill)" + (p.kept.map { " — reproducer: \($0)/transcript.sh (run in a copy of \($0)/initial)" } ?? ""))
            for v in p.violations { lines.append("  - \(v)") }
        }
        return lines.joined(separator: "\n")
    }
}
