import Foundation
import SlipwayCore

/// `project:` and `registry:` of a spec that names a registry, kept in
/// `.slipway/registry-setting.json` under a digest of the spec's bytes keyed
/// by the user's own key (``DigestKeptFile``).
///
/// Every command on a team registry needs them before it connects, and
/// reading them meant composing the whole YAML document: 250 ms of a
/// `status` at 10,000 stages. A spec whose setting cannot be read is read
/// (and reported) again each time, never kept.
struct KeptRegistrySetting: Codable, Equatable {
    var project: String?
    var registry: String?
}

extension Workspace {
    var registrySettingPath: String { stateDir + "/registry-setting.json" }

    func keptRegistrySetting(_ text: String) -> DigestKeptFile<KeptRegistrySetting> {
        DigestKeptFile(path: registrySettingPath, purpose: "slipway-registry-setting/2", parts: [Data(text.utf8)])
    }

    /// ``RegistrySetting/read(_:file:)`` of `text`, the spec's bytes: read
    /// back while they are unchanged, else read from them (and kept).
    func registrySetting(_ text: String) throws(SpecErrors) -> (project: String?, registry: String?) {
        let kept = keptRegistrySetting(text)
        // A kept URL must pass the rules a parsed one does (no password in it,
        // say): a copy written by hand is never more trusted than the spec.
        if let setting = kept.read(), setting.registry.map({ RegistrySetting.problem($0) == nil }) ?? true {
            return (setting.project, setting.registry)
        }
        let setting = try RegistrySetting.read(text, file: Self.specFileName)
        kept.keep(KeptRegistrySetting(project: setting.project, registry: setting.registry))
        return setting
    }
}
