import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import Dashboard
import Store

/// The dashboard's HTTP layer: Hummingbird around `DashboardSite` (pages and JSON) and
/// `DashboardMetrics` (`/metrics`). It copies requests into `DashboardRequest`s and responses
/// back, checks access, logs, and nothing else — every decision is in the pure `Dashboard`.
public struct DashboardServer: Sendable {
    public struct Settings: Sendable {
        public var host: String
        /// 0: any free port (the bound one is reported to `onListening`).
        public var port: Int
        public var token: String?
        public init(host: String = "127.0.0.1", port: Int = 8080, token: String? = nil) {
            self.host = host; self.port = port; self.token = token
        }
    }

    public let settings: Settings
    public let site: DashboardSite
    public let metrics: DashboardMetrics
    public let access: DashboardAccess
    public let logger: Logger

    /// Refuses a non-loopback bind without a token (the security rule), before anything listens.
    public init(store: Store, databaseName: String, settings: Settings, logger: Logger) throws(DashboardAccessError) {
        if settings.token == nil && !DashboardAccess.isLoopback(host: settings.host) {
            throw .tokenRequired("\(settings.host):\(settings.port)")
        }
        self.settings = settings
        let data = DashboardData(store: store)
        site = DashboardSite(data: data, databaseName: databaseName)
        metrics = DashboardMetrics(data: data)
        access = DashboardAccess(token: settings.token)
        self.logger = logger
    }

    /// Answers one request (what the Hummingbird responder calls; also usable directly).
    public func respond(_ request: DashboardRequest) -> DashboardResponse {
        switch access.decide(request) {
        case let .denied(reason):
            return DashboardResponse(status: 401, contentType: "text/plain; charset=utf-8", body: Array((reason + "\n").utf8),
                                     headers: [("WWW-Authenticate", "Bearer realm=\"pba dashboard\"")])
        case .allowed:
            return route(request)
        case let .allowedSettingCookie(cookie):
            var response = route(request)
            response.headers.append(("Set-Cookie", cookie))
            return response
        }
    }

    func route(_ request: DashboardRequest) -> DashboardResponse {
        let path = request.target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
        if path == "/metrics" || path == "/metrics/" {
            guard request.method == "GET" || request.method == "HEAD" else {
                return DashboardResponse(status: 405, contentType: "text/plain", body: Array("read-only\n".utf8), headers: [("Allow", "GET, HEAD")])
            }
            return metrics.scrape()
        }
        return site.respond(to: request)
    }

    /// The Hummingbird application. `onListening` gets the bound address once it listens.
    public func application(onListening: @escaping @Sendable (String) -> Void = { _ in }) -> some ApplicationProtocol {
        let server = self
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let r = DashboardRequest(method: request.method.rawValue, target: request.head.path ?? "/",
                                     authorization: request.headers[.authorization], cookie: request.headers[.cookie])
            let response = server.respond(r)
            if response.status >= 500 { server.logger.error("\(r.method) \(r.target): \(response.status) \(response.text.prefix(300))") }
            else { server.logger.debug("\(r.method) \(r.target): \(response.status)") }
            var headers = HTTPFields()
            headers[.contentType] = response.contentType
            headers[.cacheControl] = "no-store"
            headers[.init("X-Content-Type-Options")!] = "nosniff"
            headers[.init("Content-Security-Policy")!] = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"
            for (name, value) in response.headers {
                if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
            }
            let body = request.method == .head ? ByteBuffer() : ByteBuffer(bytes: response.body)
            headers[.contentLength] = "\(response.body.count)"
            return Response(status: .init(code: response.status), headers: headers, body: .init(byteBuffer: body))
        }
        return Application(
            responder: responder,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "pba-dashboard"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? server.settings.port
                let host = server.settings.host.contains(":") ? "[\(server.settings.host)]" : server.settings.host
                onListening("http://\(host):\(port)/")
            },
            logger: logger)
    }

    /// Serves until SIGINT/SIGTERM (graceful: in-flight requests finish), or until the task is
    /// cancelled when `signals` is empty (inside a process that handles signals itself).
    public func run(signals: [UnixSignal] = [.sigterm, .sigint], onListening: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        let group = ServiceGroup(configuration: .init(services: [application(onListening: onListening)],
                                                      gracefulShutdownSignals: signals, logger: logger))
        guard signals.isEmpty else { return try await group.run() }
        // Cancelling the group's own task would tear the server down mid-request and make the
        // group log the CancellationError as a service failure at the end of every
        // `pba search --http`. So the group runs in a task of its own, and the caller's
        // cancellation becomes a graceful shutdown (triggerGracefulShutdown is remembered even
        // when it comes before the group has started).
        let running = Task { try await group.run() }
        try await withTaskCancellationHandler {
            try await running.value
        } onCancel: {
            Task { await group.triggerGracefulShutdown() }
        }
    }
}
