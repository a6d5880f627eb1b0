/// SlipwayCore: the plain values and pure logic every other layer shares.
///
/// It owns the pipeline spec (`slipway.yaml` parsed into typed values, with
/// located errors), the stage DAG, the stage cache key, params lookup, metric
/// line parsing and lexical path rules.
///
/// It performs no I/O: callers hand it text and hashes and get values back.
/// It must not import GRDB, Foundation's file APIs, or any other Slipway target.
public enum Slipway {
    /// The version recorded in every run's provenance.
    public static let version = "0.1.0"
}
