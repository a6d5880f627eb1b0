import Foundation
import SlipwayCore

/// `project:` and `registry:` of a spec that names a registry, kept in
/// `.slipway/registry-setting.json` under the SHA-256 of the spec's bytes
/// (and this build's version).
///
/// Every command on a team registry needs them before it connects, and
/// reading them meant composing the whole YAML document: 250 ms of a
/// `status` at 10,000 stages. The two values depend on nothing but those
/// bytes, so the kept copy is never stale; a spec whose setting cannot be
/// read is read (and reported) again each time, never kept.
struct RegistrySettingCache: Codable, Equatable {
    var digest: String
    var project: String?
    var registry: String?

    static func digest(of text: String) -> String {
        var bytes = Array("slipway-registry-setting/1 \(Slipway.version)\n".utf8)
        bytes += Array(text.utf8)
        return Digests.sha256Hex(bytes)
    }
}

extension Workspace {
    var registrySettingPath: String { stateDir + "/registry-setting.json" }

    /// ``RegistrySetting/read(_:file:)`` of `text`, the spec's bytes: read
    /// back while they are unchanged, else read from them (and kept).
    func registrySetting(_ text: String) throws(SpecErrors) -> (project: String?, registry: String?) {
        let digest = RegistrySettingCache.digest(of: text)
        if let data = FileManager.default.contents(atPath: registrySettingPath),
           let kept = try? JSONDecoder().decode(RegistrySettingCache.self, from: data), kept.digest == digest {
            return (kept.project, kept.registry)
        }
        let setting = try RegistrySetting.read(text, file: Self.specFileName)
        // Best effort: a workspace that cannot be written to still finds its registry.
        if FileSystem.isDirectory(stateDir),
           let data = try? JSONEncoder.sorted.encode(RegistrySettingCache(digest: digest, project: setting.project, registry: setting.registry)) {
            try? FileSystem.writeFile(registrySettingPath, data, mode: 0o600)
        }
        return setting
    }
}
