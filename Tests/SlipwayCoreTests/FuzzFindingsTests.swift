import Foundation
import Testing
@testable import SlipwayCore

/// Inputs the fuzzers (Fuzz/) found crashing a parser or its first reader;
/// each stays a test so the fix stays.
@Suite struct FuzzFindingsTests {
    /// `watch: 99999999999999999999h` parsed to 3.6e23 s; showing it trapped
    /// converting to Int (the agent's and `deployments`' detail text). Such a
    /// duration is now refused as longer than a century, and the formatter
    /// still shows any size.
    @Test func aDurationOfAnySizeIsShownWithoutCrashing() throws {
        #expect(Durations.parse("99999999999999999999h") == .failure(.tooLong))
        let huge = 99999999999999999999.0 * 3600
        #expect(Durations.format(huge).hasSuffix(":00:00"))
        #expect(Durations.clock(huge).hasSuffix(":00:00"))
        #expect(Durations.format(-1e300) == "-900000000000000.0s")
        #expect(Durations.format(.nan) == "?" && Durations.format(.infinity) == "∞" && Durations.clock(-.infinity) == "0:00")
        #expect(Durations.format(102) == "1:42" && Durations.clock(6) == "0:06")
    }
}
