import ArgumentParser
import Foundation
import Logging
import Dashboard
import DashboardServer
import Store

struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "A live web dashboard of the runs and evaluations in a database (read-only).",
        discussion: """
        Serves the runs list, each run's population, validation-accuracy curves with exploit \
        events, the current best member's lineage, the schedule so far, perturbations and \
        workers, the evaluation reports, a JSON API under /api/ and Prometheus metrics at \
        /metrics. It opens the database read-only: run it next to a live `pba search` or \
        `pba coordinator` (SQLite WAL readers never block the writer), or after the run.
        Binds loopback by default. Any other address needs --token-file: requests then carry \
        `Authorization: Bearer TOKEN`, or `?token=TOKEN` once in a browser (which sets a cookie).
        SIGINT/SIGTERM: finish the requests in progress and exit 0.
        """)

    @OptionGroup var store: StoreOptions
    @Option(help: "HOST:PORT to listen on (port 0: a free one, printed at start).")
    var bind: String = "127.0.0.1:8080"
    @Option(help: "File whose first line is the access token (at least 16 characters); required for a non-loopback --bind.")
    var tokenFile: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error") }
        try DashboardOptions.check(bind: bind, tokenFile: tokenFile, option: "--bind")
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "pba.dashboard")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        guard FileManager.default.fileExists(atPath: store.db) else {
            throw ValidationError("no database at \(store.db) (start a search with `pba search --db \(store.db)`, then watch it here)")
        }
        let server = try DashboardOptions.server(db: store.db, bind: bind, tokenFile: tokenFile, logger: logger)
        let db = store.db, announce = logger
        try await server.run(signals: [.sigterm, .sigint]) { address in
            announce.notice("dashboard for \(db) on \(address)")
            FileHandle.standardOutput.write(Data("dashboard: \(address)\n".utf8))
        }
        logger.info("dashboard stopped")
    }
}

/// `--http` for `pba search` and `pba coordinator`: the same dashboard in the same process,
/// on its own read-only connection to the database.
struct DashboardOptions: ParsableArguments {
    @Option(help: "Also serve the web dashboard on HOST:PORT (e.g. 127.0.0.1:8080); see `pba dashboard --help`.")
    var http: String?
    @Option(help: "Token file for a non-loopback --http (see `pba dashboard --help`).")
    var httpTokenFile: String?

    func validate() throws {
        if let http { try Self.check(bind: http, tokenFile: httpTokenFile, option: "--http") }
        if http == nil && httpTokenFile != nil { throw ValidationError("--http-token-file needs --http") }
    }

    static func check(bind: String, tokenFile: String?, option: String) throws {
        let host: String
        do { host = try DashboardAccess.parseBind(bind).host } catch {
            throw ValidationError("\(error)".replacingOccurrences(of: "--bind", with: option))
        }
        if let tokenFile {
            do { _ = try DashboardAccess.readToken(path: tokenFile) } catch { throw ValidationError("\(error)") }
        } else if !DashboardAccess.isLoopback(host: host) {
            throw ValidationError("\(option) \(bind) is reachable from other machines: give \(option == "--http" ? "--http-token-file" : "--token-file") FILE (the dashboard then asks for that token)")
        }
    }

    static func server(db: String, bind: String, tokenFile: String?, logger: Logger) throws -> DashboardServer {
        let (host, port) = try DashboardAccess.parseBind(bind)
        let token = try tokenFile.map { path throws -> String in try DashboardAccess.readToken(path: path) }
        let store = try Store(readOnlyPath: db)
        return try DashboardServer(store: store, databaseName: db, settings: .init(host: host, port: port, token: token), logger: logger)
    }

    /// Starts the dashboard next to a coordinator in this process; the task ends when cancelled
    /// (the process's own SIGINT/SIGTERM handling stops the coordinator, which cancels it).
    func start(db: String, logger: Logger) throws -> Task<Void, Never>? {
        guard let http else { return nil }
        let server = try Self.server(db: db, bind: http, tokenFile: httpTokenFile, logger: logger)
        return Task {
            do {
                try await server.run(signals: []) { address in logger.notice("dashboard on \(address)") }
            } catch is CancellationError {
            } catch {
                logger.error("dashboard stopped: \(error)")
            }
        }
    }
}
