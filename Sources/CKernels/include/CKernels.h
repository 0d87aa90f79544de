// pba's own compute kernels for the shapes OpenBLAS handles poorly: the many small products of a
// Winograd convolution at 16-128 channels (K and N of 3-128, where packing and call overhead cost
// as much as the arithmetic). One binary runs everywhere: each kernel exists for AVX-512F and for
// AVX2+FMA, and the instruction set is chosen once at run time from the CPU (see pba_kernels_isa).
#ifndef PBA_CKERNELS_H
#define PBA_CKERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction sets the kernels can use; a higher value includes the lower ones.
enum {
    PBA_ISA_NONE = 0,    ///< no kernel: callers use BLAS
    PBA_ISA_AVX2 = 2,    ///< 256-bit AVX2 + FMA3
    PBA_ISA_AVX512 = 3,  ///< 512-bit AVX-512F
};

/// The instruction set in use: the best the CPU has, lowered by the environment variable
/// PBA_KERNELS=avx2|blas (to measure or test the AVX2 path on an AVX-512 machine), or by
/// pba_kernels_set_isa.
int pba_kernels_isa(void);

/// The best instruction set this CPU supports (ignores PBA_KERNELS).
int pba_kernels_cpu_isa(void);

/// Uses at most `isa` from now on (clamped to what the CPU has); returns the set now in use.
int pba_kernels_set_isa(int isa);

/// Floats per vector of the instruction set in use (16, 8, or 0 for none).
int pba_kernels_lanes(void);

/// C[m×n] = op(A)·B, plus C's previous contents when `accumulate` is non-zero. All row-major:
/// B is k×n with row stride ldb, C m×n with ldc. op(A) is m×k: A itself (m×k, row stride lda)
/// when `transpose_a` is 0, else Aᵀ for A k×m with row stride lda.
/// Returns 1 when computed, 0 when the shape is not one the kernels take (n not a multiple of
/// the vector width, or no instruction set) and the caller must use BLAS instead.
/// Each output element is a sum over p = 0, 1, …, k−1 in that order, so results depend only on
/// the inputs and the instruction set, never on timing.
int pba_sgemm_small(int transpose_a, int m, int n, int k,
                    const float *a, int lda, const float *b, int ldb,
                    float *c, int ldc, int accumulate);

/// Winograd F(4×4, 3×3) transforms over NHWC tensors of one image size h × w with c channels,
/// for the 4×4 output tiles [first, first + count) numbered (image, tile row, tile column); see
/// Sources/Engine/Layers/Winograd.swift for the layouts. Each returns 1 when computed, 0 when c
/// is not a multiple of the vector width (or no instruction set) and the caller must do it.
/// V = Bᵀ d B: x [n, h, w, c] → v [36, count, c] (taps outside the image read as zero).
int pba_winograd_input(const float *x, int h, int w, int c, long first, int count, float *v);
/// Y = Aᵀ M A: m [36, count, c] → the tiles' valid pixels of y [n, h, w, c], overwritten.
int pba_winograd_output(const float *m, int h, int w, int c, long first, int count, float *y);
/// Z = A dY Aᵀ (dY zero beyond the edges): dy [n, h, w, c] → z [36, count, c].
int pba_winograd_output_gradient(const float *dy, int h, int w, int c, long first, int count, float *z);

/// im2col for images [first, first + images) of x [n, h, w, c]: row (image, oy, ox) of cols
/// holds the k×k×c patch at (oy·s − p, ox·s − p), zero outside. col2im is its adjoint, and
/// overwrites those images of dx. Both return 0 (nothing done) unless c suits the vector width.
int pba_im2col(const float *x, int h, int w, int c, int k, int s, int p, int oh, int ow, int first, int images, float *cols);
int pba_col2im(const float *cols, int h, int w, int c, int k, int s, int p, int oh, int ow, int first, int images, float *dx);

/// Batch norm over rows [r0, r1) of [rows, c] NHWC activations; each returns 0 (nothing done)
/// unless c suits the vector width. Sums: kind 0 adds Σ x into acc[c], kind 1 Σ (x − mean)²,
/// kind 2 Σ dz into acc[0, c) and Σ dz·x̂ into acc[c, 2c) with dz = dy·[y > 0] when relu, else
/// dy, and x̂ = (x − mean)·invstd; float sums over blocks of 32 rows, each added into a double.
/// [y > 0] is recomputed as [x·scale + shift > 0] with the forward's scale and shift, the same
/// expression pba_bn_apply evaluates (so the same bits), instead of reading y: one pass fewer.
int pba_bn_sums(int kind, int relu, const float *x, const float *dy, const float *scale, const float *shift,
                const float *mean, const float *invstd, int c, long r0, long r1, double *acc);
/// out = x·scale + shift per channel, then max(0, ·) when relu.
int pba_bn_apply(int relu, const float *x, const float *scale, const float *shift, int c, long r0, long r1, float *out);
/// dx = ca·(dz − cb − x̂·cc) per channel, dz and x̂ as in pba_bn_sums.
int pba_bn_backward(int relu, const float *dy, const float *scale, const float *shift, const float *x, const float *mean,
                    const float *invstd,
                    const float *ca, const float *cb, const float *cc, int c, long r0, long r1, float *dx);
/// out[i] = a[i] + b[i] for i < n (out may be a or b); 0 without an instruction set.
int pba_add(const float *a, const float *b, float *out, long n);

/// PBA's pooling shortcut (average over the stride's window inside the image, zero channels
/// [0, off) and [off + ci, co) padded): pba_pool_pad_add adds the pooled input into output row oy
/// of image img of top [n, oh, ow, co]; pba_pool_pad_gradient writes input row iy of image img of
/// out [n, h, w, ci] with the window's gradient of dy [n, oh, ow, co] times 1/size, plus d's when
/// d is not NULL (out may be d). Both return 0 (nothing done) unless ci suits the vector width.
int pba_pool_pad_add(const float *x, int h, int w, int ci, int s, int co, int off, long img, int oy, float *top);
int pba_pool_pad_gradient(const float *dy, const float *d, int h, int w, int ci, int s, int co, int off, long img, int iy,
                          float *out);

/// A direct 3×3 convolution (stride 1, pad 1) for 1-4 input channels (the stem): whether the
/// instruction set in use takes (cin, cout) (cout = 1, 2 or 4 vectors); y [n, h, w, cout] of images
/// [first, first + images) from x [n, h, w, cin] and HWIO weights wt [9·cin, cout]; and the weight
/// gradient dw [9·cin, cout] = (dw +) Σ over those images' pixels of patch(x)ᵀ·dy. Each returns 0
/// (nothing done) when the shape is not one it takes.
int pba_conv3x3_direct_supported(int cin, int cout);
int pba_conv3x3_direct_forward(const float *x, int h, int w, int cin, int cout, const float *wt, long first, long images,
                               float *y);
int pba_conv3x3_direct_weight_gradient(const float *x, const float *dy, int h, int w, int cin, int cout, long first,
                                       long images, float *dw, int accumulate);

#ifdef __cplusplus
}
#endif

#endif
