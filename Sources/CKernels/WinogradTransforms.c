// Winograd F(4×4, 3×3) tile transforms (WinogradBody.h) for AVX-512 and AVX2, chosen at run time
// like the small products. Why in C: Swift compiles pba for baseline x86-64, so its transforms run
// on 128-bit SSE without FMA; at 16-64 channels they took a fifth of a WRN-10-1 training step.

#include "CKernels.h"
#include "KernelISA.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));

#define VT v16
#define L 16
#define ATTR __attribute__((target("avx512f,fma")))
#define NAME(x) wino_##x##_512
#include "WinogradBody.h"
#undef VT
#undef L
#undef ATTR
#undef NAME

#define VT v8
#define L 8
#define ATTR __attribute__((target("avx2,fma")))
#define NAME(x) wino_##x##_256
#include "WinogradBody.h"
#undef VT
#undef L
#undef ATTR
#undef NAME

int pba_winograd_input(const float *x, int h, int w, int c, long first, int count, float *v) {
    int tiles_x = (w + 3) / 4, tiles_per_image = ((h + 3) / 4) * tiles_x;
    switch (pba_isa_for_width(c)) {
    case PBA_ISA_AVX512: wino_input_512(x, h, w, c, tiles_x, tiles_per_image, first, count, v); return 1;
    case PBA_ISA_AVX2: wino_input_256(x, h, w, c, tiles_x, tiles_per_image, first, count, v); return 1;
    default: return 0;
    }
}

int pba_winograd_output(const float *m, int h, int w, int c, long first, int count, float *y) {
    int tiles_x = (w + 3) / 4, tiles_per_image = ((h + 3) / 4) * tiles_x;
    switch (pba_isa_for_width(c)) {
    case PBA_ISA_AVX512: wino_output_512(m, h, w, c, tiles_x, tiles_per_image, first, count, y); return 1;
    case PBA_ISA_AVX2: wino_output_256(m, h, w, c, tiles_x, tiles_per_image, first, count, y); return 1;
    default: return 0;
    }
}

int pba_winograd_output_gradient(const float *dy, int h, int w, int c, long first, int count, float *z) {
    int tiles_x = (w + 3) / 4, tiles_per_image = ((h + 3) / 4) * tiles_x;
    switch (pba_isa_for_width(c)) {
    case PBA_ISA_AVX512: wino_output_gradient_512(dy, h, w, c, tiles_x, tiles_per_image, first, count, z); return 1;
    case PBA_ISA_AVX2: wino_output_gradient_256(dy, h, w, c, tiles_x, tiles_per_image, first, count, z); return 1;
    default: return 0;
    }
}

#else

int pba_winograd_input(const float *x, int h, int w, int c, long first, int count, float *v) {
    (void)x; (void)h; (void)w; (void)c; (void)first; (void)count; (void)v;
    return 0;
}
int pba_winograd_output(const float *m, int h, int w, int c, long first, int count, float *y) {
    (void)m; (void)h; (void)w; (void)c; (void)first; (void)count; (void)y;
    return 0;
}
int pba_winograd_output_gradient(const float *dy, int h, int w, int c, long first, int count, float *z) {
    (void)dy; (void)h; (void)w; (void)c; (void)first; (void)count; (void)z;
    return 0;
}

#endif
