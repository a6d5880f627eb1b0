import Foundation

/// The user's own key for what Slipway keeps in `.slipway/` to skip reading
/// the spec (``KeptDigest``): 32 random bytes in
/// `${XDG_CACHE_HOME:-~/.cache}/slipway/kept-key`, readable by the user only.
///
/// A kept copy is believed when its digest matches, and anyone who can
/// write `.slipway/` (a shared checkout, a clone with one committed) could
/// otherwise compute the digest of the current files and program and plant
/// a copy saying other approvers, commands or registry than `slipway.yaml`
/// does. Keyed by a secret outside the workspace, the digest cannot be
/// forged by them. Without a usable key (no home, a key file another user
/// could read or replace) nothing is kept or believed: the spec is read.
enum KeptSecret {
    static let length = 32

    /// The key in `folder`, made on first use; nil when it cannot be made or
    /// is not the user's alone.
    static func load(folder: String) -> [UInt8]? {
        let path = folder + "/kept-key"
        if let key = read(path) { return key }
        // A key of the user's own that is unusable (cut short by a crash,
        // loosened by a chmod) is replaced; anything else (a symlink, another
        // user's file) is left alone and nothing is kept.
        var st = stat()
        let there = lstat(path, &st) == 0
        if there, st.st_mode & S_IFMT != S_IFREG || st.st_uid != getuid() { return nil }
        guard make(folder, replacing: there) else { return nil }
        return read(path)
    }

    /// The folder the key lives in, from the environment: under
    /// `XDG_CACHE_HOME` or `HOME`, whichever names a folder that is there
    /// (a home that does not exist is not made for a key).
    static func folder(environment: [String: String]) -> String? {
        if let cache = environment["XDG_CACHE_HOME"], cache.hasPrefix("/"), FileSystem.isDirectory(cache) { return cache + "/slipway" }
        guard let home = environment["HOME"], home.hasPrefix("/"), FileSystem.isDirectory(home) else { return nil }
        return home + "/.cache/slipway"
    }

    /// Reads the key: a regular file (not a symlink) of exactly 32 bytes,
    /// owned by this user, that no one else may read or write.
    private static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == getuid(),
              st.st_mode & 0o077 == 0, st.st_size == length else { return nil }
        var key = [UInt8](repeating: 0, count: length)
        let n = key.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, length) }
        return n == length ? key : nil
    }

    /// Makes the folder (0700) and the key under a temporary name, then
    /// links it into place: of two processes making it at once, one key wins
    /// and both read it whole. `replacing` renames it over an unusable one.
    private static func make(_ folder: String, replacing: Bool) -> Bool {
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        let tmp = FileSystem.temporaryName(beside: folder + "/kept-key")
        let fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { unlink(tmp) }
        var key = [UInt8](repeating: 0, count: length)
        var generator = SystemRandomNumberGenerator()
        for i in key.indices { key[i] = generator.next() }
        let written = key.withUnsafeBytes { write(fd, $0.baseAddress, length) }
        close(fd)
        guard written == length else { return false }
        if replacing { return rename(tmp, folder + "/kept-key") == 0 }
        // link() fails when the key is already there: the other one wins.
        _ = link(tmp, folder + "/kept-key")
        return true
    }
}
