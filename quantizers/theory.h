/* theory.h — the bounds of Alistarh et al. (NIPS 2017) that the quantizers are checked
 * against (Lemma 3.1, Theorem 3.2), and exact code lengths of the Elias omega code.
 * n is the length of one bucket (d when bucketed), s the number of levels; logs base 2. */
#ifndef QSGDSIM_THEORY_H
#define QSGDSIM_THEORY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Lemma 3.1(ii): E||Q(v)-v||^2 <= min(n/s^2, sqrt(n)/s) * ||v||^2 (l2 norm). */
double theory_variance_bound(double n, double s);
/* Lemma 3.1(iii): E||Q(v)||_0 <= s(s + sqrt(n)) (l2 norm), capped at n. */
double theory_nnz_bound(double n, double s);
/* Theorem 3.2 (s >= 2) with the o(1) term taken as 0, per bucket:
 * (3 + 1.5*log2(2(s^2+n)/(s(s+sqrt(n))))) * s(s+sqrt(n)) + 32 bits. */
double theory_elias_bits_bound(double n, double s);
/* Length in bits of the Elias omega code of k >= 1. */
unsigned theory_elias_omega_len(uint64_t k);

#ifdef __cplusplus
}
#endif
#endif
