import Foundation

/// A registry's `WWW-Authenticate` answer to a request without (good)
/// credentials (RFC 7235): `Basic realm="…"`, or the token flow of the
/// distribution spec, `Bearer realm="https://auth.example.org/token",
/// service="registry.example.org",scope="repository:team/clf:pull,push"`.
/// Quoted values may hold commas (a scope's actions) and `\"`.
public struct RegistryChallenge: Sendable, Hashable {
    public enum Scheme: String, Sendable { case basic, bearer }

    public var scheme: Scheme
    /// Parameter names in lower case.
    public var parameters: [String: String]

    public var realm: String? { parameters["realm"] }
    public var service: String? { parameters["service"] }
    /// The scopes asked for (a challenge may list several, space-separated).
    public var scopes: [String] { (parameters["scope"] ?? "").split(separator: " ").map(String.init) }

    public init(scheme: Scheme, parameters: [String: String]) {
        self.scheme = scheme
        self.parameters = parameters
    }

    /// The first Basic or Bearer challenge in a header; nil when there is none.
    public static func parse(_ header: String) -> RegistryChallenge? {
        var chars = Substring(header)
        var found: RegistryChallenge?
        while found == nil {
            chars = chars.drop { $0 == " " || $0 == "," }
            let name = chars.prefix { $0 != " " && $0 != "," }
            guard !name.isEmpty else { return nil }
            chars = chars.dropFirst(name.count)
            let params = parameters(&chars)
            if let scheme = Scheme(rawValue: name.lowercased()) { found = RegistryChallenge(scheme: scheme, parameters: params) }
        }
        return found
    }

    /// `key=value` or `key="quoted"` pairs up to the next scheme name.
    private static func parameters(_ chars: inout Substring) -> [String: String] {
        var params: [String: String] = [:]
        while true {
            let rest = chars.drop { $0 == " " || $0 == "," }
            let key = rest.prefix { $0 != "=" && $0 != " " && $0 != "," }
            let afterKey = rest.dropFirst(key.count)
            // No '=' after the token: it is the next challenge's scheme.
            guard !key.isEmpty, afterKey.first == "=" else { return params }
            var value = ""
            var tail = afterKey.dropFirst()
            if tail.first == "\"" {
                tail = tail.dropFirst()
                var escaped = false
                while let c = tail.first {
                    tail = tail.dropFirst()
                    if escaped { value.append(c); escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { break } else { value.append(c) }
                }
            } else {
                value = String(tail.prefix { $0 != "," && $0 != " " })
                tail = tail.dropFirst(value.count)
            }
            params[key.lowercased()] = value
            chars = tail
        }
    }
}
