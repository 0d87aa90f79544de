import Foundation
import Store

/// An HTTP request as the dashboard sees it: method, the raw request target (path and query,
/// percent-encoded as sent) and the two headers it reads.
public struct DashboardRequest: Sendable {
    public var method: String
    public var target: String
    public var authorization: String?
    public var cookie: String?

    public init(method: String = "GET", target: String, authorization: String? = nil, cookie: String? = nil) {
        self.method = method; self.target = target; self.authorization = authorization; self.cookie = cookie
    }
}

/// What to send back. Pure value; the HTTP layer copies it onto the wire.
public struct DashboardResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public var headers: [(String, String)] = []

    public init(status: Int, contentType: String, body: [UInt8], headers: [(String, String)] = []) {
        self.status = status; self.contentType = contentType; self.body = body; self.headers = headers
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    static func html(_ s: String, status: Int = 200) -> DashboardResponse {
        DashboardResponse(status: status, contentType: "text/html; charset=utf-8", body: Array(s.utf8))
    }
    static func json<T: Encodable>(_ value: T, status: Int = 200) -> DashboardResponse {
        DashboardResponse(status: status, contentType: "application/json", body: DashboardAPI.encode(value))
    }
}

/// Every page and API document of the dashboard, routed from a request target: pure apart
/// from the store reads through `DashboardData`, so each route is testable without a socket.
/// Bad input — an unknown path, run or job, a malformed percent-escape, a method other than
/// GET/HEAD — gets a 4xx with a message, never a trap.
public struct DashboardSite: Sendable {
    public let data: DashboardData
    /// Shown on the runs page (the database's path).
    public let databaseName: String
    public let clock: @Sendable () -> Date

    public init(data: DashboardData, databaseName: String, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.data = data; self.databaseName = databaseName; self.clock = clock
    }

    /// Longest request target served (anything longer is nobody's run id).
    public static let maximumTargetLength = 4096

    /// A parsed request target: decoded path segments (empty ones dropped) and query items.
    public struct Target: Equatable, Sendable {
        public var segments: [String]
        public var query: [String: String]

        /// Nil for a target that is not an absolute path or has a malformed escape.
        public init?(_ raw: String) {
            guard raw.hasPrefix("/"), raw.utf8.count <= DashboardSite.maximumTargetLength else { return nil }
            let parts = raw.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            var segments: [String] = []
            for s in parts[0].split(separator: "/") {
                guard let decoded = String(s).removingPercentEncoding, !decoded.contains("\0") else { return nil }
                segments.append(decoded)
            }
            var query: [String: String] = [:]
            if parts.count == 2 {
                for item in parts[1].split(separator: "&") {
                    let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    guard let key = String(kv[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding,
                          let value = (kv.count == 2 ? String(kv[1]) : "").replacingOccurrences(of: "+", with: " ").removingPercentEncoding
                    else { return nil }
                    query[key] = value
                }
            }
            self.segments = segments
            self.query = query
        }
    }

    public func respond(to request: DashboardRequest) -> DashboardResponse {
        guard let target = Target(request.target) else {
            return problem(400, "malformed request path", api: request.target.hasPrefix("/api/"))
        }
        let api = target.segments.first == "api"
        guard request.method == "GET" || request.method == "HEAD" else {
            var r = problem(405, "the dashboard is read-only: \(request.method) is not allowed", api: api)
            r.headers.append(("Allow", "GET, HEAD"))
            return r
        }
        do {
            return try route(target.segments)
        } catch let e as DashboardData.LoadError {
            switch e {
            case .unknownRun: return problem(404, e.description, api: api)
            case .unreadable, .store: return problem(500, e.description, api: api)
            }
        } catch let e as EvaluationView.BuildError {
            return problem(404, e.description, api: api)
        } catch {
            return problem(500, "\(error)", api: api)
        }
    }

    func route(_ s: [String]) throws -> DashboardResponse {
        let now = clock()
        switch s.count {
        case 0:
            let (runs, unreadable) = try data.snapshots()
            return .html(Pages.runsList(runs.map { RunSummary(RunView($0, now: now)) }, unreadable: unreadable, database: databaseName))
        case 1 where s[0] == "runs":
            return DashboardResponse(status: 302, contentType: "text/plain", body: Array("see /".utf8), headers: [("Location", "/")])
        case 1 where s[0] == "healthz":
            return DashboardResponse(status: 200, contentType: "text/plain", body: Array("pba dashboard ok\n".utf8))
        case 2 where s[0] == "runs":
            return .html(Pages.run(RunView(try data.snapshot(run: s[1]), now: now)))
        case 1 where s[0] == "evaluations":
            return .html(Pages.evaluationsList(try data.evaluationJobs()))
        case 2 where s[0] == "evaluations":
            return .html(Pages.evaluation(try evaluation(s[1])))
        default:
            break
        }
        guard s.first == "api" else { return problem(404, "no page at /\(s.joined(separator: "/"))", api: false) }
        switch Array(s.dropFirst()) {
        case ["runs"]:
            let (runs, unreadable) = try data.snapshots()
            return .json(DashboardAPI.runList(runs.map { RunSummary(RunView($0, now: now)) }, unreadable: unreadable))
        case let r where r.count == 2 && r[0] == "runs":
            return .json(DashboardAPI.run(RunView(try data.snapshot(run: r[1]), now: now)))
        case let r where r.count == 3 && r[0] == "runs":
            let view = RunView(try data.snapshot(run: r[1]), now: now)
            switch r[2] {
            case "members": return .json(view.members)
            case "curves": return .json(DashboardAPI.curves(view))
            case "intervals": return .json(DashboardAPI.intervals(view.snapshot))
            case "perturbations": return .json(view.perturbations)
            case "lineage": return .json(view.lineage)
            case "schedule": return .json(DashboardAPI.schedule(view))
            case "workers": return .json(view.workers)
            default: return problem(404, "no document '\(r[2])' for a run (members, curves, intervals, perturbations, lineage, schedule, workers)", api: true)
            }
        case ["evaluations"]:
            return .json(DashboardAPI.evaluations(try data.evaluationJobs()))
        case let r where r.count == 2 && r[0] == "evaluations":
            return .json(DashboardAPI.evaluation(try evaluation(r[1])))
        default:
            return problem(404, "no API document at /\(s.joined(separator: "/"))", api: true)
        }
    }

    func evaluation(_ key: String) throws -> EvaluationView {
        guard let job = try data.evaluationJobs().first(where: { $0.jobKey == key }) else { throw EvaluationView.BuildError.noCells(key) }
        return try EvaluationView(job: job, cells: try data.evaluationCells(jobKey: key))
    }

    func problem(_ status: Int, _ message: String, api: Bool) -> DashboardResponse {
        api ? .json(DashboardAPI.Problem(status: status, error: message), status: status) : .html(Pages.error(status: status, message: message), status: status)
    }
}
