import Foundation
import SlipwayEngine

/// The stages of a run as the Runs detail and the opened run show them: the
/// members of a matrix stage (`train[lr=0.1,arch=small]`, …) together under
/// their matrix stage (`train`), where its first member comes; any other stage
/// on its own. A run without matrix stages is one group per stage, in order.
struct StageGroup: Equatable {
    /// The matrix stage's name, or the stage's own name.
    var name: String
    /// Indexes into the run's stages, in the run's order.
    var members: [Int]
    var isMatrix: Bool
}

enum StageGroups {
    /// The matrix stage a member belongs to (the name before `[`), or nil for
    /// a stage that is no matrix member.
    static func matrixBase(_ name: String) -> Substring? { MatrixMember.base(ofName: name) }

    /// A member's `axis=value` pairs as written in its name (`lr=0.1,arch=small`).
    static func memberLabel(_ name: String) -> Substring {
        guard let open = name.firstIndex(of: "["), name.hasSuffix("]") else { return Substring(name) }
        return name[name.index(after: open)..<name.index(before: name.endIndex)]
    }

    static func make(_ stages: [StageRunRecord]) -> [StageGroup] {
        var groups: [StageGroup] = []
        var matrixAt: [Substring: Int] = [:]
        for (i, st) in stages.enumerated() {
            guard let base = matrixBase(st.stage) else {
                groups.append(StageGroup(name: st.stage, members: [i], isMatrix: false))
                continue
            }
            if let g = matrixAt[base] {
                groups[g].members.append(i)
            } else {
                matrixAt[base] = groups.count
                groups.append(StageGroup(name: String(base), members: [i], isMatrix: true))
            }
        }
        return groups
    }

    /// The stages' indexes in the order they are shown (members under their matrix stage).
    static func order(_ groups: [StageGroup]) -> [Int] { groups.flatMap(\.members) }

    /// How a group stands as a whole: failed when a member failed, running
    /// when one runs, waiting when one waits, else what its members ended as.
    static func status(_ g: StageGroup, _ stages: [StageRunRecord]) -> StageStatus {
        var seen: Set<StageStatus> = []
        for i in g.members { seen.insert(stages[i].status) }
        for s in [StageStatus.failed, .running, .pending, .interrupted, .cancelled, .succeeded] where seen.contains(s) { return s }
        return .cached
    }

    /// `412/1000 done · 3 running · 583 waiting · 2 failed`: the counts that are not zero.
    static func summary(_ g: StageGroup, _ stages: [StageRunRecord]) -> String {
        var counts: [StageStatus: Int] = [:]
        for i in g.members { counts[stages[i].status, default: 0] += 1 }
        let done = (counts[.succeeded] ?? 0) + (counts[.cached] ?? 0)
        var parts = ["\(done)/\(g.members.count) done"]
        for (status, word) in [(StageStatus.running, "running"), (.pending, "waiting"), (.failed, "failed"),
                               (.cancelled, "cancelled"), (.interrupted, "interrupted")] {
            if let n = counts[status], n > 0 { parts.append("\(n) \(word)") }
        }
        return parts.joined(separator: " · ")
    }

    /// How long a group has taken: from its first member's start to its last
    /// member's end (to `now` while one runs); nil before any started.
    static func duration(_ g: StageGroup, _ stages: [StageRunRecord], now: Int64) -> Double? {
        var start: Int64?, end: Int64?
        var running = false
        for i in g.members {
            let st = stages[i]
            if let s = st.startedAt { start = min(start ?? s, s) }
            if let e = st.endedAt { end = max(end ?? e, e) }
            if st.status == .running || st.status == .pending { running = true }
        }
        guard let start else { return nil }
        let stop = running ? now : (end ?? now)
        return Double(max(0, stop - start)) / 1000
    }

    /// One row of the opened run's stage picker.
    enum PickerLine: Equatable {
        /// A matrix stage's own row, above its members (not a stage to choose).
        case header(Int)
        /// A stage (index into the run's stages), indented when it is a member.
        case stage(Int, member: Bool)
    }

    static func pickerLines(_ groups: [StageGroup]) -> [PickerLine] {
        var lines: [PickerLine] = []
        for (gi, g) in groups.enumerated() {
            if g.isMatrix {
                lines.append(.header(gi))
                for i in g.members { lines.append(.stage(i, member: true)) }
            } else {
                lines.append(.stage(g.members[0], member: false))
            }
        }
        return lines
    }

    /// The first picker line shown, so that line `selected` of `count` is in a window of `visible` rows.
    static func top(selected: Int, count: Int, visible: Int) -> Int {
        guard count > visible, visible > 0 else { return 0 }
        return max(0, min(count - visible, selected - visible / 2))
    }
}
