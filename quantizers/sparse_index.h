/* sparse_index.h — the index set of a sparse message (topk, randomk): k strictly increasing
 * coordinate indices 0 <= i_0 < i_1 < ... < i_{k-1} < n, k known to both ends (it is a
 * parameter of the instance, never sent). Two codes:
 *   raw:   k 32-bit unsigned indices, MSB first (32 k bits; n <= 2^32).
 *   elias: k gaps, each Elias-omega coded (elias.h, QSGD's integer code): g_0 = i_0 + 1,
 *          g_j = i_j - i_{j-1} (j >= 1), all >= 1 (|omega(g)| <= log2 g + 2 log2 log2 g + 1).
 * The decoder rejects an index >= n, a non-increasing one, and (elias) a gap that leaves
 * fewer free positions than indices still to come; it never reads past the message. The
 * caller checks that the whole message was consumed (no trailing bits). */
#ifndef QSGDSIM_SPARSE_INDEX_H
#define QSGDSIM_SPARSE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "bitstream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sparse_index_code { SPARSE_INDEX_RAW = 0, SPARSE_INDEX_ELIAS = 1 } sparse_index_code;

#define SPARSE_INDEX_MAX_N ((uint64_t)0xFFFFFFFFu) /* largest n (indices fit 32 bits) */

/* Exact bits of the code of idx[0..k). */
uint64_t sparse_index_bits(sparse_index_code code, const uint32_t *idx, size_t k);
/* An upper bound on the bits of any k-set of [0, n) (exact for raw: 32 k; for elias the
 * linear-programming bound over gap lengths summing to at most n, see sparse_index.c). */
uint64_t sparse_index_max_bits(sparse_index_code code, size_t k, uint64_t n);
/* Append the code of idx[0..k) (strictly increasing, < n: the caller's guarantee). */
void sparse_index_put(bitw *w, sparse_index_code code, const uint32_t *idx, size_t k);
/* Read k indices of [0, n) into idx. Returns 0, or -1 with *bit at the offending code's
 * first bit and *why a static reason ("truncated", "out of range", "not increasing"). */
int sparse_index_get(bitr *r, sparse_index_code code, size_t k, uint64_t n, uint32_t *idx,
                     uint64_t *bit, const char **why);

#ifdef __cplusplus
}
#endif
#endif
