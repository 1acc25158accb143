/* ex_ps.c — parameter server on rank 0 (--exchange ps, SIM_EXF_SERVER_RANK0): the workers
 * (ranks 1..) send their encoded gradients (MPI_Gatherv, sliced beyond MPI's int counts),
 * the server decodes and averages them and broadcasts the fp32 update (+ the mean loss).
 */
#include <stdlib.h>
#include <string.h>

#include "exchange.h"

typedef struct ps_state {
    size_t len; /* server, fixed-size formats: every worker's message length (0 until known) */
} ps_state;

static int ps_setup(run *r) {
    ps_state *ps = calloc(1, sizeof *ps);
    if (tr_agree(!ps)) {
        free(ps);
        return tr_fail_all(r, EXIT_MEMORY, "memory", "cannot allocate the parameter server state");
    }
    r->exs = ps;
    return EXIT_OK;
}

static void ps_teardown(run *r) {
    free(r->exs);
    r->exs = NULL;
}

static int ps_step(run *r, double loss, uint32_t step, double compute, step_times *st) {
    (void)compute;
    ps_state *ps = r->exs;
    size_t np = r->m->nparams;
    size_t len = 0;
    if (r->is_worker && tr_encode_mine(r, loss, step, &len, st))
        return EXIT_FAIL;
    double t0 = MPI_Wtime();
    int mylen = (int)len;
    if (r->codec->fixed_size) {
        /* every worker's message has one length; the server learns it once by encoding a
         * zero gradient (not charged: it is a constant of the format) */
        if (!r->is_worker && ps->len == 0) {
            uint64_t b;
            qsgd_err qe;
            memset(r->grad, 0, np * sizeof(float));
            grad_codec_encode(r->codec, r->grad, 0, 0, 0, 0, r->msg, r->codec->max_bytes, &ps->len,
                              &b, &qe);
        }
        size_t ml = r->is_worker ? len : ps->len;
        if (!r->is_worker)
            mylen = 0;
        for (int w = 0; w < r->size; w++)
            r->lens[w] = w == 0 ? 0 : (int)ml;
    } else {
        MPI_Gather(&mylen, 1, MPI_INT, r->lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
    }
    if (!r->codec->fixed_size && r->rank != 0) /* only the root learnt the lengths */
        for (int w = 0; w < r->size; w++)
            r->lens[w] = w == r->rank ? mylen : 0;
    tr_gather_big(r, 0);
    if (r->rank == 0 && r->npieces == 1)
        for (int w = 0, off = 0; w < r->size; w++) {
            r->displs[w] = off;
            off += r->lens[w];
        }
    double tc = MPI_Wtime() - t0;
    if (r->rank == 0) {
        int rc = tr_decode_all(r, 1, r->nworkers, st);
        if (rc)
            return rc; /* a broken message is a bug: the run stops on MPI_Abort */
        r->grad[np] = (float)st->loss;
    }
    t0 = MPI_Wtime();
    MPI_Bcast(r->grad, (int)(np + 1), MPI_FLOAT, 0, MPI_COMM_WORLD);
    st->comm = tc + (MPI_Wtime() - t0);
    st->loss = (double)r->grad[np];
    if (r->rank == 0)
        st->bits = 32ull * (np + 1);
    return EXIT_OK;
}

const sim_exchange_ops ex_ps_ops = {
    .id = SIM_EX_PS,
    .name = "ps",
    .flags = EX_RECV_ROOT | EX_SAME_UPDATE, /* the server's average, broadcast bit for bit */
    .overlap = NULL,
    .setup = ps_setup,
    .step = ps_step,
    .teardown = ps_teardown,
};
