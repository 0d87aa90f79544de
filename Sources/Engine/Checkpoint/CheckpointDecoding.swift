/// Reading checkpoints: one decoder over a sequential byte source, fed either by an in-memory
/// array or straight from a file descriptor into the section arrays (no whole-file copy).
///
/// Order of checks, so that each failure is reported as what it is:
/// 1. magic and version (a foreign file or a newer pba);
/// 2. the header digest, before any length in the header is believed;
/// 3. the table of contents' own consistency, then the file length it implies (truncated or
///    trailing data reported with both sizes, before megabytes are read);
/// 4. the whole-file digest, before anything read is handed out.
/// Every length is checked against the bytes actually present before it is used to allocate,
/// so arbitrary input can neither trap nor make us allocate more than the file's size.
extension CheckpointFile {
    /// Decodes a checkpoint held in memory. `path` only labels errors.
    public init(decoding bytes: [UInt8], path: String = "<memory>") throws(CheckpointError) {
        var source = MemoryByteSource(path: path, bytes: bytes)
        self = try Self.decode(from: &source)
    }

    /// Reads and verifies the checkpoint at `path`.
    public static func read(from path: String) throws(CheckpointError) -> CheckpointFile {
        let file: ReadableFile
        do { file = try ReadableFile(path: path) } catch {
            switch error {
            case .missing(let p): throw .missingFile(path: p)
            case .unreadable(let p, let reason): throw .unreadable(path: p, reason: reason)
            }
        }
        var source = FileByteSource(file: file)
        return try decode(from: &source)
    }

    static func decode<Source: CheckpointByteSource & ~Copyable>(from source: inout Source) throws(CheckpointError) -> CheckpointFile {
        let path = source.path
        let total = source.byteCount
        let minimumTotal = fixedHeaderByteCount + 2 * digestByteCount

        // 1. Magic and version.
        if total < fixedHeaderByteCount {
            let start = try source.readExactly(total, expectedTotal: minimumTotal)
            if start.prefix(magic.count).elementsEqual(magic.prefix(min(total, magic.count))) {
                throw .truncated(path: path, expectedBytes: minimumTotal, foundBytes: total)
            }
            throw .notACheckpoint(path: path)
        }
        var header = try source.readExactly(fixedHeaderByteCount, expectedTotal: minimumTotal)
        guard header.prefix(magic.count).elementsEqual(magic) else { throw .notACheckpoint(path: path) }
        let version = header.loadLittleEndian(UInt32.self, at: 8)
        guard version == formatVersion else {
            throw .unsupportedVersion(path: path, found: version, supported: formatVersion)
        }
        let headerCount = Int(header.loadLittleEndian(UInt32.self, at: 12))
        guard headerCount >= fixedHeaderByteCount, headerCount <= maxHeaderByteCount else {
            throw .malformedHeader(path: path, reason: "header length \(headerCount) outside \(fixedHeaderByteCount)...\(maxHeaderByteCount)")
        }
        guard total >= headerCount + 2 * digestByteCount else {
            throw .truncated(path: path, expectedBytes: headerCount + 2 * digestByteCount, foundBytes: total)
        }

        // 2. Header digest.
        header += try source.readExactly(headerCount - fixedHeaderByteCount, expectedTotal: total)
        let storedHeaderDigest = try source.readExactly(digestByteCount, expectedTotal: total)
        let headerDigest = SHA256.hash(header)
        guard headerDigest == storedHeaderDigest else {
            throw .checksumMismatch(path: path, region: "header", expected: SHA256.hex(storedHeaderDigest),
                                    found: SHA256.hex(headerDigest))
        }

        // 3. Table of contents.
        let toc = try TableOfContents(header: header, path: path, fileByteCount: total)
        if total < toc.fileByteCount { throw .truncated(path: path, expectedBytes: toc.fileByteCount, foundBytes: total) }
        if total > toc.fileByteCount { throw .trailingBytes(path: path, expectedBytes: toc.fileByteCount, foundBytes: total) }

        // 4. Body, hashed as it is read; nothing is handed out before the trailer matches.
        var hash = SHA256()
        hash.update(header)
        hash.update(storedHeaderDigest)
        let metadata = try source.readExactly(toc.metadataByteCount, expectedTotal: total)
        hash.update(metadata)
        let padding = try source.readExactly(toc.paddingByteCount, expectedTotal: total)
        hash.update(padding)
        var sections: [Section] = []
        sections.reserveCapacity(toc.entries.count)
        for entry in toc.entries {
            var values = try source.readFloats(entry.count, expectedTotal: total)
            values.withUnsafeBytes { hash.update($0) }
            #if _endian(big)
            for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
            #endif
            sections.append(Section(name: entry.name, values: values))
        }
        let storedDigest = try source.readExactly(digestByteCount, expectedTotal: total)
        let digest = hash.finalize()
        guard digest == storedDigest else {
            throw .checksumMismatch(path: path, region: "file", expected: SHA256.hex(storedDigest), found: SHA256.hex(digest))
        }

        // Checksummed, so these only fail for a file some other writer produced.
        guard padding.allSatisfy({ $0 == 0 }) else {
            throw .malformedHeader(path: path, reason: "nonzero alignment padding after the metadata")
        }
        guard String(validating: metadata, as: UTF8.self) != nil else {
            throw .malformedMetadata(path: path, reason: "metadata is not valid UTF-8")
        }
        do {
            return try CheckpointFile(metadata: metadata, sections: sections)
        } catch {
            throw .malformedHeader(path: path, reason: error.description)
        }
    }
}

/// The parsed table of contents, with every size checked against the file's real length.
struct TableOfContents {
    struct Entry {
        var name: String
        var count: Int
    }

    var entries: [Entry] = []
    var metadataByteCount = 0
    var paddingByteCount = 0
    /// The length the whole file must have.
    var fileByteCount = 0

    init(header: [UInt8], path: String, fileByteCount total: Int) throws(CheckpointError) {
        func malformed(_ reason: String) -> CheckpointError { .malformedHeader(path: path, reason: reason) }
        let metadataLength = header.loadLittleEndian(UInt64.self, at: 16)
        let sectionCount = Int(header.loadLittleEndian(UInt32.self, at: 24))
        guard header.loadLittleEndian(UInt32.self, at: 28) == 0 else { throw malformed("reserved field is not zero") }
        guard metadataLength <= UInt64(total) else {
            throw .truncated(path: path,
                             expectedBytes: saturatingSum(header.count, 2 * CheckpointFile.digestByteCount, metadataLength),
                             foundBytes: total)
        }
        metadataByteCount = Int(metadataLength)
        let layout = CheckpointFile.layout(headerByteCount: header.count, metadataByteCount: metadataByteCount)
        paddingByteCount = layout.padding
        // Each entry takes at least 20 bytes, so a count the header cannot hold is caught here
        // before anything is reserved for it.
        guard sectionCount <= (header.count - CheckpointFile.fixedHeaderByteCount) / 20 else {
            throw malformed("\(sectionCount) sections cannot fit in a \(header.count)-byte header")
        }
        var position = CheckpointFile.fixedHeaderByteCount
        var offset = layout.dataStart
        var names = Set<String>()
        entries.reserveCapacity(sectionCount)
        for i in 0..<sectionCount {
            guard position + 4 <= header.count else { throw malformed("table of contents ends inside entry \(i)") }
            let nameLength = Int(header.loadLittleEndian(UInt32.self, at: position))
            position += 4
            guard nameLength > 0, nameLength <= CheckpointFile.maxNameByteCount else {
                throw malformed("entry \(i) has a name of \(nameLength) bytes")
            }
            guard position + nameLength + 16 <= header.count else { throw malformed("table of contents ends inside entry \(i)") }
            guard let name = String(validating: header[position..<(position + nameLength)], as: UTF8.self) else {
                throw malformed("entry \(i) has a name that is not UTF-8")
            }
            position += nameLength
            guard names.insert(name).inserted else { throw malformed("section '\(name)' appears twice") }
            let count = header.loadLittleEndian(UInt64.self, at: position)
            let storedOffset = header.loadLittleEndian(UInt64.self, at: position + 8)
            position += 16
            guard storedOffset == UInt64(offset) else {
                throw malformed("section '\(name)' is at offset \(storedOffset), expected \(offset) after the sections before it")
            }
            // No allocation happens before the whole declared length is compared with the file's
            // real length, so an absurd count only has to be kept from overflowing here; it is
            // then reported as truncation with the size the header declares.
            let byteCount = count > UInt64(Int.max / 4) ? Int.max : 4 * Int(count)
            entries.append(Entry(name: name, count: byteCount / 4))
            offset = saturatingSum(offset, byteCount, 0)
        }
        guard position == header.count else {
            throw malformed("table of contents is \(position) bytes but the header says \(header.count)")
        }
        fileByteCount = saturatingSum(offset, CheckpointFile.digestByteCount, 0)
    }
}

/// `a + b + c`, or `Int.max` if that does not fit: for reporting sizes a corrupt file claims.
func saturatingSum(_ a: Int, _ b: Int, _ c: UInt64) -> Int {
    let (ab, o1) = a.addingReportingOverflow(b)
    let (sum, o2) = ab.addingReportingOverflow(Int(clamping: c))
    return o1 || o2 ? Int.max : sum
}

/// A sequential source of checkpoint bytes whose total length is known up front.
protocol CheckpointByteSource: ~Copyable {
    var path: String { get }
    var byteCount: Int { get }
    /// Fills `buffer` from the current position; returns fewer bytes only at the end.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(CheckpointError) -> Int
}

extension CheckpointByteSource where Self: ~Copyable {
    /// Exactly `count` bytes, or a truncation error quoting `expectedTotal`.
    mutating func readExactly(_ count: Int, expectedTotal: Int) throws(CheckpointError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = try bytes.withUnsafeMutableBytes { b in readResult(into: b) }.get()
        guard n == count else { throw .truncated(path: path, expectedBytes: expectedTotal, foundBytes: byteCount) }
        return bytes
    }

    /// `count` floats read straight into their array (raw little-endian bits).
    mutating func readFloats(_ count: Int, expectedTotal: Int) throws(CheckpointError) -> [Float] {
        var failure: CheckpointError?
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            switch readResult(into: UnsafeMutableRawBufferPointer(buffer)) {
            case .success(let n) where n == 4 * count:
                initialized = count
            case .success:
                failure = .truncated(path: path, expectedBytes: expectedTotal, foundBytes: byteCount)
                initialized = 0
            case .failure(let error):
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return values
    }

    mutating func readResult(into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, CheckpointError> {
        do { return .success(try read(into: buffer)) } catch { return .failure(error) }
    }
}

struct MemoryByteSource: CheckpointByteSource {
    let path: String
    let bytes: [UInt8]
    var position = 0

    init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
    }

    var byteCount: Int { bytes.count }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(CheckpointError) -> Int {
        let n = min(buffer.count, bytes.count - position)
        guard n > 0, let destination = buffer.baseAddress else { return 0 }
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress { destination.copyMemory(from: base + position, byteCount: n) }
        }
        position += n
        return n
    }
}

struct FileByteSource: CheckpointByteSource, ~Copyable {
    let file: ReadableFile

    var path: String { file.path }
    var byteCount: Int { file.size }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(CheckpointError) -> Int {
        do { return try file.read(into: buffer) } catch {
            switch error {
            case .missing(let p): throw .missingFile(path: p)
            case .unreadable(let p, let reason): throw .unreadable(path: p, reason: reason)
            }
        }
    }
}

extension [UInt8] {
    /// A little-endian integer at `offset`; the caller has checked the bounds.
    func loadLittleEndian<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(truncatingIfNeeded: self[offset + i]) << (8 * i) }
        return value
    }
}
