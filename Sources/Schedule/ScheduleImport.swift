import Augment
import Foundation

/// The kinds of file a schedule can be read from.
public enum ScheduleFileKind: String, Sendable {
    /// pba's schedule JSON document.
    case scheduleJSON
    /// A Ray Tune / PBA lineage policy log (one perturbation per line).
    case policyLog
    /// PBA's `[[n_epochs, policy], ...]` form.
    case pbaSchedule

    /// Recognises a file by its first non-blank character and first value: `{` a schedule
    /// document; a list whose first element is a string a policy log; else PBA's form.
    public static func detect(_ text: String) -> ScheduleFileKind {
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        if trimmed.hasPrefix("{") { return .scheduleJSON }
        let firstLine = trimmed.prefix { $0 != "\n" }
        if let value = try? LiteralParser.parse(String(firstLine)).value, case let .list(items) = value,
           case .string? = items.first {
            return .policyLog
        }
        return .pbaSchedule
    }
}

extension AugmentationSchedule {
    /// Reads a schedule from any of the supported files. A policy log needs the epoch count
    /// its search ran for (`learnedEpochs`); for PBA's form it defaults to the segments' sum.
    public init(reading text: String, learnedEpochs: Int?, operations: OperationSet = .pba,
                context: ScheduleContext) throws(ScheduleError) {
        switch ScheduleFileKind.detect(text) {
        case .scheduleJSON:
            self = try AugmentationSchedule.decode(jsonData: Data(text.utf8))
        case .policyLog:
            guard let learnedEpochs else {
                throw .notRepresentable("a policy log does not say how many epochs the search ran: give the epoch count (PBA: 200 for reduced CIFAR-10, 160 for reduced SVHN)")
            }
            self = try AugmentationSchedule(importingLog: text, epochs: learnedEpochs, operations: operations, context: context)
        case .pbaSchedule:
            let pba = try PBASchedule(parsing: text, operations: operations)
            if let learnedEpochs, learnedEpochs != pba.epochs {
                throw .notRepresentable("the PBA schedule's segments sum to \(pba.epochs) epochs, not \(learnedEpochs)")
            }
            guard pba.epochs >= 1 else { throw .invalidField(line: 1, field: "schedule", message: "covers no epoch") }
            self.init(pba: pba, operations: operations, context: context)
        }
    }
}
