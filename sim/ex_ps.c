/* ex_ps.c — parameter server on rank 0 (--exchange ps, SIM_EXF_SERVER_RANK0): the workers
 * (ranks 1..) send their encoded gradients (MPI_Gatherv, sliced beyond MPI's int counts),
 * the server decodes and averages them and broadcasts the fp32 update (+ the mean loss).
 *
 * Under SMPI all ranks live in one address space, and the update every worker receives is
 * the server's average bit for bit (EX_SAME_UPDATE): the shared decode (default;
 * --no-shared-decode turns it off) moves no payload. The server receives the gradients
 * into one buffer of SMPI shared memory and decodes them from the workers' own message
 * buffers; the workers receive the broadcast into one buffer of SMPI shared memory, never
 * read, and the trainer applies the server's average (r->upd). The network still carries
 * every byte in simulation; SMPI skips the copies into shared memory (K copies of the
 * gradient a step, which made this exchange 1.3-1.5x its bare-SMPI peer at K = 256-1024).
 */
#include <stdlib.h>
#include <string.h>

#include "exchange.h"

/* SMPI's shared decode: rank 0's, one for all ranks (ps_setup, before the clock starts). */
typedef struct ps_shared {
    const uint8_t **msgs; /* [size] every rank's message buffer (real data) */
    const float *avg;     /* [nparams + 1] the server's r->grad: the average and the loss */
    uint8_t *recv;        /* [recv_cap] SMPI shared memory: the server's receive buffer */
    float *bcast;         /* [nparams + 1] SMPI shared memory: the workers' receive buffer */
} ps_shared;

typedef struct ps_state {
    size_t len;    /* server, fixed-size formats: every worker's message length (0 until known) */
    ps_shared *sh; /* SMPI's shared decode (NULL: none) */
} ps_state;

#ifdef SMPI_H
/* Allocate the shared decode state on rank 0 and give its address to every rank; each rank
 * registers its message buffer. EXIT_OK or a failure every rank agrees on. */
static int ps_shared_setup(run *r, ps_state *ps) {
    ps_shared *sh = NULL;
    int bad = 0;
    if (r->rank == 0) {
        sh = calloc(1, sizeof *sh);
        if (sh) {
            sh->msgs = calloc((size_t)r->size, sizeof *sh->msgs);
            sh->recv = SMPI_SHARED_MALLOC(r->recv_cap);
            sh->bcast = SMPI_SHARED_MALLOC((r->m->nparams + 1) * sizeof(float));
            sh->avg = r->grad;
        }
        bad = !sh || !sh->msgs || !sh->recv || !sh->bcast;
    }
    if (tr_agree(bad))
        return tr_fail_all(r, EXIT_MEMORY, "memory", "cannot allocate the shared decode state");
    MPI_Bcast(&sh, (int)sizeof sh, MPI_BYTE, 0, MPI_COMM_WORLD);
    ps->sh = sh;
    sh->msgs[r->rank] = r->msg;
    if (r->rank == 0)
        r->recv = sh->recv; /* setup_model allocated none (ex_shared_recv) */
    MPI_Barrier(MPI_COMM_WORLD);
    return EXIT_OK;
}
#endif

static int ps_setup(run *r) {
    ps_state *ps = calloc(1, sizeof *ps);
    if (tr_agree(!ps)) {
        free(ps);
        return tr_fail_all(r, EXIT_MEMORY, "memory", "cannot allocate the parameter server state");
    }
    r->exs = ps;
#ifdef SMPI_H
    if (ex_shared_recv(r))
        return ps_shared_setup(r, ps);
#endif
    return EXIT_OK;
}

static void ps_teardown(run *r) {
    ps_state *ps = r->exs;
#ifdef SMPI_H
    if (ex_shared_recv(r)) { /* the same on every rank */
        ps_shared *sh = ps ? ps->sh : NULL;
        if (sh && r->rank == 0)
            r->recv = NULL;          /* sh->recv, freed below */
        MPI_Barrier(MPI_COMM_WORLD); /* nobody reads sh after this */
        if (sh && r->rank == 0) {
            if (sh->recv)
                SMPI_SHARED_FREE(sh->recv);
            if (sh->bcast)
                SMPI_SHARED_FREE(sh->bcast);
            free(sh->msgs);
            free(sh);
        }
    }
#endif
    free(ps);
    r->exs = NULL;
}

/* dec for the shared decode: worker w's message in its sender's own buffer (rank w + 1) */
static int decode_shared(run *r, void *ctx, int w, float *acc, double *loss) {
    const ps_shared *sh = ctx;
    return tr_decode_msg(r, w, sh->msgs[w + 1], (size_t)r->lens[w + 1], acc, loss);
}

static int ps_step(run *r, double loss, uint32_t step, double compute, step_times *st) {
    (void)compute;
    ps_state *ps = r->exs;
    ps_shared *sh = ps->sh;
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
        /* shared decode: the workers' own buffers hold this step's messages (they wait in
           the broadcast below, which needs this decode first) */
        int rc = sh ? tr_decode_charged(r, r->nworkers, decode_shared, sh, st)
                    : tr_decode_all(r, 1, r->nworkers, st);
        if (rc)
            return rc; /* a broken message is a bug: the run stops on MPI_Abort */
        r->grad[np] = (float)st->loss;
    }
    t0 = MPI_Wtime();
    /* shared decode: the workers receive into shared memory and apply the server's average */
    float *into = sh && r->rank != 0 ? sh->bcast : r->grad;
    MPI_Bcast(into, (int)(np + 1), MPI_FLOAT, 0, MPI_COMM_WORLD);
    st->comm = tc + (MPI_Wtime() - t0);
    const float *upd = sh ? sh->avg : r->grad;
    if (sh && r->rank != 0)
        r->upd = upd; /* read before this rank's next MPI call: the server cannot have
                         decoded the next step yet */
    st->loss = (double)upd[np];
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
