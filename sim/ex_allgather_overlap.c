/* ex_allgather_overlap.c — `--exchange allgather --overlap`: QSGD's Algorithm 1 with the
 * paper's double buffering: one all-gather per tensor (MPI_Iallgather, fixed-size formats),
 * posted as soon as backprop has produced that tensor's gradient. The blocking variant and
 * SMPI's shared decode are ex_allgather.c.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ex_allgather.h"

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
    return ex_allgather_shared_setup(r);
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
    grad_codec *c = r->codec;
    (void)loss;
    for (size_t t = 0; t < c->ntensors; t++) {
        qsgd_err qe = {0};
        const uint8_t *m = om->sd ? om->sd->msgs[w] + om->soffs[t]
                                  : r->recv + om->roffs[t] + (size_t)w * (size_t)r->lens[t];
        uint64_t nb = quant_max_bits(c->q[t]);
        if (quant_decode(c->q[t], m, (size_t)r->lens[t], nb, c->tmp, &qe) != QSGD_OK) {
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
    grad_codec *c = r->codec;
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
        qsgd_err qe = {0};
        size_t cap = quant_max_bytes(c->q[t]);
        if (quant_encode(c->q[t], r->grad + c->offset[t], &ctx, r->msg + soff, cap, &nb, &qe)) {
            if (!grad_codec_overflowed(c->q[t], r->grad + c->offset[t]))
                return tr_fail_rank(r, tr_quant_exit(qe.code),
                                    "encode at iteration %llu: tensor %zu: %s",
                                    (unsigned long long)step + 1, t, qe.msg);
            /* the tensor's message (fixed length) becomes the overflow marker */
            if (!noted++)
                tr_overflow_note(r, step, qe.msg);
            nb = quant_max_bits(c->q[t]);
            memset(r->msg + soff, 0xFF, (size_t)((nb + 7) / 8));
        }
        double ew = sim_wall() - w0;
        r->codec_wall += ew;
        double e = sim_codec_seconds(&r->cfg, ew, 4.0 * (double)c->numel[t]);
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
        st->loss = -INFINITY; /* as the marker of the other exchanges (GRAD_CODEC_EOVERFLOW) */
    if (sd)
        r->upd = acc; /* the shared average, applied once for all ranks (trainer.c) */
    else
        memcpy(r->grad, acc, np * sizeof(float));
    st->decode = sim_codec_seconds(&r->cfg, wall, 4.0 * (double)np * r->size);
    SIM_EXECUTE(st->decode);
    return EXIT_OK;
}

const sim_exchange_ops ex_allgather_overlap_ops = {
    .id = SIM_EX_ALLGATHER,
    .name = "allgather --overlap",
    .flags = EX_CHARGES_COMPUTE | EX_RECV_ALL | EX_SAME_UPDATE,
    .overlap = NULL,
    .setup = overlap_setup,
    .step = overlap_step,
    .teardown = ex_allgather_teardown,
};
