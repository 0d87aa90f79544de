// The Winograd F(4×4, 3×3) tile transforms over NHWC channels, written once on a vector type VT
// of L floats and included twice by WinogradTransforms.c (AVX-512: VT = 16 floats; AVX2: 8),
// each time under that set's target attribute ATTR, with names ending in SUFFIX. The arithmetic
// is the same as Sources/Engine/Layers/Winograd.swift's 1-D transforms (Bᵀ, Aᵀ, A), in the same
// order of operations, so the two paths agree to float rounding of fused multiply-adds.
//
// Expects: VT, L, ATTR, NAME(x) (appends SUFFIX).

#ifndef PBA_WINOGRAD_TILE_ORIGIN
#define PBA_WINOGRAD_TILE_ORIGIN
// Image, top-left output pixel and valid output rows/columns (4, fewer at the bottom/right edge)
// of tile `tile` of h × w images, tiles numbered (image, tile row, tile column).
typedef struct { long image; int oy, ox, valid_y, valid_x; } wino_tile_origin;
static inline __attribute__((always_inline)) wino_tile_origin wino_origin(long tile, int tiles_x, int tiles_per_image,
                                                                           int h, int w) {
    wino_tile_origin o;
    o.image = tile / tiles_per_image;
    int r = (int)(tile - o.image * tiles_per_image), ty = r / tiles_x;
    o.oy = ty * 4;
    o.ox = (r - ty * tiles_x) * 4;
    o.valid_y = h - o.oy < 4 ? h - o.oy : 4;
    o.valid_x = w - o.ox < 4 ? w - o.ox : 4;
    return o;
}
#endif

#define LOADV(p) (*(const VT *)(const void *)(p))

// One vector of zeros, what taps outside the image read.
static const float NAME(zeros)[L] __attribute__((aligned(64))) = {0};
#define STOREV(p, v) (*(VT *)(void *)(p) = (v))

// Bᵀ (6 → 6) over six vectors.
static inline __attribute__((always_inline)) ATTR void NAME(bt)(const VT x[6], VT d[6]) {
    VT p = x[1] + x[2], m = x[1] - x[2], q = x[4] - x[2], r = 2.0f * (x[3] - x[1]);
    d[0] = 4.0f * x[0] - 5.0f * x[2] + x[4];
    d[1] = (x[3] + x[4]) - 4.0f * p;
    d[2] = (x[4] - x[3]) + 4.0f * m;
    d[3] = q + r;
    d[4] = q - r;
    d[5] = 4.0f * x[1] - 5.0f * x[3] + x[5];
}

// Aᵀ (6 → 4).
static inline __attribute__((always_inline)) ATTR void NAME(at)(const VT s[6], VT d[4]) {
    VT a = s[1] + s[2], b = s[1] - s[2], e = s[3] + s[4], f = s[3] - s[4];
    d[0] = s[0] + a + e;
    d[1] = b + 2.0f * f;
    d[2] = a + 4.0f * e;
    d[3] = b + 8.0f * f + s[5];
}

// A (4 → 6), the adjoint of Aᵀ.
static inline __attribute__((always_inline)) ATTR void NAME(a)(const VT y[4], VT d[6]) {
    VT even = y[0] + y[2], odd = y[1] + y[3];
    VT even4 = y[0] + 4.0f * y[2], odd8 = 2.0f * y[1] + 8.0f * y[3];
    d[0] = y[0];
    d[1] = even + odd;
    d[2] = even - odd;
    d[3] = even4 + odd8;
    d[4] = even4 - odd8;
    d[5] = y[3];
}

// Bᵀ d B of one tile's channels [ch, ch + L) into v; the window's rows [iy0, iy1) and columns
// [ix0, ix1) of 0..5 lie inside the image, the rest reads as zero. `inside` (the whole window
// in the image) is a literal at each call, so the common case has no bounds tests.
static inline __attribute__((always_inline)) ATTR void NAME(input_tile)(const float *image0, int w, int y0, int x0, int c, int ch,
                                                                       int inside, int iy0, int iy1, int ix0, int ix1,
                                                                       float *out, long plane) {
    VT col[6][6];  // [j][i]: column j after Bᵀ down the rows
    for (int j = 0; j < 6; j++) {
        VT in[6];
        for (int i = 0; i < 6; i++) {
            // Outside the image, read a zero vector: a pointer select, not a branch per tap
            // (most tiles of an 8×8 or 16×16 image touch an edge).
            const float *src = image0 + ((long)(y0 + i) * w + x0 + j) * c + ch;
            if (!inside) src = (i >= iy0 && i < iy1 && j >= ix0 && j < ix1) ? src : NAME(zeros);
            in[i] = LOADV(src);
        }
        NAME(bt)(in, col[j]);
    }
    for (int i = 0; i < 6; i++) {
        VT in[6], o[6];
        for (int j = 0; j < 6; j++) in[j] = col[j][i];
        NAME(bt)(in, o);
        for (int j = 0; j < 6; j++) STOREV(out + (i * 6 + j) * plane + ch, o[j]);
    }
}

// V = Bᵀ d B for tiles [first, first+count): x [n, h, w, c] → v [36, count, c]. Edge tiles read
// zeros outside the image without copying the window.
static ATTR void NAME(input)(const float *x, int h, int w, int c, int tiles_x, int tiles_per_image,
                             long first, int count, float *v) {
    long plane = (long)count * c;
    for (int t = 0; t < count; t++) {
        wino_tile_origin o = wino_origin(first + t, tiles_x, tiles_per_image, h, w);
        int y0 = o.oy - 1, x0 = o.ox - 1;
        const float *image0 = x + o.image * h * w * c;
        float *out = v + (long)t * c;
        if (y0 >= 0 && x0 >= 0 && y0 + 6 <= h && x0 + 6 <= w) {
            for (int ch = 0; ch < c; ch += L) NAME(input_tile)(image0, w, y0, x0, c, ch, 1, 0, 6, 0, 6, out, plane);
        } else {
            int iy0 = y0 < 0 ? -y0 : 0, iy1 = h - y0 < 6 ? h - y0 : 6;
            int ix0 = x0 < 0 ? -x0 : 0, ix1 = w - x0 < 6 ? w - x0 : 6;
            for (int ch = 0; ch < c; ch += L) NAME(input_tile)(image0, w, y0, x0, c, ch, 0, iy0, iy1, ix0, ix1, out, plane);
        }
    }
}

// Y = Aᵀ M A: m [36, count, c] → the valid pixels of tiles [first, first+count) of y [n, h, w, c].
static ATTR void NAME(output)(const float *m, int h, int w, int c, int tiles_x, int tiles_per_image,
                              long first, int count, float *y) {
    long plane = (long)count * c;
    for (int t = 0; t < count; t++) {
        wino_tile_origin o = wino_origin(first + t, tiles_x, tiles_per_image, h, w);
        long image = o.image;
        int oy = o.oy, ox = o.ox, valid_y = o.valid_y, valid_x = o.valid_x;
        float *image0 = y + image * h * w * c;
        const float *src = m + (long)t * c;
        for (int ch = 0; ch < c; ch += L) {
            VT col[6][4];  // [j][i]
            for (int j = 0; j < 6; j++) {
                VT in[6];
                for (int i = 0; i < 6; i++) in[i] = LOADV(src + (i * 6 + j) * plane + ch);
                NAME(at)(in, col[j]);
            }
            for (int i = 0; i < valid_y; i++) {
                VT in[6], o[4];
                for (int j = 0; j < 6; j++) in[j] = col[j][i];
                NAME(at)(in, o);
                float *dst = image0 + ((long)(oy + i) * w + ox) * c + ch;
                for (int j = 0; j < valid_x; j++) STOREV(dst + j * c, o[j]);
            }
        }
    }
}

// Z = A dY Aᵀ for tiles [first, first+count) of dy [n, h, w, c], zero beyond the edges
// → z [36, count, c].
static ATTR void NAME(output_gradient)(const float *dy, int h, int w, int c, int tiles_x, int tiles_per_image,
                                       long first, int count, float *z) {
    long plane = (long)count * c;
    for (int t = 0; t < count; t++) {
        wino_tile_origin o = wino_origin(first + t, tiles_x, tiles_per_image, h, w);
        long image = o.image;
        int oy = o.oy, ox = o.ox, valid_y = o.valid_y, valid_x = o.valid_x;
        const float *image0 = dy + image * h * w * c;
        float *out = z + (long)t * c;
        for (int ch = 0; ch < c; ch += L) {
            VT col[4][6];  // [j][i]: column j after A down the rows
            for (int j = 0; j < 4; j++) {
                VT in[4];
                for (int i = 0; i < 4; i++) {
                    const float *src = image0 + ((long)(oy + i) * w + ox + j) * c + ch;
                    in[i] = LOADV(i < valid_y && j < valid_x ? src : NAME(zeros));
                }
                NAME(a)(in, col[j]);
            }
            for (int i = 0; i < 6; i++) {
                VT in[4], o[6];
                for (int j = 0; j < 4; j++) in[j] = col[j][i];
                NAME(a)(in, o);
                for (int j = 0; j < 6; j++) STOREV(out + (i * 6 + j) * plane + ch, o[j]);
            }
        }
    }
}

#undef LOADV
#undef STOREV
