// A direct 3×3 convolution (stride 1, pad 1) for the stem's few input channels (1-4: the image),
// forward and weight gradient, for AVX-512 and AVX2+FMA.
//
// Why: Winograd's win is fewer multiplies per (input, output) channel pair, paid for with
// transforms per channel. With 3 input channels the products are tiny (K = 3) and the transforms
// dominate: on a Zen 4 core the stem of WRN-10-1 (3→16, 32×32, batch 128) took 8-10 ms of a
// 120-136 ms step by Winograd. Directly, an output pixel is 9·cin broadcasts times cout/L vector
// FMAs, all in registers; the weight gradient is the same loop with the roles swapped.
//
// Order of the sums: taps in im2col's order (ky, kx, ci) per output pixel (forward; a tap beyond
// the edge adds 0·w); pixels in order per call (weight gradient). The caller splits images into
// parts and adds the parts' partials in part order, so results depend only on the inputs and the
// thread count.

#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));

#define LD(p) (*(const VT *)(const void *)(p))
#define ST(p, v) (*(VT *)(void *)(p) = (v))
#define MAX_IN 4

static const float zeros[MAX_IN] = {0};

// P output pixels of row oy of image img from column `start` (start + P <= w), NV vectors each:
// P·NV independent accumulators, so the FMAs do not wait on each other's latency (one pixel at a
// time is a chain of 9·cin dependent FMAs). A tap beyond the left/right edge reads zeros.
#define FORWARD_BLOCK(SUFFIX, TARGET, NV, P)                                                          \
    __attribute__((target(TARGET))) static inline void fblock_##SUFFIX##_##NV##_##P(                  \
        const float *x, int h, int w, int cin, int cout, const float *wt, long img, int oy, int start, float *y) { \
        VT acc[P][NV];                                                                                \
        for (int q = 0; q < P; q++)                                                                   \
            for (int v = 0; v < NV; v++) acc[q][v] = (VT){0};                                         \
        for (int ky = 0; ky < 3; ky++) {                                                              \
            int iy = oy + ky - 1;                                                                     \
            if (iy < 0 || iy >= h) continue;                                                          \
            const float *row = x + (img * h + iy) * (long)w * cin;                                    \
            for (int kx = 0; kx < 3; kx++) {                                                          \
                const float *px[P];                                                                   \
                for (int q = 0; q < P; q++) {                                                         \
                    int ix = start + q + kx - 1;                                                      \
                    px[q] = ix >= 0 && ix < w ? row + (long)ix * cin : zeros;                         \
                }                                                                                     \
                const float *wp = wt + (long)((ky * 3 + kx) * cin) * cout;                            \
                for (int ci = 0; ci < cin; ci++) {                                                    \
                    VT wv[NV];                                                                        \
                    for (int v = 0; v < NV; v++) wv[v] = LD(wp + ci * cout + v * L);                  \
                    for (int q = 0; q < P; q++) {                                                     \
                        float s = px[q][ci];                                                          \
                        for (int v = 0; v < NV; v++) acc[q][v] = acc[q][v] + s * wv[v];               \
                    }                                                                                 \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
        float *yp = y + ((img * h + oy) * (long)w + start) * cout;                                    \
        for (int q = 0; q < P; q++)                                                                   \
            for (int v = 0; v < NV; v++) ST(yp + q * cout + v * L, acc[q][v]);                        \
    }

// Rows in blocks of P pixels; the last block of a row starts at w − P (it rewrites some pixels of
// the one before with the same values); rows narrower than P go one pixel at a time.
#define FORWARD(SUFFIX, TARGET, NV, P)                                                                \
    FORWARD_BLOCK(SUFFIX, TARGET, NV, P)                                                              \
    FORWARD_BLOCK(SUFFIX, TARGET, NV, 1)                                                              \
    __attribute__((target(TARGET))) static void forward_##SUFFIX##_##NV(FORWARD_ARGS) {               \
        for (long img = first; img < first + images; img++)                                           \
            for (int oy = 0; oy < h; oy++) {                                                          \
                if (w < P) {                                                                          \
                    for (int ox = 0; ox < w; ox++) fblock_##SUFFIX##_##NV##_1(x, h, w, cin, cout, wt, img, oy, ox, y); \
                    continue;                                                                         \
                }                                                                                     \
                for (int start = 0; start < w; start += P)                                            \
                    fblock_##SUFFIX##_##NV##_##P(x, h, w, cin, cout, wt, img, oy, start + P > w ? w - P : start, y); \
            }                                                                                         \
    }

// dw [9·CIN, cout] (+)= Σ over the pixels of images [first, first + images), in order, of
// patch(x)ᵀ·dy; CIN and NV are constants, so the 9·CIN·NV accumulators can live in registers.
#define GRADIENT(SUFFIX, TARGET, NV, CIN)                                                             \
    __attribute__((target(TARGET))) static void gradient_##SUFFIX##_##NV##_##CIN(                     \
        const float *x, const float *dy, int h, int w, int cout, long first, long images, float *dw, int accumulate) { \
        VT acc[9 * CIN][NV];                                                                          \
        for (int p = 0; p < 9 * CIN; p++)                                                             \
            for (int v = 0; v < NV; v++) acc[p][v] = accumulate ? LD(dw + p * cout + v * L) : (VT){0}; \
        for (long img = first; img < first + images; img++)                                           \
            for (int oy = 0; oy < h; oy++)                                                            \
                for (int ox = 0; ox < w; ox++) {                                                      \
                    const float *gp = dy + ((img * h + oy) * w + ox) * cout;                          \
                    VT g[NV];                                                                         \
                    for (int v = 0; v < NV; v++) g[v] = LD(gp + v * L);                               \
                    for (int ky = 0; ky < 3; ky++) {                                                  \
                        int iy = oy + ky - 1;                                                         \
                        int rowOK = iy >= 0 && iy < h;                                                \
                        for (int kx = 0; kx < 3; kx++) {                                              \
                            int ix = ox + kx - 1;                                                     \
                            const float *xp = rowOK && ix >= 0 && ix < w                              \
                                ? x + ((img * h + iy) * w + ix) * CIN : zeros;                        \
                            for (int ci = 0; ci < CIN; ci++)                                          \
                                for (int v = 0; v < NV; v++)                                          \
                                    acc[(ky * 3 + kx) * CIN + ci][v] = acc[(ky * 3 + kx) * CIN + ci][v] + xp[ci] * g[v]; \
                        }                                                                             \
                    }                                                                                 \
                }                                                                                     \
        for (int p = 0; p < 9 * CIN; p++)                                                             \
            for (int v = 0; v < NV; v++) ST(dw + p * cout + v * L, acc[p][v]);                        \
    }

#define FORWARD_ARGS const float *x, int h, int w, int cin, int cout, const float *wt, long first, long images, float *y
#define GRADIENT_ARGS const float *x, const float *dy, int h, int w, int cout, long first, long images, \
                      float *dw, int accumulate

typedef void (*forward_fn)(FORWARD_ARGS);
typedef void (*gradient_fn)(GRADIENT_ARGS);

#define GRADIENTS(SUFFIX, TARGET, NV) \
    GRADIENT(SUFFIX, TARGET, NV, 1) GRADIENT(SUFFIX, TARGET, NV, 2) GRADIENT(SUFFIX, TARGET, NV, 3) GRADIENT(SUFFIX, TARGET, NV, 4)
#define GRADIENT_ROW(SUFFIX, NV) \
    {gradient_##SUFFIX##_##NV##_1, gradient_##SUFFIX##_##NV##_2, gradient_##SUFFIX##_##NV##_3, gradient_##SUFFIX##_##NV##_4}

// Every kernel of one instruction set (VT, L defined): forward and weight gradient for 1, 2 and 4
// output vectors (index 0, 1, 2), the forward with P1/P2/P4 pixels per block, chosen so that
// P·NV accumulators cover the FMA latency and fit the registers.
#define INSTRUCTION_SET(SUFFIX, TARGET, P1, P2, P4)                                               \
    FORWARD(SUFFIX, TARGET, 1, P1) FORWARD(SUFFIX, TARGET, 2, P2) FORWARD(SUFFIX, TARGET, 4, P4) \
    GRADIENTS(SUFFIX, TARGET, 1) GRADIENTS(SUFFIX, TARGET, 2) GRADIENTS(SUFFIX, TARGET, 4)

#define VT v16
#define L 16
INSTRUCTION_SET(512, "avx512f", 8, 8, 4)
#undef VT
#undef L
#define VT v8
#define L 8
INSTRUCTION_SET(256, "avx2,fma", 8, 4, 2)
#undef VT
#undef L

static const forward_fn forwards512[3] = {forward_512_1, forward_512_2, forward_512_4};
static const forward_fn forwards256[3] = {forward_256_1, forward_256_2, forward_256_4};
static const gradient_fn gradients512[3][MAX_IN] = {GRADIENT_ROW(512, 1), GRADIENT_ROW(512, 2), GRADIENT_ROW(512, 4)};
static const gradient_fn gradients256[3][MAX_IN] = {GRADIENT_ROW(256, 1), GRADIENT_ROW(256, 2), GRADIENT_ROW(256, 4)};

// Index of the vector count for (isa, cin, cout): 0, 1, 2 for 1, 2, 4 vectors; −1 where none fits.
static int vectors_index(int isa, int cin, int cout) {
    if (cin < 1 || cin > MAX_IN) return -1;
    int lanes = isa == PBA_ISA_AVX512 ? 16 : isa == PBA_ISA_AVX2 ? 8 : 0;
    if (lanes == 0 || cout % lanes != 0) return -1;
    switch (cout / lanes) {
    case 1: return 0;
    case 2: return 1;
    case 4: return 2;
    default: return -1;
    }
}

int pba_conv3x3_direct_supported(int cin, int cout) { return vectors_index(pba_kernels_isa(), cin, cout) >= 0; }

int pba_conv3x3_direct_forward(FORWARD_ARGS) {
    int isa = pba_kernels_isa(), i = vectors_index(isa, cin, cout);
    if (i < 0) return 0;
    (isa == PBA_ISA_AVX512 ? forwards512 : forwards256)[i](x, h, w, cin, cout, wt, first, images, y);
    return 1;
}

int pba_conv3x3_direct_weight_gradient(const float *x, const float *dy, int h, int w, int cin, int cout, long first,
                                       long images, float *dw, int accumulate) {
    int isa = pba_kernels_isa(), i = vectors_index(isa, cin, cout);
    if (i < 0) return 0;
    (isa == PBA_ISA_AVX512 ? gradients512 : gradients256)[i][cin - 1](x, dy, h, w, cout, first, images, dw, accumulate);
    return 1;
}

#else

int pba_conv3x3_direct_supported(int cin, int cout) { (void)cin; (void)cout; return 0; }
int pba_conv3x3_direct_forward(const float *x, int h, int w, int cin, int cout, const float *wt, long first, long images,
                               float *y) {
    (void)x; (void)h; (void)w; (void)cin; (void)cout; (void)wt; (void)first; (void)images; (void)y;
    return 0;
}
int pba_conv3x3_direct_weight_gradient(const float *x, const float *dy, int h, int w, int cin, int cout, long first,
                                       long images, float *dw, int accumulate) {
    (void)x; (void)dy; (void)h; (void)w; (void)cin; (void)cout; (void)first; (void)images; (void)dw; (void)accumulate;
    return 0;
}

#endif
