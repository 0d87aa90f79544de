#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The on-disk container for a training state: opaque metadata plus named float arrays.
///
/// The engine decides what goes in (architecture, epoch, step and RNG state as JSON metadata;
/// parameters, batch-norm statistics and momentum as sections); this type only guarantees that
/// what is read back is exactly what was written, or a `CheckpointError` saying why not.
///
/// Layout, all integers little-endian (format version 1):
///
///     offset  size  field
///     0       8     magic "PBACKPT\0"
///     8       4     format version (UInt32)
///     12      4     header length H: bytes [0, H) are this fixed part plus the table of contents
///     16      8     metadata length M (UInt64)
///     24      4     section count S (UInt32)
///     28      4     reserved, zero
///     32      ...   table of contents, S entries:
///                     name length (UInt32), name (UTF-8), value count (UInt64), data offset (UInt64)
///     H       32    SHA-256 of bytes [0, H)
///     H+32    M     metadata (UTF-8, JSON by convention)
///     ...     0–3   zero padding, so that float data start 4-byte aligned
///     ...     4·n   each section's values as float32, in table order, back to back
///     end-32  32    SHA-256 of every byte before it
///
/// Why a separate header digest: the table of contents decides how long the file must be, so
/// a reader checks it before trusting any length in it. A flipped bit in a length then reads as
/// "header checksum mismatch", not as a misleading "truncated", and a reader can report a truncated
/// file's expected size (from an intact header) before reading megabytes of data.
public struct CheckpointFile: Equatable, Sendable {
    public static let magic: [UInt8] = [0x50, 0x42, 0x41, 0x43, 0x4B, 0x50, 0x54, 0x00]  // "PBACKPT\0"
    public static let formatVersion: UInt32 = 1

    /// One named array of floats (a parameter block, running statistics, momentum ...).
    public struct Section: Equatable, Sendable {
        public let name: String
        public let values: [Float]

        public init(name: String, values: [Float]) {
            self.name = name
            self.values = values
        }

        /// Equal when the names match and the values have identical bit patterns: a checkpoint is
        /// about restoring exact state, so NaN equals the same NaN and -0 differs from +0.
        public static func == (a: Section, b: Section) -> Bool {
            guard a.name == b.name, a.values.count == b.values.count else { return false }
            return a.values.withUnsafeBytes { x in b.values.withUnsafeBytes { y in x.elementsEqual(y) } }
        }
    }

    /// Opaque to the codec; always valid UTF-8.
    public let metadata: [UInt8]
    /// In file order; names are non-empty and unique.
    public let sections: [Section]

    static let fixedHeaderByteCount = 32
    static let digestByteCount = SHA256.digestByteCount
    /// Longest section name, in UTF-8 bytes; longer is certainly a corrupt or foreign file.
    public static let maxNameByteCount = 1024
    /// Largest table of contents a reader accepts before its digest is checked; bounds what a
    /// corrupt header-length field can make us allocate.
    static let maxHeaderByteCount = 64 << 20

    /// Checks that the contents can be written and read back faithfully.
    public init(metadata: [UInt8], sections: [Section]) throws(CheckpointError) {
        guard String(validating: metadata, as: UTF8.self) != nil else {
            throw .invalidContents(reason: "metadata is not valid UTF-8")
        }
        var seen = Set<String>()
        for s in sections {
            guard !s.name.isEmpty else { throw .invalidContents(reason: "a section has an empty name") }
            guard s.name.utf8.count <= Self.maxNameByteCount else {
                throw .invalidContents(reason: "section name longer than \(Self.maxNameByteCount) bytes")
            }
            guard seen.insert(s.name).inserted else {
                throw .invalidContents(reason: "section name '\(s.name)' appears twice")
            }
        }
        let header = Self.headerByteCount(sections)
        guard header <= Self.maxHeaderByteCount else {
            throw .invalidContents(reason: "table of contents of \(header) bytes exceeds \(Self.maxHeaderByteCount)")
        }
        self.metadata = metadata
        self.sections = sections
    }

    /// Convenience for JSON text metadata.
    public init(metadata: String, sections: [Section]) throws(CheckpointError) {
        try self.init(metadata: Array(metadata.utf8), sections: sections)
    }

    /// The values of the section called `name`.
    public func section(named name: String) throws(CheckpointError) -> [Float] {
        guard let s = sections.first(where: { $0.name == name }) else {
            throw .missingSection(name: name, available: sections.map(\.name))
        }
        return s.values
    }

    /// Size of the encoded file in bytes.
    public var encodedByteCount: Int {
        let layout = Self.layout(headerByteCount: Self.headerByteCount(sections), metadataByteCount: metadata.count)
        return layout.dataStart + sections.reduce(0) { $0 + 4 * $1.values.count } + Self.digestByteCount
    }

    // MARK: Encoding

    /// The whole file in memory. For saving to disk use `write(to:)`, which streams instead.
    public func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(encodedByteCount)
        let result: Result<Void, CheckpointError> = encode { (chunk) throws(CheckpointError) in out.append(contentsOf: chunk) }
        if case .failure(let error) = result {
            // The in-memory sink cannot fail.
            preconditionFailure("in-memory checkpoint encoding failed: \(error)")
        }
        return out
    }

    /// Saves atomically: writes a temporary file in the same directory, `fsync`s it, renames it
    /// over `path`, then `fsync`s the directory. A crash at any point leaves either the old file
    /// or the complete new one, never a torn checkpoint. Bytes stream from the section arrays to
    /// the file (hashed on the way), so no second copy of the state is built.
    public func write(to path: String) throws(CheckpointError) {
        let directory = Self.directory(of: path)
        var fd: Int32 = -1
        var temporary = ""
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<16 {
            temporary = joinPath(directory, ".\(Self.baseName(of: path)).tmp-\(getpid())-\(String(generator.next() as UInt32, radix: 16))")
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw .unwritable(path: path, reason: "cannot create \(temporary): \(errnoDescription())") }
        var closed = false
        do throws(CheckpointError) {
            let result = encode { (chunk) throws(CheckpointError) in
                try Self.writeAll(fd, chunk, path: temporary)
            }
            try result.get()
            if fsync(fd) != 0 { throw CheckpointError.unwritable(path: temporary, reason: "fsync: \(errnoDescription())") }
            closed = true
            if close(fd) != 0 { throw CheckpointError.unwritable(path: temporary, reason: "close: \(errnoDescription())") }
            if rename(temporary, path) != 0 {
                throw CheckpointError.unwritable(path: path, reason: "rename from \(temporary): \(errnoDescription())")
            }
        } catch {
            if !closed { close(fd) }
            unlink(temporary)
            throw error
        }
        // Make the rename itself durable. Failure here leaves a complete file, so it is not an error.
        let dirfd = open(directory, O_RDONLY | O_CLOEXEC)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
    }

    /// Streams the encoded file to `sink` in order, hashing as it goes.
    private func encode(_ sink: (UnsafeRawBufferPointer) throws(CheckpointError) -> Void) -> Result<Void, CheckpointError> {
        do {
            var hash = SHA256()
            func emit(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) {
                hash.update(bytes)
                try sink(bytes)
            }
            let header = headerBytes()
            let layout = Self.layout(headerByteCount: header.count, metadataByteCount: metadata.count)
            try header.withUnsafeBytes { b in Result { () throws(CheckpointError) in try emit(b) } }.get()
            let headerDigest = SHA256.hash(header)
            try headerDigest.withUnsafeBytes { b in Result { () throws(CheckpointError) in try emit(b) } }.get()
            try metadata.withUnsafeBytes { b in Result { () throws(CheckpointError) in try emit(b) } }.get()
            let padding = [UInt8](repeating: 0, count: layout.padding)
            try padding.withUnsafeBytes { b in Result { () throws(CheckpointError) in try emit(b) } }.get()
            for section in sections {
                #if _endian(little)
                try section.values.withUnsafeBytes { b in Result { () throws(CheckpointError) in try emit(b) } }.get()
                #else
                var chunk = [UInt32](repeating: 0, count: 1 << 16)
                var start = 0
                while start < section.values.count {
                    let n = min(chunk.count, section.values.count - start)
                    for i in 0..<n { chunk[i] = section.values[start + i].bitPattern.littleEndian }
                    try chunk.withUnsafeBytes { b in
                        Result { () throws(CheckpointError) in try emit(UnsafeRawBufferPointer(rebasing: b[0..<(4 * n)])) }
                    }.get()
                    start += n
                }
                #endif
            }
            let digest = hash.finalize()
            try digest.withUnsafeBytes { b in Result { () throws(CheckpointError) in try sink(b) } }.get()
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// Fixed header plus table of contents.
    private func headerBytes() -> [UInt8] {
        let headerCount = Self.headerByteCount(sections)
        let layout = Self.layout(headerByteCount: headerCount, metadataByteCount: metadata.count)
        var out = [UInt8]()
        out.reserveCapacity(headerCount)
        out += Self.magic
        out.appendLittleEndian(Self.formatVersion)
        out.appendLittleEndian(UInt32(headerCount))
        out.appendLittleEndian(UInt64(metadata.count))
        out.appendLittleEndian(UInt32(sections.count))
        out.appendLittleEndian(UInt32(0))
        var offset = layout.dataStart
        for s in sections {
            out.appendLittleEndian(UInt32(s.name.utf8.count))
            out += Array(s.name.utf8)
            out.appendLittleEndian(UInt64(s.values.count))
            out.appendLittleEndian(UInt64(offset))
            offset += 4 * s.values.count
        }
        return out
    }

    static func headerByteCount(_ sections: [Section]) -> Int {
        fixedHeaderByteCount + sections.reduce(0) { $0 + 4 + $1.name.utf8.count + 8 + 8 }
    }

    /// Where the metadata and float data start, given the header and metadata sizes.
    static func layout(headerByteCount: Int, metadataByteCount: Int) -> (padding: Int, dataStart: Int) {
        let metadataEnd = headerByteCount + digestByteCount + metadataByteCount
        let padding = (4 - metadataEnd % 4) % 4
        return (padding, metadataEnd + padding)
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = systemWrite(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw .unwritable(path: path, reason: errnoDescription())
            }
            p += n
            left -= n
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}

/// `write(2)`, named apart from `CheckpointFile.write(to:)`.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

extension [UInt8] {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
