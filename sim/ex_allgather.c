/* ex_allgather.c — QSGD's Algorithm 1 (--exchange allgather): every worker's encoded message
 * reaches every worker (MPI_Allgatherv, sliced beyond MPI's int counts), each decodes and
 * averages all; with --overlap, per-tensor all-gathers posted during backprop.
 *
 * Under SMPI all ranks live in one address space and would compute the same average: the
 * shared decode (default; --no-shared-decode turns it off) decodes each step once for all.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exchange.h"

/* SMPI only: one decode per step for all ranks (r->exs; NULL otherwise). */
typedef struct shared_decode {
    long long step;       /* step whose average is in avg (-1: none yet) */
    double loss;          /* mean worker loss of that step */
    double decode_wall;   /* real seconds the one decode took */
    float *avg;           /* [nparams] */
    const uint8_t **msgs; /* [ranks] each rank's message buffer (real data) */
    int overflow;         /* --overlap: a message of that step was an overflow marker */
} shared_decode;

/* SMPI: rank 0 allocates the shared decode state and broadcasts its address (setup, before
 * the clock starts); each rank registers its message buffer, and the receive buffers of the
 * all-gather become SMPI shared memory (the network still carries every byte in simulation;
 * SMPI skips the payload copies). The decode then accumulates into the shared average: no
 * accumulator per rank (one gradient-sized buffer less per virtual rank). */
static int setup_shared_decode(run *r) {
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
        }
        bad = !sd || !sd->avg || !sd->msgs;
    }
    if (tr_agree(bad))
        return tr_fail_all(r, EXIT_MEMORY, "memory", "cannot allocate the shared decode state");
    MPI_Bcast(&sd, (int)sizeof sd, MPI_BYTE, 0, MPI_COMM_WORLD);
    r->exs = sd;
    r->acc_unneeded = 1;
    sd->msgs[r->rank] = r->msg;
    free(r->recv);
    r->recv = SMPI_SHARED_MALLOC(r->recv_cap);
    MPI_Barrier(MPI_COMM_WORLD);
#else
    (void)r;
#endif
    return EXIT_OK;
}

static void allgather_teardown(run *r) {
#ifdef SMPI_H
    shared_decode *sd = r->exs;
    if (sd) {
        SMPI_SHARED_FREE(r->recv);
        r->recv = NULL;
    }
    MPI_Barrier(MPI_COMM_WORLD); /* nobody reads sd after this */
    if (r->rank == 0 && sd) {
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
    quant_err qe = {0};
    if (sim_codec_decode_add(r->codec, sd->msgs[w], (size_t)r->lens[w], acc, loss, &qe) != QUANT_OK)
        return tr_fail_rank(r, tr_quant_exit(qe.code), "message of worker %d: %s (bit %llu)", w,
                            qe.msg, (unsigned long long)qe.bit);
    return EXIT_OK;
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
     * collective, and SMPI switches ranks only inside MPI calls), the others copy its result;
     * every rank is charged the measured decode time. */
    if (sd->step != (long long)step) {
        int rc = tr_decode_average(r, r->size, decode_shared, sd, sd->avg, sd->avg, &sd->loss,
                                   &sd->decode_wall);
        if (rc)
            return rc;
        sd->step = (long long)step;
    }
    memcpy(r->grad, sd->avg, r->m->nparams * sizeof(float));
    st->loss = sd->loss;
    st->decode = sim_codec_seconds(&r->cfg, sd->decode_wall, 4.0 * (double)r->m->nparams * r->size);
    SIM_EXECUTE(st->decode);
    return EXIT_OK;
}

/* ---- --overlap ---------------------------------------------------------------------------- */
static int overlap_setup(run *r) {
    /* one all-gather per tensor, unsliced: its K copies must fit MPI's int counts (SMPI and MPI
     * implementations compute the receive offsets in int) */
    for (size_t t = 0; t < r->codec->ntensors; t++) {
        size_t all = quant_max_bytes(r->codec->q[t]) * (size_t)r->size;
        if (all > (size_t)INT_MAX) {
            char why[200];
            snprintf(why, sizeof why,
                     "tensor %s: its all-gather on %d ranks is %.2f GiB, past MPI's int byte "
                     "counts (2 GiB); run without --overlap (its all-gathers are sliced)",
                     r->m->tensors[t].name, r->size, (double)all / 1073741824.0);
            return tr_fail_all(r, EXIT_USAGE, "--overlap", why);
        }
    }
    if (!r->codec->fixed_size)
        return tr_fail_all(r, EXIT_USAGE, "--overlap",
                           "needs a fixed-size format (fp32, qsgd format=dense, onebit): Elias "
                           "messages vary in length");
    if ((size_t)r->size > r->m->nparams)
        return tr_fail_all(r, EXIT_USAGE, "--overlap", "more ranks than parameters");
    return setup_shared_decode(r);
}

/* --overlap: a tensor message of all ones bytes marks an overflow (no quantizer that can
 * refuse a value writes one: its first scale would be a NaN). */
static int all_ones(const uint8_t *m, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (m[i] != 0xFF)
            return 0;
    return len > 0;
}

/* Where sender w's tensor messages are, and whether one was an overflow marker. */
typedef struct overlap_msgs {
    const size_t *soffs, *roffs;
    const shared_decode *sd;
    int overflow;
} overlap_msgs;

/* Sender w's tensors, rank order within each tensor as the blocking path; its loss travelled
 * apart (*loss stays 0). */
static int decode_tensors(run *r, void *ctx, int w, float *acc, double *loss) {
    overlap_msgs *om = ctx;
    sim_codec *c = r->codec;
    (void)loss;
    for (size_t t = 0; t < c->ntensors; t++) {
        quant_err qe = {0};
        const uint8_t *m = om->sd ? om->sd->msgs[w] + om->soffs[t]
                                  : r->recv + om->roffs[t] + (size_t)w * (size_t)r->lens[t];
        uint64_t nb = quant_max_bits(c->q[t]);
        if (quant_decode(c->q[t], m, (size_t)r->lens[t], nb, c->tmp, &qe) != QUANT_OK) {
            if (all_ones(m, (size_t)r->lens[t])) { /* worker w's gradient overflowed */
                om->overflow = 1;
                continue;
            }
            return tr_fail_rank(r, tr_quant_exit(qe.code), "message of worker %d, tensor %zu: %s",
                                w, t, qe.msg);
        }
        float *a = acc + c->offset[t];
        for (size_t i = 0; i < c->numel[t]; i++)
            a[i] += c->tmp[i];
    }
    return EXIT_OK;
}

/* Overlap (the paper's double buffering): the measured gradient time is charged as one
 * third forward, then the backward pass tensor by tensor, last tensor first, each share in
 * proportion to its size; as soon as a tensor's gradient is charged it is encoded and its
 * all-gather posted (MPI_Iallgather: fixed-size formats, so no lengths to exchange), and
 * the next tensor's backward runs while it is in flight. comm is the exposed wait. Each
 * tensor's message is at the same offset of every rank's send buffer (soffs) and its K
 * copies at roffs of the receive buffer (size_t: the whole may exceed 2 GiB; one tensor's
 * message may not). */
static int overlap_step(run *r, double loss, uint32_t step, double compute, step_times *st) {
    sim_codec *c = r->codec;
    size_t T = c->ntensors, np = r->m->nparams;
    MPI_Request req[T + 1];
    size_t soffs[T], roffs[T];
    /* the losses travel in their own 8-byte all-gather, posted first */
    double losses[r->size];
    MPI_Iallgather(&loss, 1, MPI_DOUBLE, losses, 1, MPI_DOUBLE, MPI_COMM_WORLD, &req[T]);
    SIM_EXECUTE(compute / 3);
    st->encode = 0;
    st->bits = 64;
    size_t soff = 0, roff = 0;
    int noted = 0; /* an overflow of this rank was reported */
    for (size_t k = 0; k < T; k++) {
        size_t t = T - 1 - k;
        SIM_EXECUTE(compute * 2.0 / 3.0 * (double)c->numel[t] / (double)np);
        double w0 = sim_wall();
        quant_ctx ctx = {r->cfg.seed, (uint32_t)r->worker, step, (uint32_t)t};
        uint64_t nb;
        quant_err qe = {0};
        size_t cap = quant_max_bytes(c->q[t]);
        if (quant_encode(c->q[t], r->grad + c->offset[t], &ctx, r->msg + soff, cap, &nb, &qe)) {
            if (!sim_encode_overflowed(c->q[t], r->grad + c->offset[t]))
                return tr_fail_rank(r, tr_quant_exit(qe.code),
                                    "encode at iteration %llu: tensor %zu: %s",
                                    (unsigned long long)step + 1, t, qe.msg);
            /* the tensor's message (fixed length) becomes the overflow marker */
            if (!noted++)
                tr_overflow_note(r, step, qe.msg);
            nb = quant_max_bits(c->q[t]);
            memset(r->msg + soff, 0xFF, (size_t)((nb + 7) / 8));
        }
        double e = sim_codec_seconds(&r->cfg, sim_wall() - w0, 4.0 * (double)c->numel[t]);
        st->encode += e;
        SIM_EXECUTE(e);
        int len = (int)((nb + 7) / 8);
        st->bits += nb;
        MPI_Iallgather(r->msg + soff, len, MPI_BYTE, r->recv + roff, len, MPI_BYTE, MPI_COMM_WORLD,
                       &req[t]);
        r->lens[t] = len; /* per-tensor length (the same on every rank) */
        soffs[t] = soff;
        roffs[t] = roff;
        soff += (size_t)len;
        roff += (size_t)len * (size_t)r->size;
    }
    double t0 = MPI_Wtime();
    MPI_Waitall((int)T + 1, req, MPI_STATUSES_IGNORE);
    st->comm = MPI_Wtime() - t0;
    double lsum = 0;
    for (int w = 0; w < r->size; w++)
        lsum += losses[w];
    st->loss = lsum / r->size;
    /* Under SMPI's shared decode the first rank out of the wait decodes from the senders' own
     * buffers (the same bytes every rank received, see allgather_step) and the others copy
     * its average. */
    shared_decode *sd = r->exs; /* NULL outside SMPI */
    float *acc = sd ? sd->avg : r->acc;
    double wall;
    int overflow = 0;
    if (sd && sd->step == (long long)step) {
        wall = sd->decode_wall; /* another rank decoded this step already */
        overflow = sd->overflow;
    } else {
        overlap_msgs om = {soffs, roffs, sd, 0};
        double unused;
        int rc = tr_decode_average(r, r->size, decode_tensors, &om, acc, acc, &unused, &wall);
        if (rc)
            return rc;
        overflow = om.overflow;
        if (sd) {
            sd->decode_wall = wall;
            sd->overflow = overflow;
            sd->step = (long long)step;
        }
    }
    if (overflow)
        st->loss = -INFINITY; /* as the marker of the other exchanges (SIM_EOVERFLOW) */
    memcpy(r->grad, acc, np * sizeof(float));
    st->decode = sim_codec_seconds(&r->cfg, wall, 4.0 * (double)np * r->size);
    SIM_EXECUTE(st->decode);
    return EXIT_OK;
}

const sim_exchange_ops ex_allgather_overlap_ops = {
    .id = SIM_EX_ALLGATHER,
    .name = "allgather --overlap",
    .flags = EX_CHARGES_COMPUTE,
    .overlap = NULL,
    .setup = overlap_setup,
    .step = overlap_step,
    .teardown = allgather_teardown,
};

const sim_exchange_ops ex_allgather_ops = {
    .id = SIM_EX_ALLGATHER,
    .name = "allgather",
    .flags = 0,
    .overlap = &ex_allgather_overlap_ops,
    .setup = setup_shared_decode,
    .step = allgather_step,
    .teardown = allgather_teardown,
};
