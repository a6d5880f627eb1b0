import Foundation
import Testing
@testable import SlipwayCore

/// Inputs the fuzzers (Fuzz/) found crashing a parser or its first reader;
/// each stays a test so the fix stays.
@Suite struct FuzzFindingsTests {
    /// `watch: 99999999999999999999h` parses to 3.6e23 s; showing it trapped
    /// converting to Int (the agent's and `deployments`' detail text).
    @Test func aDurationOfAnySizeIsShownWithoutCrashing() throws {
        let huge = try #require(Durations.seconds(from: "99999999999999999999h"))
        #expect(Durations.format(huge).hasSuffix(":00:00"))
        #expect(Durations.clock(huge).hasSuffix(":00:00"))
        #expect(Durations.format(-1e300) == "-900000000000000.0s")
        #expect(Durations.format(.nan) == "?" && Durations.format(.infinity) == "∞" && Durations.clock(-.infinity) == "0:00")
        #expect(Durations.format(102) == "1:42" && Durations.clock(6) == "0:06")
    }
}
