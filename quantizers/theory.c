/* theory.c — closed-form bounds from the QSGD paper (see theory.h). */
#include "theory.h"

#include <math.h>

double theory_variance_bound(double n, double s) {
    double a = n / (s * s), b = sqrt(n) / s;
    return a < b ? a : b;
}

double theory_nnz_bound(double n, double s) {
    double b = s * (s + sqrt(n));
    return b < n ? b : n;
}

double theory_elias_bits_bound(double n, double s) {
    double k = s * (s + sqrt(n));
    return (3.0 + 1.5 * log2(2.0 * (s * s + n) / k)) * k + 32.0;
}

unsigned theory_elias_omega_len(uint64_t k) {
    unsigned len = 1; /* the terminating 0 */
    while (k > 1) {
        unsigned nb = 64u - (unsigned)__builtin_clzll(k);
        len += nb;
        k = nb - 1;
    }
    return len;
}
