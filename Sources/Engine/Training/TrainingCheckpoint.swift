import Foundation
import Tensor

/// The complete state of a training run, as one checkpoint file: architecture, options,
/// progress, normalisation and the model's flat buffers (parameters, momentum, statistics).
///
/// Batch order and augmentation are pure functions of (seed, epoch, step), so seed and progress
/// are the whole random state: saving, loading and training on gives bit-identical weights to
/// training straight through.
public struct TrainingCheckpoint {
    /// The JSON metadata of the file.
    public struct Metadata: Codable, Equatable, Sendable {
        public var kind = "pba.training-state"
        public var version = 1
        public var model: ModelSpec
        public var options: TrainingOptions
        public var progress: TrainingProgress
        public var normalization: Normalization?
        /// Names and element counts of the parameter slices, to reject a different architecture.
        public var parameterLayout: [String]
        public var statisticLayout: [String]
        /// Free-form provenance (data set, command line).
        public var notes: [String: String] = [:]
    }

    public static func layoutNames(_ slices: [ParameterSlice]) -> [String] {
        slices.map { "\($0.name):\($0.count)" }
    }

    /// Encodes a trainer's state.
    public static func file(of trainer: Trainer, normalization: Normalization?, notes: [String: String] = [:]) throws -> CheckpointFile {
        let store = trainer.model.parameters
        let metadata = Metadata(model: trainer.model.spec, options: trainer.options, progress: trainer.progress,
                                normalization: normalization,
                                parameterLayout: layoutNames(store.slices), statisticLayout: layoutNames(store.statisticSlices),
                                notes: notes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(metadata)
        return try CheckpointFile(metadata: [UInt8](json), sections: [
            .init(name: "parameters", values: store.values.array),
            .init(name: "momentum", values: store.momentum.array),
            .init(name: "statistics", values: store.statistics.array),
        ])
    }

    public static func save(_ trainer: Trainer, normalization: Normalization?, to path: String, notes: [String: String] = [:]) throws {
        try file(of: trainer, normalization: normalization, notes: notes).write(to: path)
    }

    /// Reads the metadata of a checkpoint file, validating kind and version.
    public static func metadata(of file: CheckpointFile, source: String) throws(TrainingCheckpointError) -> Metadata {
        let m: Metadata
        do {
            m = try JSONDecoder().decode(Metadata.self, from: Data(file.metadata))
        } catch {
            throw .malformedMetadata(path: source, reason: "\(error)")
        }
        guard m.kind == "pba.training-state" else { throw .wrongKind(path: source, kind: m.kind) }
        guard m.version == 1 else { throw .unsupportedVersion(path: source, version: m.version) }
        return m
    }

    /// Restores a trainer from a file: a new model of the saved architecture with the saved state.
    public static func restore(from file: CheckpointFile, source: String) throws -> (trainer: Trainer, metadata: Metadata) {
        let m = try metadata(of: file, source: source)
        let trainer = Trainer(spec: m.model, options: m.options)
        try load(file, metadata: m, into: trainer, source: source)
        return (trainer, m)
    }

    public static func load(path: String) throws -> (trainer: Trainer, metadata: Metadata) {
        try restore(from: try CheckpointFile.read(from: path), source: path)
    }

    /// Loads buffers into an existing trainer whose architecture must match.
    public static func load(_ file: CheckpointFile, metadata m: Metadata, into trainer: Trainer, source: String) throws {
        let store = trainer.model.parameters
        guard m.model == trainer.model.spec, m.parameterLayout == layoutNames(store.slices),
              m.statisticLayout == layoutNames(store.statisticSlices) else {
            throw TrainingCheckpointError.wrongArchitecture(path: source, found: m.model.description, expected: trainer.model.spec.description)
        }
        let parts: [(String, Tensor)] = [("parameters", store.values), ("momentum", store.momentum), ("statistics", store.statistics)]
        for (name, tensor) in parts {
            let values = try file.section(named: name)
            guard values.count == tensor.count else {
                throw TrainingCheckpointError.wrongSectionSize(path: source, section: name, found: values.count, expected: tensor.count)
            }
            values.withUnsafeBufferPointer { tensor.pointer.update(from: $0.baseAddress!, count: tensor.count) }
        }
        trainer.progress = m.progress
    }
}

public enum TrainingCheckpointError: Error, CustomStringConvertible, Equatable {
    case malformedMetadata(path: String, reason: String)
    case wrongKind(path: String, kind: String)
    case unsupportedVersion(path: String, version: Int)
    case wrongArchitecture(path: String, found: String, expected: String)
    case wrongSectionSize(path: String, section: String, found: Int, expected: Int)

    public var description: String {
        switch self {
        case let .malformedMetadata(p, r): return "\(p): checkpoint metadata is not valid training-state JSON: \(r)"
        case let .wrongKind(p, k): return "\(p): checkpoint holds '\(k)', not a pba training state"
        case let .unsupportedVersion(p, v): return "\(p): training-state version \(v) is not supported (this pba reads version 1)"
        case let .wrongArchitecture(p, f, e): return "\(p): checkpoint is for \(f), expected \(e)"
        case let .wrongSectionSize(p, s, f, e): return "\(p): section '\(s)' has \(f) values, expected \(e)"
        }
    }
}
