import Foundation
import PostgresTestServer
import Testing
@testable import SlipwayPostgres

/// libpq parses the URLs; without it these tests cannot run.
func requireLibpq() throws {
    if libpqVersion == nil { try Test.cancel("PostgreSQL tests skipped: libpq is not installed (Debian: libpq5)") }
}

@Suite struct URLTests {
    static let secret = "Tr0ub4dor&3-never-shown"

    @Test func aURLIsParsedByLibpqAndDescribedWithoutAnythingItDidNotSay() throws {
        try requireLibpq()
        let url = try PGURL("postgres://ana@db.example.com:6543/team?sslmode=verify-full&application_name=ci")
        #expect(url.user == "ana" && url.host == "db.example.com" && url.port == "6543" && url.database == "team")
        #expect(url.description == "postgres://ana@db.example.com:6543/team?application_name=ci&sslmode=verify-full")
        #expect(try PGURL("postgresql://localhost/x").redacted == "postgres://localhost/x")
        #expect(try PGURL("postgres://[::1]:5432/x").redacted == "postgres://[::1]:5432/x")
        #expect(try PGURL("postgres://a,b:5433/x").redacted == "postgres://a,b:5433/x")
        #expect(try PGURL("postgres://a:1,b:2/x").redacted == "postgres://a:1,b:2/x")
        let other = url.with(database: "other")
        #expect(other.database == "other" && other.redacted.contains("/other?"))
    }

    @Test(arguments: [
        "postgres://ana:\(URLTests.secret)@db:5432/team",
        "postgres://ana:@db:5432/team",
        "postgresql://ana:\(URLTests.secret)@db/team?sslmode=require",
        "postgres://ana@db/team?password=\(URLTests.secret)",
        "postgres://ana@db/team?sslmode=require&PASSWORD=\(URLTests.secret)",
        "postgres://ana@db/team?sslpassword=\(URLTests.secret)",
        "postgres://ana@db/team?pass%77ord=\(URLTests.secret)",
    ])
    func aPasswordInTheURLIsRefusedWithoutRepeatingIt(_ text: String) throws {
        try requireLibpq()
        let error = try #require(throws: PGError.self) { try PGURL(text) }
        #expect(error.kind == .badURL)
        #expect(error.exitStatus == .usage)
        #expect(!error.description.contains(Self.secret))
        #expect(!String(describing: error).contains(Self.secret) && !String(reflecting: error).contains(Self.secret))
        if !text.contains("%") {
            #expect(error.description.contains("PGPASSWORD") && error.description.contains("pgpass"))
        }
    }

    @Test(arguments: ["host=db user=ana", "mysql://db/x", "", "postgres://db/x?nonsense=1"])
    func whatIsNotAPostgresURLIsRefused(_ text: String) throws {
        try requireLibpq()
        let error = try #require(throws: PGError.self) { try PGURL(text) }
        #expect(error.kind == .badURL)
    }
}
