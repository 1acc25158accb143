/* ex_allreduce.c — dense fp32 sum (--exchange allreduce): qsgdsim's own ring reduce-scatter
 * + all-gather (fixed summation order: the same bits on every MPI), or with --allreduce mpi
 * the MPI library's MPI_Allreduce. fp32 only (SIM_EXF_FP32_ONLY): a sum of quantized messages
 * is not a quantized message. No state of its own; r->acc is its scratch.
 */
#include <string.h>

#include "exchange.h"

/* Chunk c of K over n values: [lo, hi). */
static void chunk(size_t n, int K, int c, size_t *lo, size_t *hi) {
    *lo = n * (size_t)c / (size_t)K;
    *hi = n * (size_t)(c + 1) / (size_t)K;
}

/* Ring all-reduce (sum) of v[n] in place: reduce-scatter then all-gather, K-1 steps each.
 * The summation order is fixed by this code, so the bits do not depend on the MPI. Returns
 * the number of floats this rank sent (about 2 (K-1)/K n). */
static uint64_t ring_allreduce(float *v, size_t n, float *tmp, int rank, int K) {
    int right = (rank + 1) % K, left = (rank + K - 1) % K;
    uint64_t sent = 0;
    for (int s = 0; s < K - 1; s++) {
        int cs = ((rank - s) % K + K) % K, cr = ((rank - s - 1) % K + K) % K;
        size_t slo, shi, rlo, rhi;
        chunk(n, K, cs, &slo, &shi);
        chunk(n, K, cr, &rlo, &rhi);
        MPI_Sendrecv(v + slo, (int)(shi - slo), MPI_FLOAT, right, 10, tmp, (int)(rhi - rlo),
                     MPI_FLOAT, left, 10, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        sent += shi - slo;
        for (size_t i = 0; i < rhi - rlo; i++)
            v[rlo + i] += tmp[i];
    }
    for (int s = 0; s < K - 1; s++) {
        int cs = ((rank + 1 - s) % K + K) % K, cr = ((rank - s) % K + K) % K;
        size_t slo, shi, rlo, rhi;
        chunk(n, K, cs, &slo, &shi);
        chunk(n, K, cr, &rlo, &rhi);
        MPI_Sendrecv(v + slo, (int)(shi - slo), MPI_FLOAT, right, 11, v + rlo, (int)(rhi - rlo),
                     MPI_FLOAT, left, 11, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        sent += shi - slo;
    }
    return sent;
}

static int allreduce_step(run *r, double loss, uint32_t step, double compute, step_times *st) {
    (void)step;
    (void)compute;
    size_t np = r->m->nparams;
    r->grad[np] = (float)loss; /* the loss rides along as one more value */
    st->encode = 0;
    /* bits sent: the ring's exact traffic from this rank; MPI_Allreduce's algorithm is not
     * visible from here, so its row counts the gradient once (32 (n + 1) bits) */
    st->bits = 32ull * (np + 1);
    double t0 = MPI_Wtime();
    if (r->cfg.allreduce_mpi) {
        MPI_Allreduce(r->grad, r->acc, (int)(np + 1), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        memcpy(r->grad, r->acc, (np + 1) * sizeof(float));
    } else {
        st->bits =
            r->size > 1 ? 32ull * ring_allreduce(r->grad, np + 1, r->acc, r->rank, r->size) : 0;
    }
    st->comm = MPI_Wtime() - t0;
    float inv = 1.0f / (float)r->size;
    for (size_t i = 0; i < np; i++)
        r->grad[i] *= inv;
    st->loss = (double)r->grad[np] * inv;
    st->decode = 0;
    return EXIT_OK;
}

const sim_exchange_ops ex_allreduce_ops = {
    .id = SIM_EX_ALLREDUCE,
    .name = "allreduce",
    .flags = 0,
    .overlap = NULL,
    .setup = NULL,
    .step = allreduce_step,
    .teardown = NULL,
};
