import Foundation
import SlipwayPostgres
import Synchronization
// Not in every toolchain configuration (a release build with --static-swift-stdlib has
// no Testing module); this target is built there too, by `swift build` of everything.
#if canImport(Testing)
import Testing
#endif

/// The throw-away PostgreSQL server of a test process, shared by every test
/// that needs one: started by `scripts/pg-test-server.sh` on first use, on a
/// free loopback port, and stopped when the process exits (or, if it is
/// killed, by the script's watcher). Each test works in its own database or
/// schema, so tests run in parallel without seeing each other.
///
/// `SLIPWAY_TEST_POSTGRES_URL` names an existing server to use instead.
public enum PostgresTestServer {
    public struct Server: Sendable {
        public let url: PGURL
        /// The server's folder (nil for a server named by the environment).
        public let directory: String?
    }

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
        /// The server programs are not installed here: tests skip rather than fail.
        public var notInstalled: Bool
    }

    /// The server, or why it cannot run.
    public static let shared: Result<Server, Unavailable> = start()

    /// The shared server; cancels the calling test (with the reason, shown in
    /// the test report) when PostgreSQL is not installed on this machine, and
    /// fails it when the server is installed but would not start.
    public static func require() throws -> Server {
        switch shared {
        case .success(let server): return server
        case .failure(let why) where why.notInstalled:
            #if canImport(Testing)
            try Test.cancel("PostgreSQL tests skipped: \(why.description)")
            #else
            throw why
            #endif
        case .failure(let why):
            throw why
        }
    }

    /// A new, empty database on the shared server, for one test.
    public static func freshDatabase() throws -> PGURL {
        let server = try require()
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try PGConnection(server.url)
        defer { admin.close() }
        try admin.executeScript("CREATE DATABASE \(name)")
        return server.url.with(database: name)
    }

    /// A schema name no other test uses.
    public static func freshSchemaName(_ prefix: String = "t") -> String {
        prefix + "_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
    }

    /// The project's script (a user's clone has it too).
    public static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/pg-test-server.sh").path
    }

    /// A server of its own, for a test that stops and restarts it. Stopped
    /// by ``Dedicated/stop()`` (or by the script's watcher at exit).
    public final class Dedicated: Sendable {
        public let url: PGURL
        public let directory: String

        init(url: PGURL, directory: String) {
            self.url = url
            self.directory = directory
        }

        /// Stops the server (fast shutdown: sessions are cut off), keeping its data and port.
        public func pause() throws { try PostgresTestServer.runScript(["pause", directory]) }
        /// Starts it again on the same port.
        public func resume() throws { try PostgresTestServer.runScript(["resume", directory]) }
        public func stop() { _ = try? PostgresTestServer.runScript(["stop", directory]) }
    }

    public static func dedicated() throws -> Dedicated {
        _ = try require()
        let directory = NSTemporaryDirectory() + "slipway-pg-" + UUID().uuidString.prefix(8)
        let out = try runScript(["start", directory, "--watch", String(getpid())])
        return Dedicated(url: try PGURL(out), directory: directory)
    }

    @discardableResult
    static func runScript(_ arguments: [String]) throws -> String {
        let (status, out, err) = try runCommand(["/bin/bash", script] + arguments)
        guard status == 0 else {
            throw Unavailable(description: "pg-test-server.sh \(arguments.joined(separator: " ")): "
                              + err.trimmingCharacters(in: .whitespacesAndNewlines), notInstalled: false)
        }
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static let startedDirectory = Mutex<String?>(nil)

    private static func start() -> Result<Server, Unavailable> {
        if let given = ProcessInfo.processInfo.environment["SLIPWAY_TEST_POSTGRES_URL"], !given.isEmpty {
            do {
                return .success(Server(url: try PGURL(given), directory: nil))
            } catch {
                return .failure(Unavailable(description: "SLIPWAY_TEST_POSTGRES_URL: \(error)", notInstalled: false))
            }
        }
        guard libpqVersion != nil else {
            return .failure(Unavailable(description: "libpq is not installed (Debian: libpq5)", notInstalled: true))
        }
        let directory = NSTemporaryDirectory() + "slipway-pg-" + UUID().uuidString.prefix(8)
        let out: String
        do {
            out = try runScript(["start", directory, "--watch", String(getpid())])
        } catch let error as Unavailable {
            return .failure(Unavailable(description: "the test server did not start: \(error.description)",
                                        notInstalled: error.description.contains("are not installed")))
        } catch {
            return .failure(Unavailable(description: "cannot run \(script): \(error)", notInstalled: false))
        }
        startedDirectory.withLock { $0 = directory }
        atexit { PostgresTestServer.stopAtExit() }
        do {
            return .success(Server(url: try PGURL(out), directory: directory))
        } catch {
            return .failure(Unavailable(description: "the script printed no URL: \(error)", notInstalled: false))
        }
    }

    /// Stops the server synchronously as the process exits (posix_spawn and
    /// waitpid only: nothing that needs the run loop or other threads).
    private static func stopAtExit() {
        guard let directory = startedDirectory.withLock({ $0 }) else { return }
        var pid: pid_t = 0
        let args = ["/bin/bash", script, "stop", directory]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        if posix_spawn(&pid, "/bin/bash", nil, nil, &argv, environ) == 0 {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}

/// Runs `body(0..<count)` on that many threads at once (not on a pool that
/// may run them one after another), and waits for all of them.
public func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchGroup()
    for i in 0..<count {
        done.enter()
        Thread.detachNewThread {
            body(i)
            done.leave()
        }
    }
    done.wait()
}

/// Runs a program to completion and returns its exit status and what it
/// wrote. Output goes to files, not pipes, so a background process the
/// program leaves behind (the server, its watcher) cannot hold the reader up.
public func runCommand(_ argv: [String], environment: [String: String]? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    let base = NSTemporaryDirectory() + "slipway-cmd-" + UUID().uuidString
    let outPath = base + ".out", errPath = base + ".err"
    defer { unlink(outPath); unlink(errPath) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    // Nothing else of this process reaches the child: the script leaves a
    // watcher and the server running, which would otherwise hold (say) the
    // write end of another test's output pipe open, so that test never sees EOF.
    closeInheritedDescriptors(&actions)
    let args: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { for a in args { free(a) } }
    let env: [UnsafeMutablePointer<CChar>?]? = environment.map { e in e.map { strdup("\($0.key)=\($0.value)") } + [nil] }
    defer { for a in env ?? [] { free(a) } }
    var pid: pid_t = 0
    let spawned = env.map { env in
        env.withUnsafeBufferPointer { e in posix_spawn(&pid, argv[0], &actions, nil, args, e.baseAddress) }
    } ?? posix_spawn(&pid, argv[0], &actions, nil, args, environ)
    guard spawned == 0 else {
        throw PostgresTestServer.Unavailable(description: "cannot run \(argv[0]): \(String(cString: strerror(spawned)))", notInstalled: false)
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0, errno == EINTR {}
    let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return (exitStatus, out, err)
}

/// Closes every descriptor above 2 in a spawned child
/// (`posix_spawn_file_actions_addclosefrom_np`, glibc 2.34; looked up at run
/// time because Swift's Glibc module does not declare it).
func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return }
    _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
}
