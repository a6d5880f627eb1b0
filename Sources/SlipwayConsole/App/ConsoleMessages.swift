import Foundation

public enum Tab: Int, Sendable, CaseIterable {
    case runs, evals, drift, approvals, registry, deployments, audit

    public var title: String {
        switch self {
        case .runs: return "Runs"
        case .evals: return "Evals"
        case .drift: return "Drift"
        case .approvals: return "Approvals"
        case .registry: return "Registry"
        case .deployments: return "Deployments"
        case .audit: return "Audit"
        }
    }

    var scope: Scope {
        switch self {
        case .runs: return .runs
        case .evals: return .evals
        case .registry: return .registry
        case .approvals: return .approvals
        case .deployments: return .deployments
        default: return .global
        }
    }
}

/// A dialog that asks before anything changes.
public struct Dialog: Sendable, Equatable {
    public enum Purpose: Sendable, Equatable {
        case startRun(pipelines: [String])
        case cancelRun(runID: Int64)
        case promote(model: String, version: Int, environments: [String])
        case vote(requestID: Int64, approve: Bool)
        case rollback(environment: String)
        case abortCanary(environment: String)
        case continueCanary(environment: String)
        case info
    }

    public var title: String
    public var lines: [String]
    public var purpose: Purpose
    /// The choice list (pipelines, environments), if any, and the chosen one.
    public var choices: [String] = []
    public var choice = 0
    public var buttons: [String]
    public var button = 0
    /// A text field (a comment for an approval or rejection), when the dialog has one.
    public var field: (label: String, text: String)?

    public static func == (a: Dialog, b: Dialog) -> Bool {
        a.title == b.title && a.lines == b.lines && a.purpose == b.purpose && a.choices == b.choices && a.choice == b.choice
            && a.buttons == b.buttons && a.button == b.button && a.field?.label == b.field?.label && a.field?.text == b.field?.text
    }
}

/// What the console asks the outside world to do.
public enum Effect: Sendable, Equatable {
    case reload
    case select(run: Int64?, model: String?)
    /// The stage an opened run shows (nil: none open), so that snapshots
    /// read the logs around it; `reload` when the snapshot lacks its log.
    case showStage(String?, reload: Bool)
    case startRun(pipeline: String)
    case cancelRun(runID: Int64)
    case promote(model: String, version: Int, environment: String, reason: String)
    /// Ask the engine what promoting to each environment would do (the dialog shows it).
    case previewPromotion(model: String, version: Int, environments: [String])
    /// Verify a version's package (digests, provenance, signatures) for the evidence page.
    case verifyPackage(model: String, version: Int)
    case vote(requestID: Int64, approve: Bool, comment: String)
    case rollback(environment: String, reason: String)
    case abortCanary(environment: String, reason: String)
    case continueCanary(environment: String)
    case setTheme(String)
    case quit
}

public enum Message: Sendable {
    case event(InputEvent)
    case data(ConsoleSnapshot)
    case notice(String, isError: Bool)
    /// A run was launched from the console: its process, until the run shows up.
    case started(pipeline: String, pid: Int32?)
    /// What promoting would do, per environment (``ApprovalService/preview(model:version:environment:now:)``).
    case promotionPreview([ApprovalService.PromotionPreview])
    /// A package's verification, in words, and whether it holds (``PackageVerifier``).
    case packageChecked(label: String, text: String, ok: Bool)
}

/// A package's verification as the evidence shows it.
public struct PackageCheck: Sendable, Equatable {
    public var text: String
    public var ok: Bool
}
