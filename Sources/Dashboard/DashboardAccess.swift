import Foundation

/// Who may read the dashboard. Loopback binds are open to the machine's users (as `pba status`
/// is); any other bind needs a token, sent as `Authorization: Bearer TOKEN`, or once as
/// `?token=TOKEN`, which sets an HttpOnly cookie so the page's links and live refresh work in a
/// browser. Tokens are compared in constant time.
public struct DashboardAccess: Sendable {
    public let token: [UInt8]?
    public static let cookieName = "pba_dashboard_token"

    public init(token: String?) { self.token = token.map { Array($0.utf8) } }

    public enum Decision: Equatable, Sendable {
        case allowed
        /// Allowed by the query token: set the cookie for the next requests.
        case allowedSettingCookie(String)
        case denied(String)
    }

    public func decide(_ request: DashboardRequest) -> Decision {
        guard let token else { return .allowed }
        if let header = request.authorization, header.hasPrefix("Bearer ") {
            return Self.constantTimeEquals(Array(header.dropFirst(7).utf8), token) ? .allowed : .denied("wrong token")
        }
        if let cookie = request.cookie {
            for part in cookie.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == Self.cookieName {
                    let value = String(kv[1]).removingPercentEncoding ?? ""
                    if Self.constantTimeEquals(Array(value.utf8), token) { return .allowed }
                }
            }
        }
        if let target = DashboardSite.Target(request.target), let given = target.query["token"] {
            guard Self.constantTimeEquals(Array(given.utf8), token) else { return .denied("wrong token") }
            let value = given.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            return .allowedSettingCookie("\(Self.cookieName)=\(value); Path=/; HttpOnly; SameSite=Strict")
        }
        return .denied("this dashboard needs a token: Authorization: Bearer TOKEN, or ?token=TOKEN once in a browser")
    }

    /// True when `a` equals `b`; the time taken depends only on `b`'s length (the secret's, fixed
    /// for a server), never on where `a` first differs or on `a`'s length.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference: UInt8 = a.count == b.count ? 0 : 1
        for i in 0..<b.count {
            let x = i < a.count ? a[i] : ~b[i]
            difference |= x ^ b[i]
        }
        return difference == 0
    }

    /// Reads a token file: the first line, trimmed; it must be at least 16 characters so that a
    /// guessable token is refused at start rather than trusted.
    public static func readToken(path: String) throws(DashboardAccessError) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw .unreadable(path) }
        let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard token.count >= 16 else { throw .tooShort(path: path, length: token.count) }
        guard token.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else { throw .notPrintable(path) }
        return token
    }

    /// True for 127.0.0.0/8, ::1 and localhost.
    public static func isLoopback(host: String) -> Bool {
        let h = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    /// Parses HOST:PORT (IPv6 as [ADDR]:PORT); the port must be 0...65535 (0: any free port).
    public static func parseBind(_ s: String) throws(DashboardAccessError) -> (host: String, port: Int) {
        guard let colon = s.lastIndex(of: ":") else { throw .badBind(s) }
        var host = String(s[..<colon])
        guard let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port), !host.isEmpty else { throw .badBind(s) }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }
}

public enum DashboardAccessError: Error, CustomStringConvertible, Equatable {
    case unreadable(String)
    case tooShort(path: String, length: Int)
    case notPrintable(String)
    case badBind(String)
    case tokenRequired(String)

    public var description: String {
        switch self {
        case let .unreadable(p): return "--token-file \(p): cannot read it"
        case let .tooShort(p, n): return "--token-file \(p): the token is \(n) characters; use at least 16 (e.g. `openssl rand -hex 32 > \(p)`)"
        case let .notPrintable(p): return "--token-file \(p): the token must be printable ASCII without spaces"
        case let .badBind(s): return "--bind \(s): expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080"
        case let .tokenRequired(s): return "--bind \(s) is reachable from other machines: give --token-file FILE (the dashboard then asks for that token)"
        }
    }
}
