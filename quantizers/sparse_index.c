/* sparse_index.c — raw and Elias-gap codes of a sparse message's index set (sparse_index.h). */
#include "sparse_index.h"

#include <math.h>

#include "elias.h"

uint64_t sparse_index_bits(sparse_index_code code, const uint32_t *idx, size_t k) {
    if (code == SPARSE_INDEX_RAW)
        return 32ull * k;
    uint64_t bits = 0, prev = 0; /* prev: 1-based position of the previous index */
    for (size_t j = 0; j < k; j++) {
        unsigned len;
        (void)elias_omega_code((uint64_t)idx[j] + 1 - prev, &len);
        bits += len;
        prev = (uint64_t)idx[j] + 1;
    }
    return bits;
}

/* The code length of every gap of bit length m (2^(m-1) <= g < 2^m) is that of 2^(m-1), and
 * grows with m. Maximise sum_m x_m L_m subject to sum x_m = k, sum x_m 2^(m-1) <= n (the gaps
 * sum to i_{k-1} + 1 <= n), x >= 0: a linear programme whose optimum, reached with at most
 * two classes, bounds every integer assignment of the k gaps. */
uint64_t sparse_index_max_bits(sparse_index_code code, size_t k, uint64_t n) {
    if (code == SPARSE_INDEX_RAW)
        return 32ull * k;
    if (k == 0)
        return 0;
    double best = 0, K = (double)k, N = (double)n;
    double cost[33], len[33];
    int nm = 0;
    for (int m = 1; m <= 32; m++) {
        unsigned l;
        (void)elias_omega_code((uint64_t)1 << (m - 1), &l);
        cost[nm] = (double)((uint64_t)1 << (m - 1));
        len[nm] = l;
        nm++;
    }
    for (int a = 0; a < nm; a++) {
        if (K * cost[a] > N)
            break;
        if (K * len[a] > best)
            best = K * len[a];
        for (int b = a + 1; b < nm; b++) {
            if (K * cost[b] <= N)
                continue;
            double xb = (N - K * cost[a]) / (cost[b] - cost[a]);
            double v = K * len[a] + xb * (len[b] - len[a]);
            if (v > best)
                best = v;
        }
    }
    return (uint64_t)ceil(best) + 1; /* + 1: rounding of the double arithmetic */
}

void sparse_index_put(bitw *w, sparse_index_code code, const uint32_t *idx, size_t k) {
    if (code == SPARSE_INDEX_RAW) {
        for (size_t j = 0; j < k; j++)
            bitw_put(w, idx[j], 32);
        return;
    }
    uint64_t prev = 0;
    for (size_t j = 0; j < k; j++) {
        elias_omega_put(w, (uint64_t)idx[j] + 1 - prev);
        prev = (uint64_t)idx[j] + 1;
    }
}

int sparse_index_get(bitr *r, sparse_index_code code, size_t k, uint64_t n, uint32_t *idx,
                     uint64_t *bit, const char **why) {
    uint64_t prev = 0; /* 1-based position of the previous index (0: none yet) */
    for (size_t j = 0; j < k; j++) {
        uint64_t at = r->pos, pos;
        /* positions left for this index: the k-1-j later ones need one each */
        uint64_t last = n - (k - 1 - j);
        if (code == SPARSE_INDEX_RAW) {
            uint32_t u;
            if (bitr_get(r, 32, &u)) {
                *bit = at;
                *why = "truncated index";
                return -1;
            }
            pos = (uint64_t)u + 1;
            if (pos <= prev) {
                *bit = at;
                *why = "index not increasing";
                return -1;
            }
        } else {
            uint64_t gap;
            int e = elias_omega_get(r, last - prev, &gap);
            if (e != ELIAS_OK) {
                *bit = at;
                *why = e == ELIAS_TRUNCATED ? "truncated index gap" : "index gap out of range";
                return -1;
            }
            pos = prev + gap;
        }
        if (pos > last) {
            *bit = at;
            *why = "index out of range";
            return -1;
        }
        idx[j] = (uint32_t)(pos - 1);
        prev = pos;
    }
    return 0;
}
