// PBA's parameter-free shortcut (average pooling by the stride, then zero channels on both sides)
// for AVX-512 and AVX2. Why in C: Swift's per-channel loops over a window ran at about half the
// memory speed the batch-norm kernels reach (WRN-10-1's six shortcut passes forward took 8 ms of
// a 136 ms step on a Zen 4 core). Each lane keeps the Swift path's order exactly (window pixels in
// row order, then the scale, then the add; separate statements so no multiply-add is fused), so
// results are bit-identical to it and to the plain two-step form the tests write out.

#include "CKernels.h"
#include "KernelISA.h"

#if defined(__x86_64__) || defined(__i386__)

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));

#define LD(p) (*(const VT *)(const void *)(p))
#define ST(p, v) (*(VT *)(void *)(p) = (v))

// Output row oy of image img: top[img, oy, ox, off + ch] += mean of x over the window.
#define FORWARD_BODY                                                                              \
    int oh = (h + s - 1) / s, ow = (w + s - 1) / s;                                               \
    int y0 = oy * s, y1 = y0 + s < h ? y0 + s : h;                                                \
    for (int ox = 0; ox < ow; ox++) {                                                             \
        int x0 = ox * s, x1 = x0 + s < w ? x0 + s : w;                                            \
        float scale = 1.0f / (float)((y1 - y0) * (x1 - x0));                                      \
        float *dst = top + (((long)img * oh + oy) * ow + ox) * co + off;                          \
        for (int ch = 0; ch < ci; ch += L) {                                                      \
            VT sum = (VT){0};                                                                     \
            for (int iy = y0; iy < y1; iy++)                                                      \
                for (int ix = x0; ix < x1; ix++)                                                  \
                    sum = sum + LD(x + (((long)img * h + iy) * w + ix) * ci + ch);                \
            if (scale != 1.0f) sum = sum * scale;                                                 \
            VT t = LD(dst + ch);                                                                  \
            ST(dst + ch, t + sum);                                                                \
        }                                                                                         \
    }

#define FORWARD_ARGS const float *x, int h, int w, int ci, int s, int co, int off, long img, int oy, float *top

// Input row iy of image img: out = (d +) dy of the pixel's window (unpadded channels) × 1/size.
#define GRADIENT_BODY                                                                             \
    int oh = (h + s - 1) / s, ow = (w + s - 1) / s;                                               \
    int oy = iy / s;                                                                              \
    int wy = (oy * s + s < h ? oy * s + s : h) - oy * s;                                          \
    for (int ix = 0; ix < w; ix++) {                                                              \
        int ox = ix / s;                                                                          \
        int wx = (ox * s + s < w ? ox * s + s : w) - ox * s;                                      \
        float scale = 1.0f / (float)(wy * wx);                                                    \
        const float *g = dy + (((long)img * oh + oy) * ow + ox) * co + off;                       \
        long at = (((long)img * h + iy) * w + ix) * ci;                                           \
        for (int ch = 0; ch < ci; ch += L) {                                                      \
            VT v = LD(g + ch) * scale;                                                            \
            if (d) { VT a = LD(d + at + ch); v = a + v; }                                         \
            ST(out + at + ch, v);                                                                 \
        }                                                                                         \
    }

#define GRADIENT_ARGS const float *dy, const float *d, int h, int w, int ci, int s, int co, int off, long img, int iy, float *out

#define DEFINE_KERNELS(SUFFIX, TARGET)                                                                   \
    __attribute__((target(TARGET))) static void forward_##SUFFIX(FORWARD_ARGS) { FORWARD_BODY }          \
    __attribute__((target(TARGET))) static void gradient_##SUFFIX(GRADIENT_ARGS) { GRADIENT_BODY }

#define VT v16
#define L 16
DEFINE_KERNELS(512, "avx512f")
#undef VT
#undef L
#define VT v8
#define L 8
DEFINE_KERNELS(256, "avx2")
#undef VT
#undef L

int pba_pool_pad_add(FORWARD_ARGS) {
    switch (pba_isa_for_width(ci)) {
    case PBA_ISA_AVX512: forward_512(x, h, w, ci, s, co, off, img, oy, top); return 1;
    case PBA_ISA_AVX2: forward_256(x, h, w, ci, s, co, off, img, oy, top); return 1;
    default: return 0;
    }
}

int pba_pool_pad_gradient(GRADIENT_ARGS) {
    switch (pba_isa_for_width(ci)) {
    case PBA_ISA_AVX512: gradient_512(dy, d, h, w, ci, s, co, off, img, iy, out); return 1;
    case PBA_ISA_AVX2: gradient_256(dy, d, h, w, ci, s, co, off, img, iy, out); return 1;
    default: return 0;
    }
}

#else

int pba_pool_pad_add(const float *x, int h, int w, int ci, int s, int co, int off, long img, int oy, float *top) {
    (void)x; (void)h; (void)w; (void)ci; (void)s; (void)co; (void)off; (void)img; (void)oy; (void)top;
    return 0;
}
int pba_pool_pad_gradient(const float *dy, const float *d, int h, int w, int ci, int s, int co, int off, long img, int iy,
                          float *out) {
    (void)dy; (void)d; (void)h; (void)w; (void)ci; (void)s; (void)co; (void)off; (void)img; (void)iy; (void)out;
    return 0;
}

#endif
