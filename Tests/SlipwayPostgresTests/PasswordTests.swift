import Foundation
import PostgresTestServer
import Testing
@testable import SlipwayPostgres

/// Passwords reach libpq only through its own sources, and never come back
/// out in an error or a description. The test server asks members of the
/// role `password_users` for a password (scram-sha-256).
@Suite struct PasswordTests {
    /// A role that must give `password` to log in, on a fresh database.
    func passwordRole(_ password: String) throws -> (url: PGURL, role: String) {
        let url = try PostgresTestServer.freshDatabase()
        let role = "pw_" + UUID().uuidString.prefix(8).lowercased()
        let admin = try PGConnection(url)
        defer { admin.close() }
        try admin.executeScript("CREATE ROLE \(role) LOGIN PASSWORD '\(password)' IN ROLE password_users")
        let server = try PostgresTestServer.require().url
        return (try PGURL("postgres://\(role)@\(server.host!):\(server.port!)/\(url.database!)"), role)
    }

    func passfile(_ url: PGURL, _ password: String) throws -> String {
        let path = NSTemporaryDirectory() + "pgpass-" + UUID().uuidString
        try "\(url.host!):\(url.port!):*:\(url.user!):\(password)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    @Test func aPassfileParameterSuppliesThePasswordAndAWrongOneIsNeverRepeated() throws {
        let secret = "s3cret-" + UUID().uuidString
        let (url, _) = try passwordRole(secret)
        // No password anywhere: refused, and the error says so without inventing one.
        let none = try #require(throws: PGError.self) { try PGConnection(try PGURL(url.text + "?passfile=/nonexistent")) }
        #expect(none.kind == .connection)
        let good = try passfile(url, secret)
        let c = try PGConnection(try PGURL(url.text + "?passfile=\(good)"))
        #expect(c.usedPassword)
        #expect(try c.execute("SELECT current_user").scalar(String.self) == url.user)
        let wrongSecret = "wr0ng-" + UUID().uuidString
        let bad = try passfile(url, wrongSecret)
        let error = try #require(throws: PGError.self) { try PGConnection(try PGURL(url.text + "?passfile=\(bad)")) }
        #expect(error.kind == .connection && error.description.contains("password authentication failed"))
        #expect(!error.description.contains(wrongSecret) && !error.description.contains(secret))
    }

    /// `PGPASSWORD` and `PGPASSFILE` are read from the environment by libpq; a
    /// test process must not change its own environment while other tests'
    /// threads read it, so this test runs itself again as a child process with
    /// the variables set, and checks what the child printed.
    @Test func thePasswordVariablesOfLibpqAreHonouredAndNeverPrinted() throws {
        let environment = ProcessInfo.processInfo.environment
        if let childURL = environment["SLIPWAY_PG_CHILD_URL"] {
            // The child: connect with whatever libpq finds, and print what happened.
            do {
                let c = try PGConnection(try PGURL(childURL))
                print("child connected, used a password: \(c.usedPassword)")
            } catch {
                print("child refused: \(error)")
            }
            return
        }
        let secret = "s3cret-" + UUID().uuidString
        let (url, _) = try passwordRole(secret)
        func child(_ variables: [String: String]) throws -> String {
            var env = environment.filter { !$0.key.hasPrefix("PG") }
            env["SLIPWAY_PG_CHILD_URL"] = url.text
            env["HOME"] = NSTemporaryDirectory()  // no ~/.pgpass of the machine's
            for (k, v) in variables { env[k] = v }
            let (_, out, err) = try runCommand([CommandLine.arguments[0], "--testing-library", "swift-testing",
                                                "--filter", "thePasswordVariablesOfLibpqAreHonouredAndNeverPrinted"], environment: env)
            return out + err
        }
        let viaVariable = try child(["PGPASSWORD": secret])
        #expect(viaVariable.contains("child connected, used a password: true"), "\(viaVariable)")
        #expect(!viaVariable.contains(secret))
        let viaFile = try child(["PGPASSFILE": try passfile(url, secret)])
        #expect(viaFile.contains("child connected, used a password: true"), "\(viaFile)")
        let wrong = "wr0ng-" + UUID().uuidString
        let refused = try child(["PGPASSWORD": wrong])
        #expect(refused.contains("child refused") && refused.contains("password authentication failed"), "\(refused)")
        #expect(!refused.contains(wrong) && !refused.contains(secret))
    }
}
