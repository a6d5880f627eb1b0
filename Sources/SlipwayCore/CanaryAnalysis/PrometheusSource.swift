import Foundation

/// An analysis source that asks Prometheus: an instant query through its
/// HTTP API (`GET ADDRESS/api/v1/query?query=…`), the answer's vector
/// matched to the version being judged by one of its labels.
///
/// `${SLIPWAY_ANALYSIS_VERSION}` in the query (and in `versionValue`) stands
/// for that version, so one query, sent once per version or once for both,
/// gives the candidate's value and, for `production` in a condition, the
/// stable version's.
public struct PrometheusSource: Sendable, Hashable, Codable {
    /// `http://127.0.0.1:9090` (a path prefix is kept: `http://host/prometheus`).
    public var address: String
    /// PromQL, as written in slipway.yaml.
    public var query: String
    /// The label whose value names the version of each series (`server`,
    /// `version`); nil: the query answers with one series, the version's.
    public var versionLabel: String?
    /// What that label holds for a version: `${SLIPWAY_ANALYSIS_VERSION}`
    /// (the default), or `v${SLIPWAY_ANALYSIS_VERSION}`, `model-${…}`.
    public var versionValue: String

    public static let versionToken = "${SLIPWAY_ANALYSIS_VERSION}"

    public init(address: String, query: String, versionLabel: String? = nil, versionValue: String = PrometheusSource.versionToken) {
        self.address = address
        self.query = query
        self.versionLabel = versionLabel
        self.versionValue = versionValue
    }

    static func substitute(_ text: String, version: Int) -> String {
        text.replacingOccurrences(of: versionToken, with: String(version))
            .replacingOccurrences(of: "$SLIPWAY_ANALYSIS_VERSION", with: String(version))
    }

    /// The PromQL as sent for `version`.
    public func queryText(version: Int) -> String { Self.substitute(query, version: version) }

    /// Whether the query differs per version (else one answer serves both).
    public var dependsOnVersion: Bool { query.contains(Self.versionToken) || query.contains("$SLIPWAY_ANALYSIS_VERSION") }

    /// The instant-query address for `version`.
    public func url(version: Int) -> String {
        var base = address
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/api/v1/query?query=" + Self.formEncode(queryText(version: version))
    }

    /// Percent-encoding for a query-string value: everything but unreserved characters.
    public static func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.isASCII, allowed.contains(scalar) { out.unicodeScalars.append(scalar); continue }
            for byte in String(scalar).utf8 { out += String(format: "%%%02X", byte) }
        }
        return out
    }

    /// The label value naming `version`.
    public func label(version: Int) -> String { Self.substitute(versionValue, version: version) }
}

/// Why an answer gave no value: no data (empty vector, no series for the
/// version, NaN), which is inconclusive, or an error of the source (an error
/// status, an answer that is not Prometheus's, a value that is not a
/// number), which is an error. Neither is ever a pass.
public struct AnswerProblem: Error, Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case noData, error }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// Reads an instant query's answer (pure).
public enum PrometheusAnswer {
    /// The value of the series for `version` in `body` (the HTTP answer).
    public static func value(_ body: Data, source: PrometheusSource, version: Int) -> Result<Double, AnswerProblem> {
        guard let json = try? JSONSerialization.jsonObject(with: body), let top = json as? [String: Any] else {
            return .failure(AnswerProblem(.error, "the answer is not Prometheus JSON: '\(String(decoding: body.prefix(60), as: UTF8.self))'"))
        }
        guard let status = top["status"] as? String, status == "success" else {
            let why = (top["error"] as? String).map { ": \($0.prefix(200))" } ?? ""
            return .failure(AnswerProblem(.error, "Prometheus answered status '\(top["status"] as? String ?? "none")'\(why)"))
        }
        guard let data = top["data"] as? [String: Any], let type = data["resultType"] as? String else {
            return .failure(AnswerProblem(.error, "the answer has no data.resultType"))
        }
        switch type {
        case "scalar":
            guard let pair = data["result"] as? [Any] else { return .failure(AnswerProblem(.error, "a scalar answer without a value")) }
            return number(pair)
        case "vector":
            guard let series = data["result"] as? [[String: Any]] else { return .failure(AnswerProblem(.error, "a vector answer without a result list")) }
            if series.isEmpty { return .failure(AnswerProblem(.noData, "empty vector (no data)")) }
            let chosen: [String: Any]
            if let label = source.versionLabel {
                let want = source.label(version: version)
                let matching = series.filter { (($0["metric"] as? [String: Any])?[label] as? String) == want }
                guard let first = matching.first else {
                    return .failure(AnswerProblem(.noData, "no series with \(label)=\"\(want)\" among \(series.count)"))
                }
                guard matching.count == 1 else {
                    return .failure(AnswerProblem(.error, "\(matching.count) series with \(label)=\"\(want)\": aggregate them in the query (sum by (\(label)))"))
                }
                chosen = first
            } else {
                guard series.count == 1 else {
                    return .failure(AnswerProblem(.error, "\(series.count) series and no version_label to choose the version's"))
                }
                chosen = series[0]
            }
            guard let pair = chosen["value"] as? [Any] else { return .failure(AnswerProblem(.error, "a series without a value")) }
            return number(pair)
        default:
            return .failure(AnswerProblem(.error, "a \(type) answer: an instant query must give a vector or a scalar"))
        }
    }

    /// `[timestamp, "0.0213"]`: the string is the value; NaN and ±Inf are no data.
    static func number(_ pair: [Any]) -> Result<Double, AnswerProblem> {
        guard pair.count == 2, let text = pair[1] as? String else {
            return .failure(AnswerProblem(.error, "the sample is not [time, \"value\"]"))
        }
        guard let v = Double(text.trimmingWhitespace()) ?? (text == "NaN" ? .nan : nil) else {
            return .failure(AnswerProblem(.error, "'\(text.prefix(40))' is not a number"))
        }
        guard v.isFinite else { return .failure(AnswerProblem(.noData, "the value is \(text) (no traffic to divide by?)")) }
        return .success(v)
    }
}
