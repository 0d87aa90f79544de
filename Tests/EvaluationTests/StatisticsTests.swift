import XCTest
@testable import Evaluation

final class StatisticsTests: XCTestCase {
    func testMeanAndSampleStandardDeviation() {
        XCTAssertEqual(Statistics.mean([2, 4, 4, 4, 5, 5, 7, 9]), 5)
        // Sample std of that classic set: sqrt(32/7).
        XCTAssertEqual(Statistics.standardDeviation([2, 4, 4, 4, 5, 5, 7, 9]), (32.0 / 7).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(Statistics.standardDeviation([3]), 0)
    }

    /// Two-sided critical values from Student's t tables: P(|T| ≥ t) = 0.05 and 0.01.
    func testStudentTAgainstTableValues() {
        let table: [(t: Double, df: Int, p: Double)] = [
            (12.706, 1, 0.05), (4.303, 2, 0.05), (2.776, 4, 0.05), (2.228, 10, 0.05), (2.042, 30, 0.05),
            (63.657, 1, 0.01), (9.925, 2, 0.01), (3.169, 10, 0.01),
        ]
        for row in table {
            XCTAssertEqual(Statistics.studentTTwoSidedP(t: row.t, degreesOfFreedom: row.df), row.p, accuracy: row.p * 0.002,
                           "t = \(row.t), df = \(row.df)")
            XCTAssertEqual(Statistics.studentTTwoSidedP(t: -row.t, degreesOfFreedom: row.df), row.p, accuracy: row.p * 0.002)
        }
        XCTAssertEqual(Statistics.studentTTwoSidedP(t: 0, degreesOfFreedom: 5), 1, accuracy: 1e-12)
        // df = 1 is the Cauchy distribution: P(|T| ≥ 1) = 1/2 exactly.
        XCTAssertEqual(Statistics.studentTTwoSidedP(t: 1, degreesOfFreedom: 1), 0.5, accuracy: 1e-12)
    }

    func testPairedTTestOnFixedInputs() throws {
        // d = a − b = [1, 2, 3]: mean 2, sd 1, t = 2 / (1/√3) = 2√3, df 2.
        let r = try XCTUnwrap(Statistics.pairedTTest([11, 12, 13], [10, 10, 10]))
        XCTAssertEqual(r.meanDifference, 2, accuracy: 1e-12)
        XCTAssertEqual(r.t, 2 * 3.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(r.degreesOfFreedom, 2)
        // For df 2 the t distribution has a closed form: p = 1 − |t| / sqrt(2 + t²).
        XCTAssertEqual(r.p, 1 - r.t / (2 + r.t * r.t).squareRoot(), accuracy: 1e-10)
        XCTAssertNil(Statistics.pairedTTest([1], [2]))
        XCTAssertEqual(Statistics.pairedTTest([1, 2], [1, 2])?.p, 1)
        XCTAssertEqual(Statistics.pairedTTest([2, 3], [1, 2])?.p, 0)
    }

    func testHolmAdjustment() {
        // Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → monotone 0.06.
        let adjusted = Statistics.holm([0.01, 0.04, 0.03, 0.005])
        for (a, e) in zip(adjusted, [0.03, 0.06, 0.06, 0.02]) { XCTAssertEqual(a, e, accuracy: 1e-12) }
        XCTAssertEqual(Statistics.holm([0.6, 0.9]), [1, 1])
        let withNaN = Statistics.holm([0.01, .nan, 0.02])
        XCTAssertEqual(withNaN[0], 0.02, accuracy: 1e-12)
        XCTAssertTrue(withNaN[1].isNaN)
        XCTAssertEqual(withNaN[2], 0.02, accuracy: 1e-12)
    }

    func testBootstrapDegenerateCaseIsExact() throws {
        // A wrong on every image where B is right on every image: the difference is 1 in every resample.
        let a = [[Bool]](repeating: [Bool](repeating: false, count: 50), count: 3)
        let b = [[Bool]](repeating: [Bool](repeating: true, count: 50), count: 3)
        let ci = try XCTUnwrap(Statistics.pairedBootstrap(correctA: a, correctB: b, resamples: 200))
        XCTAssertEqual(ci, Statistics.Interval(low: 1, high: 1))
        XCTAssertNil(Statistics.pairedBootstrap(correctA: a, correctB: [], resamples: 10))
    }

    /// Independent per-image differences with known variance: the interval is centred on the
    /// observed mean and about ±1.96 standard errors wide.
    func testBootstrapWidthMatchesTheory() throws {
        let images = 2000
        // A correct on even images, B on images divisible by 4: A is better on half of the
        // images B misses... d = B − A per image ∈ {−1, 0}: A's error − B's error = −0.25.
        let a = [[Bool]](repeating: (0..<images).map { $0 % 2 == 0 }, count: 1)
        let b = [[Bool]](repeating: (0..<images).map { $0 % 4 == 0 }, count: 1)
        let ci = try XCTUnwrap(Statistics.pairedBootstrap(correctA: a, correctB: b, resamples: 2000))
        let observed = -0.25
        // d takes −1 with probability 1/4: sd of the mean = sqrt(0.25·0.75 / n).
        let se = (0.25 * 0.75 / Double(images)).squareRoot()
        XCTAssertEqual((ci.low + ci.high) / 2, observed, accuracy: 0.3 * se)
        XCTAssertEqual(ci.high - ci.low, 2 * 1.96 * se, accuracy: 0.15 * 2 * 1.96 * se)
        XCTAssertTrue(ci.contains(observed))
    }

    func testQuantileInterpolates() {
        XCTAssertEqual(Statistics.quantile(sorted: [0, 10], 0.25), 2.5)
        XCTAssertEqual(Statistics.quantile(sorted: [1, 2, 3, 4, 5], 0.5), 3)
    }
}
