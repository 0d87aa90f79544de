#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CZlib

/// Why a file could not be opened or read, before any format is looked at.
///
/// Data-set loaders and the checkpoint reader map this into their own typed errors, so that a
/// missing file reads the same way everywhere.
enum FileAccessError: Error, Equatable, Sendable {
    case missing(path: String)
    case unreadable(path: String, reason: String)
}

/// The text of the current `errno`, for error messages.
func errnoDescription() -> String {
    String(cString: strerror(errno))
}

/// A regular file open for reading, closed when the value goes away.
///
/// Noncopyable so that exactly one owner closes the descriptor. Reads go straight into the
/// caller's buffer (no intermediate copy), which matters for 18 MB checkpoints and 47 MB data sets.
struct ReadableFile: ~Copyable {
    let path: String
    let descriptor: Int32
    /// Size in bytes at open time (from `fstat`).
    let size: Int

    init(path: String) throws(FileAccessError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw .missing(path: path) }
            throw .unreadable(path: path, reason: errnoDescription())
        }
        var info = stat()
        if fstat(fd, &info) != 0 {
            let reason = errnoDescription()
            close(fd)
            throw .unreadable(path: path, reason: reason)
        }
        if (info.st_mode & S_IFMT) != S_IFREG {
            close(fd)
            throw .unreadable(path: path, reason: "not a regular file")
        }
        self.path = path
        self.descriptor = fd
        self.size = Int(info.st_size)
    }

    deinit { close(descriptor) }

    /// Reads until `buffer` is full or the file ends; returns the number of bytes read.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(FileAccessError) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            let n = systemRead(descriptor, base + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: errnoDescription())
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// `read(into:)` as a value, for use inside the standard library's untyped-rethrowing closures.
    func readResult(into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, FileAccessError> {
        do { return .success(try read(into: buffer)) } catch { return .failure(error) }
    }

    /// The whole file. Reads until end of file rather than trusting `size`, so a file that grows
    /// or shrinks while being read still yields what was actually there.
    func readAll() throws(FileAccessError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        let n = try bytes.withUnsafeMutableBytes { b in readResult(into: b) }.get()
        if n < size { bytes.removeLast(size - n); return bytes }
        var more = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let m = try more.withUnsafeMutableBytes { b in readResult(into: b) }.get()
            if m == 0 { return bytes }
            bytes.append(contentsOf: more[0..<m])
        }
    }
}

/// `read(2)`, named apart from `ReadableFile.read(into:)`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// Whether a path names an existing file system entry (of any kind).
func fileExists(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0
}

/// Whether a path names an existing directory.
func directoryExists(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
}

/// Joins a directory and a file name with exactly one slash.
func joinPath(_ directory: String, _ name: String) -> String {
    if directory.isEmpty { return name }
    return directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

/// Reads a file that may be gzip-compressed or plain: zlib's `gzread` passes uncompressed files
/// through unchanged, so one code path serves both `x.gz` and `x`.
///
/// Reads in chunks into a growing array, so a corrupt header that declares an enormous size cannot
/// make us allocate it up front; `limit` bounds the decompressed size (a gzip bomb, or a
/// header we do not trust, stops there).
func readPossiblyCompressedFile(path: String, limit: Int) throws(DatasetError) -> [UInt8] {
    // Open through our own descriptor first so missing / unreadable files get the usual errors.
    let file: ReadableFile
    do { file = try ReadableFile(path: path) } catch { throw mapFileAccess(error) }
    let fd = dup(file.descriptor)
    if fd < 0 { throw .unreadable(path: path, reason: errnoDescription()) }
    guard let gz = gzdopen(fd, "rb") else {
        close(fd)
        throw .unreadable(path: path, reason: "zlib could not open the file")
    }
    defer { gzclose(gz) }
    var bytes: [UInt8] = []
    let chunk = 1 << 20
    var buffer = [UInt8](repeating: 0, count: chunk)
    while true {
        guard bytes.count <= limit else {
            throw .unsupportedFormat(path: path, reason: "more than \(limit) bytes after decompression")
        }
        let n = buffer.withUnsafeMutableBytes { b in gzread(gz, b.baseAddress, UInt32(chunk)) }
        if n < 0 {
            var code: Int32 = 0
            let message = gzerror(gz, &code).map { String(cString: $0) } ?? "unknown zlib error"
            throw .corruptCompression(path: path, reason: message)
        }
        if n == 0 { break }
        bytes.append(contentsOf: buffer[0..<Int(n)])
    }
    // A gzip stream cut short reads as end of file; zlib records it as an error state.
    var code: Int32 = 0
    let message = gzerror(gz, &code).map { String(cString: $0) } ?? ""
    if code != Z_OK && code != Z_STREAM_END {
        throw .corruptCompression(path: path, reason: message.isEmpty ? "zlib error \(code)" : message)
    }
    return bytes
}

/// The data-set view of a file-access failure.
func mapFileAccess(_ error: FileAccessError) -> DatasetError {
    switch error {
    case .missing(let path): return .missingFile(path: path)
    case .unreadable(let path, let reason): return .unreadable(path: path, reason: reason)
    }
}
