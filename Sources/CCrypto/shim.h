// OpenSSL's libcrypto, for SHA-256 only (hardware SHA extensions where the CPU has them).
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
