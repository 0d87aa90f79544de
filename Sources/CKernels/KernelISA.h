// The instruction-set choice the vector kernels share (not part of the public header).
#ifndef PBA_KERNEL_ISA_H
#define PBA_KERNEL_ISA_H

#include "CKernels.h"

/// The instruction set to use for rows of `c` floats: whole vectors only, so AVX-512 where c is a
/// multiple of 16, AVX2 where of 8, else PBA_ISA_NONE (the caller's own loop).
static inline int pba_isa_for_width(int c) {
    int isa = pba_kernels_isa();
    if (isa == PBA_ISA_AVX512 && c % 16 == 0) return PBA_ISA_AVX512;
    if (isa >= PBA_ISA_AVX2 && c % 8 == 0) return PBA_ISA_AVX2;
    return PBA_ISA_NONE;
}

#endif
