// im2col and its adjoint col2im for the convolutions Winograd does not take (stride 2, the
// shortcut's 1×1 never comes here). Why in C: Swift copied each k×k tap with a memmove call of
// 16-64 floats, and col2im's adds ran on SSE; together about a seventh of a WRN-10-1 step.

#include "CKernels.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));

// Rows (image, oy, ox) of cols hold the k×k×c patch of x around (oy·s − p, ox·s − p), zero outside.
#define IM2COL_BODY(VT, L)                                                                        \
    long kk = (long)k * k * c;                                                                    \
    for (int j = 0; j < images; j++) {                                                            \
        const float *image0 = x + (long)(first + j) * h * w * c;                                  \
        for (int oy = 0; oy < oh; oy++) {                                                         \
            for (int ox = 0; ox < ow; ox++) {                                                     \
                float *out = cols + (((long)j * oh + oy) * ow + ox) * kk;                         \
                for (int ky = 0; ky < k; ky++) {                                                  \
                    int iy = oy * s - p + ky;                                                     \
                    for (int kx = 0; kx < k; kx++, out += c) {                                    \
                        int ix = ox * s - p + kx;                                                 \
                        if (iy >= 0 && iy < h && ix >= 0 && ix < w) {                             \
                            const float *src = image0 + ((long)iy * w + ix) * c;                  \
                            for (int ch = 0; ch < c; ch += L)                                     \
                                *(VT *)(void *)(out + ch) = *(const VT *)(const void *)(src + ch); \
                        } else {                                                                  \
                            for (int ch = 0; ch < c; ch += L) *(VT *)(void *)(out + ch) = (VT){0}; \
                        }                                                                         \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    }

// dx[images] = Σ over rows and taps of the columns scattered back (overwrites the images).
#define COL2IM_BODY(VT, L)                                                                        \
    long kk = (long)k * k * c;                                                                    \
    for (int j = 0; j < images; j++) {                                                            \
        float *image0 = dx + (long)(first + j) * h * w * c;                                       \
        memset(image0, 0, sizeof(float) * (size_t)h * w * c);                                     \
        for (int oy = 0; oy < oh; oy++) {                                                         \
            for (int ox = 0; ox < ow; ox++) {                                                     \
                const float *col = cols + (((long)j * oh + oy) * ow + ox) * kk;                   \
                for (int ky = 0; ky < k; ky++) {                                                  \
                    int iy = oy * s - p + ky;                                                     \
                    for (int kx = 0; kx < k; kx++, col += c) {                                    \
                        int ix = ox * s - p + kx;                                                 \
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;                     \
                        float *d = image0 + ((long)iy * w + ix) * c;                              \
                        for (int ch = 0; ch < c; ch += L)                                         \
                            *(VT *)(void *)(d + ch) += *(const VT *)(const void *)(col + ch);     \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    }

#define IM2COL_ARGS const float *x, int h, int w, int c, int k, int s, int p, int oh, int ow, int first, int images, float *cols
#define COL2IM_ARGS const float *cols, int h, int w, int c, int k, int s, int p, int oh, int ow, int first, int images, float *dx

__attribute__((target("avx512f"))) static void im2col_512(IM2COL_ARGS) { IM2COL_BODY(v16, 16) }
__attribute__((target("avx2"))) static void im2col_256(IM2COL_ARGS) { IM2COL_BODY(v8, 8) }
__attribute__((target("avx512f"))) static void col2im_512(COL2IM_ARGS) { COL2IM_BODY(v16, 16) }
__attribute__((target("avx2"))) static void col2im_256(COL2IM_ARGS) { COL2IM_BODY(v8, 8) }

int pba_im2col(IM2COL_ARGS) {
    int isa = pba_kernels_isa();
    if (isa == PBA_ISA_AVX512 && c % 16 == 0) { im2col_512(x, h, w, c, k, s, p, oh, ow, first, images, cols); return 1; }
    if (isa >= PBA_ISA_AVX2 && c % 8 == 0) { im2col_256(x, h, w, c, k, s, p, oh, ow, first, images, cols); return 1; }
    return 0;
}

int pba_col2im(COL2IM_ARGS) {
    int isa = pba_kernels_isa();
    if (isa == PBA_ISA_AVX512 && c % 16 == 0) { col2im_512(cols, h, w, c, k, s, p, oh, ow, first, images, dx); return 1; }
    if (isa >= PBA_ISA_AVX2 && c % 8 == 0) { col2im_256(cols, h, w, c, k, s, p, oh, ow, first, images, dx); return 1; }
    return 0;
}

#else

int pba_im2col(const float *x, int h, int w, int c, int k, int s, int p, int oh, int ow, int first, int images, float *cols) {
    (void)x; (void)h; (void)w; (void)c; (void)k; (void)s; (void)p; (void)oh; (void)ow; (void)first; (void)images; (void)cols;
    return 0;
}
int pba_col2im(const float *cols, int h, int w, int c, int k, int s, int p, int oh, int ow, int first, int images, float *dx) {
    (void)cols; (void)h; (void)w; (void)c; (void)k; (void)s; (void)p; (void)oh; (void)ow; (void)first; (void)images; (void)dx;
    return 0;
}

#endif
