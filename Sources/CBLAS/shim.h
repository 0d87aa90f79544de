// OpenBLAS's CBLAS interface plus its openblas_* control functions (thread count, core name).
#include <cblas.h>
