// zlib, for reading gzip-compressed IDX files (Fashion-MNIST) and writing PNG previews.
#include <zlib.h>
