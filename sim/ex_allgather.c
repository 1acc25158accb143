/* ex_allgather.c — QSGD's Algorithm 1 (--exchange allgather): every worker's encoded message
 * reaches every worker (MPI_Allgatherv, sliced beyond MPI's int counts), each decodes and
 * averages all. Its --overlap variant (per-tensor all-gathers posted during backprop) is
 * ex_allgather_overlap.c.
 *
 * Under SMPI all ranks live in one address space and would compute the same average: the
 * shared decode (default; --no-shared-decode turns it off) decodes each step once for all.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ex_allgather.h"

/* SMPI: rank 0 allocates the shared decode state and broadcasts its address (setup, before
 * the clock starts); each rank registers its message buffer, and all ranks receive into one
 * buffer of SMPI shared memory, never read (the network still carries every byte in
 * simulation; SMPI skips the payload copies into shared memory). One buffer, not one per
 * rank: SMPI folds shared memory by mapping one block per smpi/shared-malloc-blocksize, so K
 * buffers of K messages cost K x K x message / blocksize memory maps (a 235k-parameter MLP
 * hit vm.max_map_count at 1024 ranks). The decode then accumulates into the shared average:
 * no accumulator per rank (one gradient-sized buffer less per virtual rank). */
int ex_allgather_shared_setup(run *r) {
#ifdef SMPI_H
    if (!r->cfg.shared_decode)
        return EXIT_OK;
    shared_decode *sd = NULL;
    int bad = 0;
    if (r->rank == 0) {
        sd = calloc(1, sizeof *sd);
        if (sd) {
            sd->step = -1;
            sd->avg = malloc(r->m->nparams * sizeof(float));
            sd->msgs = calloc((size_t)r->size, sizeof *sd->msgs);
            sd->recv = SMPI_SHARED_MALLOC(r->recv_cap);
        }
        bad = !sd || !sd->avg || !sd->msgs || !sd->recv;
    }
    if (tr_agree(bad))
        return tr_fail_all(r, EXIT_MEMORY, "memory", "cannot allocate the shared decode state");
    MPI_Bcast(&sd, (int)sizeof sd, MPI_BYTE, 0, MPI_COMM_WORLD);
    r->exs = sd;
    r->acc_unneeded = 1;
    sd->msgs[r->rank] = r->msg;
    r->recv = sd->recv; /* setup_model allocated none (ex_shared_recv) */
    MPI_Barrier(MPI_COMM_WORLD);
#else
    (void)r;
#endif
    return EXIT_OK;
}

void ex_allgather_teardown(run *r) {
#ifdef SMPI_H
    shared_decode *sd = r->exs;
    if (sd)
        r->recv = NULL;          /* sd->recv, freed by rank 0 */
    MPI_Barrier(MPI_COMM_WORLD); /* nobody reads sd after this */
    if (r->rank == 0 && sd) {
        if (sd->recv)
            SMPI_SHARED_FREE(sd->recv);
        free(sd->avg);
        free(sd->msgs);
        free(sd);
    }
    r->exs = NULL;
#else
    (void)r;
#endif
}

/* Sender w's message in its own buffer (shared decode). */
static int decode_shared(run *r, void *ctx, int w, float *acc, double *loss) {
    const shared_decode *sd = ctx;
    return tr_decode_msg(r, w, sd->msgs[w], (size_t)r->lens[w], acc, loss);
}

static int allgather_step(run *r, double loss, uint32_t step, double compute, step_times *st) {
    (void)compute;
    size_t len;
    if (tr_encode_mine(r, loss, step, &len, st))
        return EXIT_FAIL;
    double t0 = MPI_Wtime();
    int mylen = (int)len;
    if (r->codec->fixed_size) {
        for (int w = 0; w < r->size; w++)
            r->lens[w] = mylen;
    } else {
        MPI_Allgather(&mylen, 1, MPI_INT, r->lens, 1, MPI_INT, MPI_COMM_WORLD);
    }
    tr_gather_big(r, -1);
    if (r->npieces == 1)
        for (int w = 0, off = 0; w < r->size; w++) {
            r->displs[w] = off;
            off += r->lens[w];
        }
    st->comm = MPI_Wtime() - t0;
    shared_decode *sd = r->exs;
    if (!sd)
        return tr_decode_all(r, 0, r->size, st);
    /* Every rank now holds the same K messages and would compute the same average. The first
     * rank out of the collective decodes them (from the senders' own buffers, which hold this
     * step's messages: nobody can encode the next step before some rank has left this
     * collective, and SMPI switches ranks only inside MPI calls), the others use its result
     * (no copy: the optimizer reads the shared average); every rank is charged the measured
     * decode time. */
    if (sd->step != (long long)step) {
        int rc = tr_decode_average(r, r->size, decode_shared, sd, sd->avg, sd->avg, &sd->loss,
                                   &sd->decode_wall);
        if (rc)
            return rc;
        sd->step = (long long)step;
    }
    r->upd = sd->avg; /* applied once for all ranks (trainer.c, shared parameters) */
    st->loss = sd->loss;
    st->decode = sim_codec_seconds(&r->cfg, sd->decode_wall, 4.0 * (double)r->m->nparams * r->size);
    SIM_EXECUTE(st->decode);
    return EXIT_OK;
}

const sim_exchange_ops ex_allgather_ops = {
    .id = SIM_EX_ALLGATHER,
    .name = "allgather",
    .flags = EX_RECV_ALL | EX_SAME_UPDATE,
    .overlap = &ex_allgather_overlap_ops,
    .setup = ex_allgather_shared_setup,
    .step = allgather_step,
    .teardown = ex_allgather_teardown,
};
