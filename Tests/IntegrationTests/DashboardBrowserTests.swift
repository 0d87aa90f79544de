import Foundation
import XCTest
import Search
import Store

/// A real small search with a reader reading the store the whole time (WAL readers never block
/// the writer: the search completes while they read), then `pba dashboard` on the finished run
/// loaded in headless Chromium: the rendered DOM shows the population and the schedule, and the
/// screenshot is a picture, not a blank page.
final class DashboardBrowserTests: XCTestCase {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { FileManager.default.isExecutableFile(atPath: $0) }

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        }
        guard FileManager.default.fileExists(atPath: PBAProcess.executable.path) else { throw XCTSkip("pba executable not built") }
    }

    func testDashboardOfARealSearchInHeadlessChromium() throws {
        let dir = try PBAProcess.temporaryDirectory(self)
        let db = dir + "/pba.sqlite"
        let search = try PBAProcess.start(["search", "--db", db, "--workers", "2", "--out", dir + "/out", "--population", "4", "--epochs", "4",
                                           "--interval", "2", "--train-size", "256", "--validation-size", "128"], log: dir + "/search.log")
        // Read continuously while it writes: every read must succeed and see progress only grow.
        var reads = 0, lastDone = 0, sawUnfinished = false
        var reader: Store?
        while search.isRunning {
            if reader == nil, FileManager.default.fileExists(atPath: db) { reader = try? Store(readOnlyPath: db) }
            if let reader, let run = try reader.runs().first {
                let configuration = try JSONDecoder().decode(SearchConfiguration.self, from: Data(run.searchConfiguration.utf8))
                let state = try PopulationSearch.replay(configuration: configuration, events: reader.events(run: run.id))
                let done = state.members.map(\.completedEpochs).reduce(0, +)
                XCTAssertGreaterThanOrEqual(done, lastDone, "a reader saw progress go backwards")
                lastDone = done
                if done < 16 { sawUnfinished = true }
                _ = try reader.intervals(run: run.id)
                reads += 1
            }
            usleep(20_000)
        }
        XCTAssertEqual(PBAProcess.wait(search, seconds: 180, "pba search"), 0, (try? String(contentsOfFile: dir + "/search.log", encoding: .utf8)) ?? "")
        XCTAssertGreaterThan(reads, 0)
        XCTAssertTrue(sawUnfinished, "the reader never saw the search in progress")
        let store = try Store(readOnlyPath: db)
        let run = try XCTUnwrap(store.runs().first)
        XCTAssertEqual(run.status, .finished)

        // The dashboard on the finished run.
        let dash = try PBAProcess.start(["dashboard", "--db", db, "--bind", "127.0.0.1:0"], log: dir + "/dashboard.log")
        defer { dash.terminate(); dash.waitUntilExit() }
        var address: String?
        let deadline = Date().addingTimeInterval(30)
        while address == nil && Date() < deadline && dash.isRunning {
            let log = (try? String(contentsOfFile: dir + "/dashboard.log", encoding: .utf8)) ?? ""
            address = log.split(separator: "\n").first { $0.hasPrefix("dashboard: http://") }.map { String($0.dropFirst("dashboard: ".count)) }
            usleep(50_000)
        }
        let base = try XCTUnwrap(address, (try? String(contentsOfFile: dir + "/dashboard.log", encoding: .utf8)) ?? "")
        guard let chromium else {
            if ProcessInfo.processInfo.environment["PBA_REQUIRE_BROWSER"] == "1" { XCTFail("chromium is not installed") }
            throw XCTSkip("chromium is not installed (apt-get install chromium)")
        }
        let url = base + "runs/" + run.id
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                     "--user-data-dir=\(dir)/chromium", "--virtual-time-budget=3000"]
        let dom = try runChromium(chromium, flags + ["--dump-dom", url], dir: dir, output: dir + "/dom.html")
        // The population table with one row per member, and the schedule heatmap's cells.
        XCTAssertTrue(dom.contains("<table id=\"population\">"), String(dom.prefix(2000)))
        XCTAssertEqual(dom.components(separatedBy: "<tr data-member=").count - 1, 4)
        XCTAssertTrue(dom.contains("id=\"schedule-heatmap\""))
        XCTAssertGreaterThanOrEqual(dom.components(separatedBy: "class=\"cell\"").count - 1, 30)
        XCTAssertEqual(dom.components(separatedBy: "class=\"curve\"").count - 1, 4)
        XCTAssertTrue(dom.contains("Winner: <b>member "), "the finished run names its winner")

        let png = dir + "/run.png"
        _ = try runChromium(chromium, flags + ["--window-size=1200,2600", "--screenshot=\(png)", url], dir: dir, output: nil)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: png)))
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "not a PNG")
        let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(width, 1200)
        XCTAssertEqual(height, 2600)
        // A blank or error page compresses to a few KB; the page with its charts does not. With
        // Pillow (make test installs python3-pil) count the colours too.
        XCTAssertGreaterThan(bytes.count, 40_000, "screenshot is \(bytes.count) bytes: a blank page?")
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            p.arguments = ["-c", "import sys\ntry:\n from PIL import Image\nexcept ImportError:\n print('no-pil'); sys.exit(0)\nim=Image.open(sys.argv[1]).convert('RGB')\nprint(len(im.getcolors(1<<24)))", png]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run(); p.waitUntilExit()
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if let colours = Int(out) { XCTAssertGreaterThan(colours, 100, "the screenshot has \(colours) colours") }
        }
    }

    func runChromium(_ path: String, _ arguments: [String], dir: String, output: String?) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        if let output {
            FileManager.default.createFile(atPath: output, contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: output)
        } else {
            p.standardOutput = FileHandle.nullDevice
        }
        p.standardError = FileHandle(forWritingAtPath: dir + "/chromium.log") ?? FileHandle.nullDevice
        try p.run()
        XCTAssertEqual(PBAProcess.wait(p, seconds: 90, "chromium"), 0)
        return output.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
    }
}
