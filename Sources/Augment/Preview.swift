import CZlib

/// A PNG file for an 8-bit grey or RGB image: signature, IHDR, one zlib-compressed IDAT
/// (every row with filter 0), IEND. Enough for previews a person looks at.
public func pngData(_ image: Image) throws(PreviewError) -> [UInt8] {
    let w = image.width, h = image.height, ch = image.channels
    var raw = [UInt8]()
    raw.reserveCapacity(h * (1 + w * ch))
    for y in 0..<h {
        raw.append(0)
        raw.append(contentsOf: image.pixels[(y * w * ch)..<((y + 1) * w * ch)])
    }
    var compressedSize = compressBound(uLong(raw.count))
    var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
    let status = compress2(&compressed, &compressedSize, raw, uLong(raw.count), 6)
    guard status == Z_OK else { throw .compression(Int(status)) }
    compressed.removeSubrange(Int(compressedSize)...)

    var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    func chunk(_ type: String, _ data: [UInt8]) {
        appendBigEndian(&out, UInt32(data.count))
        let body = Array(type.utf8) + data
        out += body
        let crc = body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        appendBigEndian(&out, UInt32(crc))
    }
    var header: [UInt8] = []
    appendBigEndian(&header, UInt32(w))
    appendBigEndian(&header, UInt32(h))
    header += [8, ch == 3 ? 2 : 0, 0, 0, 0]   // bit depth 8, colour type RGB or grey
    chunk("IHDR", header)
    chunk("IDAT", compressed)
    chunk("IEND", [])
    return out
}

private func appendBigEndian(_ out: inout [UInt8], _ v: UInt32) {
    out += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
}

/// A grid for looking at what an augmentation does: one row per sample, its original in the
/// first column and augmented versions after it, each cell enlarged `scale` times (nearest
/// neighbour) and separated by `spacing` pixels of `background`; the original column is
/// followed by a wider gap so it stands apart.
public func previewGrid(rows: [[Image]], scale: Int = 3, spacing: Int = 2, background: UInt8 = 255) throws(PreviewError) -> Image {
    guard let first = rows.first?.first else { throw .empty }
    let shape = first.shape
    let columns = rows.map(\.count).max() ?? 0
    for row in rows { for cell in row where cell.shape != shape { throw .mixedShapes(shape, cell.shape) } }
    guard (1...16).contains(scale), (0...16).contains(spacing) else { throw .badLayout(scale: scale, spacing: spacing) }
    let cw = shape.width * scale, chh = shape.height * scale, ch = shape.channels
    let gap = { (column: Int) in column == 0 ? 0 : spacing * 3 + (column - 1) * spacing }
    let width = spacing + columns * cw + gap(columns - 1) + spacing
    let height = spacing + rows.count * (chh + spacing)
    let gridShape: ImageShape
    do { gridShape = try ImageShape(width: width, height: height, channels: ch) } catch { throw .tooLarge }
    var grid = Image(shape: gridShape, filledWith: background)
    for (r, row) in rows.enumerated() {
        for (c, cell) in row.enumerated() {
            let x0 = spacing + c * cw + gap(c), y0 = spacing + r * (chh + spacing)
            for y in 0..<chh {
                for x in 0..<cw {
                    for k in 0..<ch { grid[x0 + x, y0 + y, k] = cell[x / scale, y / scale, k] }
                }
            }
        }
    }
    return grid
}

public enum PreviewError: Error, CustomStringConvertible, Equatable {
    case empty
    case mixedShapes(ImageShape, ImageShape)
    case badLayout(scale: Int, spacing: Int)
    case tooLarge
    case compression(Int)

    public var description: String {
        switch self {
        case .empty: return "preview has no images"
        case let .mixedShapes(a, b): return "preview images differ in shape (\(a) and \(b))"
        case let .badLayout(scale, spacing): return "preview scale \(scale) must be 1...16 and spacing \(spacing) 0...16"
        case .tooLarge: return "preview grid would exceed \(ImageShape.maximumSide) pixels a side; use fewer samples or a smaller scale"
        case let .compression(code): return "zlib compression failed with status \(code)"
        }
    }
}
