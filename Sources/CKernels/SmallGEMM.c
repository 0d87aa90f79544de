// Register-blocked products for small n (the Winograd products of WRNs: n = 16-128 channels).
//
// Why not BLAS: for C[tiles×16] = V[tiles×16]·U[16×16], OpenBLAS packs both operands and runs a
// general micro-kernel; at K = 16 the packing and per-call work cost as much as the 16 FMAs per
// output row. Here a block of R output rows × V vectors stays in registers for the whole sum:
// per step p, V vectors of B's row p are loaded once and each of the R rows adds
// broadcast(op(A)[r, p]) · B[p, :]. No packing; B's panel (k × V vectors) is re-read from L1 by
// every row block.
//
// Both instruction sets share one body (KERNEL_BODY), instantiated with each set's intrinsics
// under a target attribute, so the binary needs neither at build time. R·V accumulators: 24 of
// AVX-512's 32 registers, 12 of AVX2's 16. Needs -O3 (Package.swift) for the full unrolling.

#include "CKernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define PBA_X86 1
#include <immintrin.h>
#endif

// MARK: instruction-set choice

static int chosen_isa = -1;

int pba_kernels_cpu_isa(void) {
#ifdef PBA_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return PBA_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return PBA_ISA_AVX2;
#endif
    return PBA_ISA_NONE;
}

int pba_kernels_set_isa(int isa) {
    int cpu = pba_kernels_cpu_isa();
    int use = isa < cpu ? isa : cpu;
    if (use < PBA_ISA_NONE) use = PBA_ISA_NONE;
    if (use == 1) use = PBA_ISA_NONE;
    __atomic_store_n(&chosen_isa, use, __ATOMIC_RELAXED);
    return use;
}

int pba_kernels_isa(void) {
    int isa = __atomic_load_n(&chosen_isa, __ATOMIC_RELAXED);
    if (isa >= 0) return isa;
    int want = PBA_ISA_AVX512;
    const char *env = getenv("PBA_KERNELS");
    if (env) {
        if (strcmp(env, "avx2") == 0) want = PBA_ISA_AVX2;
        else if (strcmp(env, "blas") == 0 || strcmp(env, "none") == 0) want = PBA_ISA_NONE;
    }
    return pba_kernels_set_isa(want);
}

int pba_kernels_lanes(void) {
    switch (pba_kernels_isa()) {
    case PBA_ISA_AVX512: return 16;
    case PBA_ISA_AVX2: return 8;
    default: return 0;
    }
}

#ifdef PBA_X86

// MARK: the shared body

#define MAX_ROWS 12
#define K_BLOCK 256
#define MAX_VECTORS 4

// One R×V block: c[r, v·LANES ..] (+)= Σ_p a[r·sai + p·sap] · b[p·ldb + v·LANES ..].
// R and V are literal constants at every use, so the loops unroll and the arrays live in registers.
#define KERNEL_BODY(VEC, LANES, ZERO, LOAD, STORE, FMA, BCAST)                                   \
    VEC s[MAX_ROWS][MAX_VECTORS];                                                                \
    for (int r = 0; r < R; r++)                                                                  \
        for (int v = 0; v < V; v++)                                                              \
            s[r][v] = accumulate ? LOAD(c + (long)r * ldc + v * LANES) : ZERO();                 \
    for (int p = 0; p < k; p++) {                                                                \
        const float *bp = b + (long)p * ldb;                                                     \
        const float *ap = a + (long)p * sap;                                                     \
        VEC bv[MAX_VECTORS];                                                                     \
        for (int v = 0; v < V; v++) bv[v] = LOAD(bp + v * LANES);                                \
        for (int r = 0; r < R; r++) {                                                            \
            VEC av = BCAST(ap[(long)r * sai]);                                                   \
            for (int v = 0; v < V; v++) s[r][v] = FMA(av, bv[v], s[r][v]);                       \
        }                                                                                        \
    }                                                                                            \
    for (int r = 0; r < R; r++)                                                                  \
        for (int v = 0; v < V; v++) STORE(c + (long)r * ldc + v * LANES, s[r][v]);

#define BLOCK_ARGS int k, const float *a, long sai, long sap, const float *b, long ldb, float *c, long ldc, int accumulate
#define BLOCK_PASS k, a, sai, sap, b, ldb, c, ldc, accumulate

// Switches from run-time (rows, V) to a block with literal R and V.
#define ROW_CASES(F, V)                                                                          \
    switch (rows) {                                                                              \
    case 1: F(1, V, BLOCK_PASS); break;                                                          \
    case 2: F(2, V, BLOCK_PASS); break;                                                          \
    case 3: F(3, V, BLOCK_PASS); break;                                                          \
    case 4: F(4, V, BLOCK_PASS); break;                                                          \
    case 5: F(5, V, BLOCK_PASS); break;                                                          \
    case 6: F(6, V, BLOCK_PASS); break;                                                          \
    case 7: F(7, V, BLOCK_PASS); break;                                                          \
    case 8: F(8, V, BLOCK_PASS); break;                                                          \
    case 9: F(9, V, BLOCK_PASS); break;                                                          \
    case 10: F(10, V, BLOCK_PASS); break;                                                        \
    case 11: F(11, V, BLOCK_PASS); break;                                                        \
    case 12: F(12, V, BLOCK_PASS); break;                                                        \
    default: break;                                                                              \
    }

// MARK: AVX-512

#define A512 __attribute__((target("avx512f,fma")))

static inline __attribute__((always_inline)) A512 void block512(const int R, const int V, BLOCK_ARGS) {
    KERNEL_BODY(__m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_fmadd_ps, _mm512_set1_ps)
}

static A512 void panel512(int V, int rows, BLOCK_ARGS) {
    switch (V) {
    case 1: ROW_CASES(block512, 1) break;
    case 2: ROW_CASES(block512, 2) break;
    case 3: ROW_CASES(block512, 3) break;
    case 4: ROW_CASES(block512, 4) break;
    default: break;
    }
}

static const int rows512[MAX_VECTORS + 1] = {0, 12, 12, 8, 6};

static A512 void sgemm512(long sai, long sap, int m, int n, int k, const float *a, const float *b, long ldb,
                          float *c, long ldc, int accumulate) {
    for (int j0 = 0; j0 < n; j0 += 16 * MAX_VECTORS) {
        int V = (n - j0) / 16;
        if (V > MAX_VECTORS) V = MAX_VECTORS;
        int R = rows512[V];
        for (int i0 = 0; i0 < m; i0 += R) {
            int rows = m - i0 < R ? m - i0 : R;
            panel512(V, rows, k, a + (long)i0 * sai, sai, sap, b + j0, ldb, c + (long)i0 * ldc + j0, ldc, accumulate);
        }
    }
}

// MARK: AVX2

#define A256 __attribute__((target("avx2,fma")))
// Two vectors per row at most: 3 × 4 accumulators plus B and the broadcast need all 16 registers
// and spill (measured: 60 against 110 GFLOP/s).
#define AVX2_VECTORS 2

static inline __attribute__((always_inline)) A256 void block256(const int R, const int V, BLOCK_ARGS) {
    KERNEL_BODY(__m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_fmadd_ps, _mm256_set1_ps)
}

static A256 void panel256(int V, int rows, BLOCK_ARGS) {
    switch (V) {
    case 1: ROW_CASES(block256, 1) break;
    case 2: ROW_CASES(block256, 2) break;
    default: break;
    }
}

static const int rows256[AVX2_VECTORS + 1] = {0, 12, 6};

static A256 void sgemm256(long sai, long sap, int m, int n, int k, const float *a, const float *b, long ldb,
                          float *c, long ldc, int accumulate) {
    for (int j0 = 0; j0 < n; j0 += 8 * AVX2_VECTORS) {
        int V = (n - j0) / 8;
        if (V > AVX2_VECTORS) V = AVX2_VECTORS;
        int R = rows256[V];
        for (int i0 = 0; i0 < m; i0 += R) {
            int rows = m - i0 < R ? m - i0 : R;
            panel256(V, rows, k, a + (long)i0 * sai, sai, sap, b + j0, ldb, c + (long)i0 * ldc + j0, ldc, accumulate);
        }
    }
}

#endif  // PBA_X86

// MARK: entry point

int pba_sgemm_small(int transpose_a, int m, int n, int k,
                    const float *a, int lda, const float *b, int ldb,
                    float *c, int ldc, int accumulate) {
    if (m <= 0 || n <= 0 || k < 0) return 1;
#ifdef PBA_X86
    // Element (i, p) of op(A): A[i, p] at i·lda + p, or Aᵀ's at p·lda + i.
    long sai = transpose_a ? 1 : lda, sap = transpose_a ? lda : 1;
    int isa = pba_kernels_isa();
    if (isa == PBA_ISA_AVX512 ? n % 16 != 0 : isa == PBA_ISA_AVX2 ? n % 8 != 0 : 1) return 0;
    // Long sums (a weight gradient over thousands of pixels) in blocks of K_BLOCK steps, so that
    // the block of B every row block re-reads stays in L1/L2. Storing and reloading a float
    // partial sum is exact: the result equals one unblocked pass.
    for (int p0 = 0; p0 < k || p0 == 0; p0 += K_BLOCK) {
        int kb = k - p0 < K_BLOCK ? k - p0 : K_BLOCK;
        const float *ap = a + (long)p0 * sap, *bp = b + (long)p0 * ldb;
        int acc = accumulate || p0 > 0;
        if (isa == PBA_ISA_AVX512) sgemm512(sai, sap, m, n, kb, ap, bp, ldb, c, ldc, acc);
        else sgemm256(sai, sap, m, n, kb, ap, bp, ldb, c, ldc, acc);
        if (k == 0) break;
    }
    return 1;
#else
    (void)transpose_a; (void)a; (void)lda; (void)b; (void)ldb; (void)c; (void)ldc; (void)accumulate;
    return 0;
#endif
}
