import Foundation

/// Finished evaluation cells as a file that travels without the store: `pba evaluate` writes one
/// beside every report (and when stopped part-way), and `--import-cells` reads it back, so an
/// evaluation too long for one machine session is trained in parts and its report still comes
/// from one command. A cell is only imported into an evaluation with the same job key (the hash
/// of everything that was trained the same way), and each cell keeps where it was trained.
public struct CellArchive: Codable, Hashable, Sendable {
    public static let formatName = "pba-evaluation-cells"
    public static let currentFormatVersion = 1

    public struct Cell: Codable, Hashable, Sendable {
        /// The candidate's name when it was trained (informational; `candidateKey` identifies it).
        public var candidate: String
        public var candidateKey: String
        public var seed: UInt64
        public var testAccuracy: Double
        public var trainLoss: Double
        public var seconds: Double
        /// Which worker trained it; local workers of `pba evaluate` add their machine's CPU
        /// ("local-812-0 on AMD EPYC (family 25 model 1, AVX2)"): cells of one machine kind are
        /// bit-reproducible, cells of different kinds differ by float rounding.
        public var worker: String?
        public var pbaVersion: String
        public var finishedAt: Date
        /// Predicted class per held-out image, in the held-out set's order.
        public var predictions: [Int32]

        public init(candidate: String, candidateKey: String, seed: UInt64, testAccuracy: Double, trainLoss: Double, seconds: Double,
                    worker: String?, pbaVersion: String, finishedAt: Date, predictions: [Int32]) {
            self.candidate = candidate; self.candidateKey = candidateKey; self.seed = seed; self.testAccuracy = testAccuracy
            self.trainLoss = trainLoss; self.seconds = seconds; self.worker = worker; self.pbaVersion = pbaVersion
            self.finishedAt = finishedAt; self.predictions = predictions
        }
    }

    public var format: String
    public var formatVersion: Int
    /// The training setup every cell shares (`EvaluationWork.key(of:)`).
    public var jobKey: String
    public var cells: [Cell]

    public init(jobKey: String, cells: [Cell]) {
        format = Self.formatName; formatVersion = Self.currentFormatVersion; self.jobKey = jobKey; self.cells = cells
    }

    /// The archive as JSON: sorted keys, one line per cell's predictions, dates in ISO 8601.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        var text = String(decoding: try encoder.encode(self), as: UTF8.self)
        // One cell per line keeps a committed archive's diffs readable.
        text = text.replacingOccurrences(of: "},{\"candidate\"", with: "},\n{\"candidate\"")
        return Data((text + "\n").utf8)
    }

    /// Reads and checks an archive; the error names the file and what is wrong.
    public static func read(_ data: Data, source: String, expectedClasses: Int? = nil, heldOutImages: Int? = nil) throws(CellArchiveError) -> CellArchive {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let archive: CellArchive
        do { archive = try decoder.decode(CellArchive.self, from: data) } catch {
            throw CellArchiveError("\(source): not a cell archive: \(Self.describe(error))")
        }
        guard archive.format == formatName else {
            throw CellArchiveError("\(source): format is '\(archive.format)', expected '\(formatName)'")
        }
        guard archive.formatVersion == currentFormatVersion else {
            throw CellArchiveError("\(source): cell archive version \(archive.formatVersion) is not supported (this pba reads version \(currentFormatVersion))")
        }
        var seen = Set<String>()
        for (i, cell) in archive.cells.enumerated() {
            let at = "\(source): cells[\(i)] (\(cell.candidate) seed \(cell.seed))"
            guard seen.insert("\(cell.candidateKey)#\(cell.seed)").inserted else { throw CellArchiveError("\(at): appears twice") }
            guard cell.testAccuracy.isFinite, (0...1).contains(cell.testAccuracy) else {
                throw CellArchiveError("\(at): testAccuracy \(cell.testAccuracy) is not in 0...1")
            }
            guard cell.seconds.isFinite, cell.seconds >= 0, cell.trainLoss.isFinite else {
                throw CellArchiveError("\(at): seconds \(cell.seconds) or trainLoss \(cell.trainLoss) is not a finite number")
            }
            if let n = heldOutImages, cell.predictions.count != n {
                throw CellArchiveError("\(at): has \(cell.predictions.count) predictions, this evaluation scores \(n) images")
            }
            if let k = expectedClasses, let bad = cell.predictions.first(where: { $0 < 0 || Int($0) >= k }) {
                throw CellArchiveError("\(at): prediction \(bad) is not a class of 0..<\(k)")
            }
        }
        return archive
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, context):
            return "missing key '\(key.stringValue)' at \(path(context.codingPath))"
        case let DecodingError.typeMismatch(type, context), let DecodingError.valueNotFound(type, context):
            return "expected \(type) at \(path(context.codingPath))"
        case let DecodingError.dataCorrupted(context):
            return context.codingPath.isEmpty ? "not valid JSON" : "bad value at \(path(context.codingPath)): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    static func path(_ keys: [CodingKey]) -> String {
        keys.isEmpty ? "$" : String(keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop(while: { $0 == "." }))
    }
}

public struct CellArchiveError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ d: String) { description = d }
}
