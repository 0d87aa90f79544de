import XCTest
import Tensor
@testable import Augment

final class PolicyApplicationTests: XCTestCase {
    let fill = try! FillColor([10, 20, 30])

    /// Registry with the Tally op and a resolved policy over [Tally] where tuple t (of 2) uses
    /// probability `probabilities[t]` and counts into byte t.
    func tallyAugmenter(probabilities: [Int]) throws -> Augmenter {
        var registry = OperationRegistry.standard
        try registry.register(TallyOperation())
        let set = OperationSet(names: ["Tally"])
        let values = [probabilities[0], 0, probabilities[1], 1]
        let policy = try ResolvedPolicy(try Policy(values: values, operations: set), registry: registry)
        return try Augmenter(Augmentation(stage: .policy(policy), base: nil),
                             shape: try ImageShape(width: 2, height: 1, channels: 1), fill: fill, registry: registry)
    }

    /// Frequencies within 4.5 standard errors of a binomial proportion: fails by chance with
    /// probability < 1e-5 per check.
    func assertProportion(_ hits: Int, of n: Int, is p: Double, _ what: String,
                          file: StaticString = #filePath, line: UInt = #line) {
        let observed = Double(hits) / Double(n)
        let tolerance = 4.5 * (p * (1 - p) / Double(n)).squareRoot()
        XCTAssertEqual(observed, p, accuracy: tolerance, "\(what): \(hits)/\(n)", file: file, line: line)
    }

    func testCountDistributionAndRandomOrder() throws {
        let augmenter = try tallyAugmenter(probabilities: [10, 10])
        let n = 40_000
        var counts = [0, 0, 0], onlyFirst = 0, onlySecond = 0
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<n {
            var image = Image(shape: augmenter.shape)
            try augmenter.augment(&image, using: &rng)
            let a = Int(image.pixels[0]), b = Int(image.pixels[1])
            XCTAssertLessThanOrEqual(max(a, b), 1)
            counts[a + b] += 1
            if a == 1 && b == 0 { onlyFirst += 1 }
            if a == 0 && b == 1 { onlySecond += 1 }
        }
        assertProportion(counts[0], of: n, is: 0.2, "count 0")
        assertProportion(counts[1], of: n, is: 0.3, "count 1")
        assertProportion(counts[2], of: n, is: 0.5, "count 2")
        // With count 1, either tuple comes first with probability 1/2.
        assertProportion(onlyFirst, of: n, is: 0.15, "only the first tuple")
        assertProportion(onlySecond, of: n, is: 0.15, "only the second tuple")
    }

    func testProbabilitiesAreHonoured() throws {
        // One tuple at p = 3/10, the other never: applied when count ≥ 1 (0.8) and its draw succeeds.
        let augmenter = try tallyAugmenter(probabilities: [3, 0])
        let n = 40_000
        var hits = 0
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<n {
            var image = Image(shape: augmenter.shape)
            try augmenter.augment(&image, using: &rng)
            hits += Int(image.pixels[0])
            XCTAssertEqual(image.pixels[1], 0)
        }
        assertProportion(hits, of: n, is: 0.8 * 0.3, "p = 0.3 tuple")
    }

    func testSignedOperationsDrawBothSigns() throws {
        // TranslateX by 1 pixel either way: the pixel that moved tells the sign.
        var values = [Int](repeating: 0, count: 60)
        values[2] = 10; values[3] = 1   // TranslateX pair 1: always, magnitude 1
        let policy = try ResolvedPolicy(try Policy(values: values))
        let shape = try ImageShape(width: 3, height: 1, channels: 1)
        let augmenter = try Augmenter(Augmentation(stage: .policy(policy), base: nil), shape: shape, fill: try FillColor([0]))
        var left = 0, right = 0, n = 0
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<20_000 {
            var image = try Image(shape: shape, pixels: [0, 100, 0])
            try augmenter.augment(&image, using: &rng)
            if image.pixels == [100, 0, 0] { left += 1 } else if image.pixels == [0, 0, 100] { right += 1 }
            if image.pixels != [0, 100, 0] { n += 1 }
        }
        XCTAssertEqual(left + right, n)
        assertProportion(left, of: n, is: 0.5, "positive translation (content moves left)")
    }

    func testSameSeedSamePixelsDifferentSeedDifferentPixels() throws {
        var values = [Int](repeating: 0, count: 60)
        for i in stride(from: 0, to: 60, by: 2) { values[i] = 10; values[i + 1] = 7 }
        let policy = try ResolvedPolicy(try Policy(values: values))
        let image = testImage()
        let augmenter = try Augmenter(Augmentation(policy: policy), shape: image.shape, fill: fill)
        func run(_ seed: UInt64) throws -> [Image] {
            var rng = SeededGenerator(seed: seed)
            return try (0..<50).map { _ in var x = image; try augmenter.augment(&x, using: &rng); return x }
        }
        XCTAssertEqual(try run(42), try run(42))
        XCTAssertNotEqual(try run(42), try run(43))
        // A second augmenter (another thread's) gives the same pixels for the same generator.
        let other = try Augmenter(Augmentation(policy: policy), shape: image.shape, fill: fill)
        var a = image, b = image
        var r1 = SeededGenerator(seed: 5), r2 = SeededGenerator(seed: 5)
        try augmenter.augment(&a, using: &r1)
        try other.augment(&b, using: &r2)
        XCTAssertEqual(a, b)
    }

    func testBatchPixelsDoNotDependOnHowTheBatchIsSplit() throws {
        let shape = try ImageShape(width: 32, height: 32, channels: 3)
        var data: [UInt8] = []
        for i in 0..<8 { data += testImage(seed: UInt64(i)).pixels }
        let original = data
        for baseline in [Baseline.autoAugment, .trivialAugment, .defaultRandAugment, .cutout] {
            let augmenter = try Augmenter(Augmentation(baseline: baseline), shape: shape, fill: fill)
            var whole = original, split = original
            whole.withUnsafeMutableBufferPointer {
                augmenter.augment(batch: $0.baseAddress!, count: 8, seed: 9, epoch: 3, firstIndex: 100)
            }
            let other = try Augmenter(Augmentation(baseline: baseline), shape: shape, fill: fill)
            split.withUnsafeMutableBufferPointer {
                other.augment(batch: $0.baseAddress! + 5 * shape.count, count: 3, seed: 9, epoch: 3, firstIndex: 105)
                augmenter.augment(batch: $0.baseAddress!, count: 5, seed: 9, epoch: 3, firstIndex: 100)
            }
            XCTAssertEqual(whole, split, "\(baseline)")
            XCTAssertNotEqual(whole, original, "\(baseline)")
        }
    }

    func testBaseAugmentationFlipAndCrop() throws {
        let image = testImage(width: 6, height: 4)
        var mirrored = image
        for y in 0..<4 { for x in 0..<6 { for c in 0..<3 { mirrored[x, y, c] = image[5 - x, y, c] } } }
        let flipOnly = try Augmenter(Augmentation(stage: .none, base: BaseAugmentation(padding: 0, flip: true, cutout: 0)),
                                     shape: image.shape, fill: fill)
        var flips = 0
        var rng = SeededGenerator(seed: 1)
        for _ in 0..<2000 {
            var x = image
            try flipOnly.augment(&x, using: &rng)
            XCTAssertTrue(x == image || x == mirrored)
            if x == mirrored { flips += 1 }
        }
        XCTAssertEqual(Double(flips) / 2000, 0.5, accuracy: 0.05)
        // Pad 2 + crop: every output is the input shifted by (dx, dy) in -2...2 with fill around.
        let cropOnly = try Augmenter(Augmentation(stage: .none, base: BaseAugmentation(padding: 2, flip: false, cutout: 0)),
                                     shape: image.shape, fill: fill)
        var shifts = Set<[Int]>()
        for _ in 0..<2000 {
            var x = image
            try cropOnly.augment(&x, using: &rng)
            var found = false
            for dy in -2...2 { for dx in -2...2 {
                var expected = Image(shape: image.shape)
                for y in 0..<4 { for xx in 0..<6 { for c in 0..<3 {
                    let sx = xx + dx, sy = y + dy
                    expected[xx, y, c] = (0..<6).contains(sx) && (0..<4).contains(sy) ? image[sx, sy, c] : [10, 20, 30][c]
                } } }
                if expected == x { found = true; shifts.insert([dx, dy]) }
            } }
            XCTAssertTrue(found)
        }
        XCTAssertEqual(shifts.count, 25, "every offset in 0...2·pad occurs")
    }

    func testBaselineNames() throws {
        for name in Baseline.names { XCTAssertEqual(try Baseline(name: name).name, name) }
        XCTAssertEqual(try Baseline(name: "randaugment(3, 5)"), .randAugment(n: 3, magnitude: 5))
        XCTAssertEqual(try Baseline(name: "RandAugment(2,9)").name, "randaugment")
        XCTAssertThrowsError(try Baseline(name: "randaugment(2,11)")) { e in
            XCTAssertEqual("\(e)", "baseline 'randaugment(2,11)': M = 11 is outside 0...10")
        }
        XCTAssertThrowsError(try Baseline(name: "fancy")) { e in
            XCTAssertTrue("\(e)".hasPrefix("unknown baseline 'fancy'"))
        }
    }

    func testAutoAugmentTableIsThePublishedShape() throws {
        XCTAssertEqual(autoAugmentCIFAR10.count, 25)
        for sub in autoAugmentCIFAR10 {
            XCTAssertEqual(sub.count, 2)
            for (name, p, m) in sub {
                XCTAssertNoThrow(try OperationRegistry.standard.operation(named: name))
                XCTAssertTrue((0...10).contains(p)); XCTAssertTrue((0...9).contains(m))
            }
        }
    }

    func testNoneLeavesImagesAloneAndBaselinesChangeThem() throws {
        let image = testImage()
        var rng = SeededGenerator(seed: 2)
        let none = try Augmenter(Augmentation(baseline: .none), shape: image.shape, fill: fill)
        var x = image
        try none.augment(&x, using: &rng)
        XCTAssertEqual(x, image)
        for baseline in [Baseline.cutout, .trivialAugment, .autoAugment, .randAugment(n: 2, magnitude: 9)] {
            let a = try Augmenter(Augmentation(baseline: baseline), shape: image.shape, fill: fill)
            var changed = 0
            for _ in 0..<20 { var y = image; try a.augment(&y, using: &rng); if y != image { changed += 1 } }
            XCTAssertGreaterThan(changed, 15, "\(baseline)")
        }
    }

    func testTrivialAugmentWideRanges() {
        XCTAssertEqual(trivialAugmentParameter("Rotate", bin: 30, signPositive: false), -135)
        XCTAssertEqual(trivialAugmentParameter("TranslateX", bin: 30, signPositive: true), 32)
        XCTAssertEqual(trivialAugmentParameter("TranslateY", bin: 1, signPositive: true), 1)  // int(1.0667)
        XCTAssertEqual(trivialAugmentParameter("Posterize", bin: 0, signPositive: true), 8)
        XCTAssertEqual(trivialAugmentParameter("Posterize", bin: 30, signPositive: true), 2)
        XCTAssertEqual(trivialAugmentParameter("Solarize", bin: 30, signPositive: true), 0)
        XCTAssertEqual(trivialAugmentParameter("Color", bin: 30, signPositive: false), 1 - 0.99, accuracy: 1e-12)
    }

    /// A foundation runs first, then the policy, then the base, from one generator: the same
    /// pixels as applying the three recipes one after another with that generator.
    func testFoundationRunsBeforeThePolicyFromTheSameGenerator() throws {
        let image = testImage()
        let policy = try ResolvedPolicy(try Policy(values: [Int](repeating: 7, count: 60), operations: .pba))
        let base = BaseAugmentation(padding: 4, flip: true, cutout: 0)
        for name in ["autoaugment", "trivialaugment", "randaugment(2,5)"] {
            let foundation = try Baseline.foundation(named: name)
            let stacked = try Augmenter(Augmentation(policy: policy, base: base, foundation: foundation), shape: image.shape, fill: fill)
            let first = try Augmenter(Augmentation(stage: foundation, base: nil), shape: image.shape, fill: fill)
            let then = try Augmenter(Augmentation(policy: policy, base: base), shape: image.shape, fill: fill)
            var differsFromPolicyAlone = 0
            for seed in 0..<30 as Range<UInt64> {
                var a = image, b = image, c = image
                var r1 = SeededGenerator(seed: seed), r2 = SeededGenerator(seed: seed), r3 = SeededGenerator(seed: seed)
                try stacked.augment(&a, using: &r1)
                try first.augment(&b, using: &r2)
                try then.augment(&b, using: &r2)
                try then.augment(&c, using: &r3)
                XCTAssertEqual(a, b, "\(name) seed \(seed)")
                XCTAssertEqual(r1.next(), r2.next(), "\(name): both consumed the same draws")
                if a != c { differsFromPolicyAlone += 1 }
            }
            XCTAssertGreaterThan(differsFromPolicyAlone, 15, "\(name): the foundation changes the pixels")
        }
    }

    func testOnlyPolicyRecipesCanBeFoundations() throws {
        XCTAssertNoThrow(try Baseline.foundation(named: "autoaugment"))
        XCTAssertNoThrow(try Baseline.foundation(named: "randaugment(1,3)"))
        for name in ["none", "base", "cutout"] {
            XCTAssertThrowsError(try Baseline.foundation(named: name)) { e in
                XCTAssertTrue("\(e)".hasPrefix("'\(name)' cannot be a foundation: it is a base augmentation"), "\(e)")
            }
        }
        XCTAssertThrowsError(try Baseline.foundation(named: "fancy")) { e in
            XCTAssertTrue("\(e)".hasPrefix("unknown baseline 'fancy'"))
        }
    }
}
