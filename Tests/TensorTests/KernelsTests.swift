import XCTest
@testable import Tensor

/// pba's small-GEMM kernels against a float64 triple loop, for every instruction set this CPU
/// has (the AVX2 path is tested on AVX-512 machines too), and their fall-back to BLAS.
final class KernelsTests: XCTestCase {
    override func tearDown() {
        Kernels.use(.avx512)  // back to the best the CPU has
    }

    /// (transA, m, n, k, accumulate) covering partial row blocks, several column panels
    /// (n = 128 = 2 AVX-512 panels, 8 AVX2 ones), k = 0 and 1, k beyond one k-block (256), and n
    /// that only AVX2 takes (n = 24) or neither (n = 10).
    let shapes: [(Bool, Int, Int, Int, Bool)] = [
        (false, 227, 16, 16, false), (false, 13, 32, 3, true), (true, 16, 16, 227, false),
        (true, 27, 16, 600, true), (false, 5, 128, 64, false), (true, 64, 64, 1, true),
        (false, 7, 48, 0, true), (false, 7, 48, 0, false), (false, 31, 24, 9, false), (true, 9, 10, 40, true),
        (false, 300, 144, 32, false), (true, 144, 32, 1000, false),
    ]

    func testMatchesFloat64ReferenceOnEveryInstructionSet() {
        var g = SeededGenerator(seed: 11)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(g.nextInt(below: 2001) - 1000) / 1000 } }
        let sets = Kernels.InstructionSet.allCases.filter { $0.rawValue <= Kernels.cpuInstructionSet.rawValue }
        XCTAssertTrue(sets.contains(.blas))
        for set in sets {
            XCTAssertEqual(Kernels.use(set), set)
            for (transA, m, n, k, accumulate) in shapes {
                let lda = transA ? m + 3 : k + 2, ldb = n + 5, ldc = n + 1
                let a = random(max(1, (transA ? k : m) * lda)), b = random(max(1, k * ldb))
                let c0 = random(m * ldc)
                var c = c0
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        c.withUnsafeMutableBufferPointer { cp in
                            Kernels.sgemm(transA: transA, m: m, n: n, k: k, a: ap.baseAddress!, lda: lda,
                                          b: bp.baseAddress!, ldb: ldb, accumulate: accumulate,
                                          c: cp.baseAddress!, ldc: ldc)
                        }
                    }
                }
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<n {
                        var sum = accumulate ? Double(c0[i * ldc + j]) : 0
                        for p in 0..<k {
                            let aip = transA ? a[p * lda + i] : a[i * lda + p]
                            sum += Double(aip) * Double(b[p * ldb + j])
                        }
                        worst = max(worst, abs(sum - Double(c[i * ldc + j])) / Double(max(1, k)).squareRoot())
                    }
                    // Padding between rows is never written.
                    for j in n..<ldc { XCTAssertEqual(c[i * ldc + j], c0[i * ldc + j], "\(set) wrote past n") }
                }
                XCTAssertLessThan(worst, 2e-6, "\(set) transA \(transA) \(m)×\(n)×\(k) accumulate \(accumulate)")
            }
        }
    }

    func testDeterministicAndUseClampsToTheCPU() {
        XCTAssertLessThanOrEqual(Kernels.use(.avx512).rawValue, Kernels.cpuInstructionSet.rawValue)
        XCTAssertEqual(Kernels.use(.blas), .blas)
        XCTAssertEqual(Kernels.instructionSet, .blas)
        Kernels.use(.avx512)
        var g = SeededGenerator(seed: 3)
        let a = (0..<(64 * 300)).map { _ in Float(g.nextInt(below: 1000)) / 997 - 0.5 }
        let b = (0..<(300 * 32)).map { _ in Float(g.nextInt(below: 1000)) / 991 - 0.5 }
        func product() -> [Float] {
            var c = [Float](repeating: 0, count: 64 * 32)
            Kernels.sgemm(transA: true, m: 64, n: 32, k: 300, a: a, lda: 64, b: b, ldb: 32, c: &c, ldc: 32)
            return c
        }
        XCTAssertEqual(product(), product())
    }
}
