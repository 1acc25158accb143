/* ex_stripes.c — 1-bit SGD's CNTK aggregation (--exchange stripes): rank j owns column stripe
 * j of every tensor; stage 1 all-to-all of the stripes, quantized (MPI_Alltoallv); the owners
 * average and re-quantize theirs with a second residual; stage 2 all-gather of the owners'
 * stripes. The data side is sim_stripes (sim_stripes.c); this file is the MPI side.
 */
#include <stdlib.h>

#include "exchange.h"

typedef struct stripes_state {
    sim_stripes *s;
    uint8_t *smsg, *srecv, *smsg2, *srecv2; /* stage 1 out/in, stage 2 out/in */
    int *rlens, *rdispls;                   /* [size] stage 1 receive counts and offsets */
} stripes_state;

static void stripes_teardown(run *r) {
    stripes_state *x = r->exs;
    if (!x)
        return;
    sim_stripes_free(x->s);
    free(x->smsg);
    free(x->srecv);
    free(x->smsg2);
    free(x->srecv2);
    free(x->rlens);
    free(x->rdispls);
    free(x);
    r->exs = NULL;
}

static int stripes_setup(run *r) {
    qsgd_err qe = {0};
    int rc = 0;
    stripes_state *x = calloc(1, sizeof *x);
    r->exs = x;
    if (!x)
        rc = tr_fail_rank(r, EXIT_MEMORY, "stripes: out of memory");
    else if (!(x->s = sim_stripes_alloc(r->m, r->cfg.quant, r->cfg.quant_min_numel, r->size,
                                        r->rank, &qe)))
        rc = tr_fail_rank(r, qe.code == QSGD_ENOMEM ? EXIT_MEMORY : EXIT_USAGE,
                          "quantizer (stripes) '%s': %s", r->cfg.quant, qe.msg);
    if ((rc = tr_agree_code(rc)))
        return rc;
    size_t m2 = x->s->max_msg2;
    x->smsg = malloc(x->s->max_msg);
    x->srecv = malloc(m2 * (size_t)r->size);
    x->smsg2 = malloc(m2);
    x->srecv2 = malloc(m2 * (size_t)r->size);
    x->rlens = calloc((size_t)r->size, sizeof(int));
    x->rdispls = calloc((size_t)r->size, sizeof(int));
    if (m2 * (size_t)r->size > (size_t)2147483647 || x->s->max_msg > (size_t)2147483647)
        return tr_fail_all(r, EXIT_USAGE, "--exchange stripes",
                           "the messages exceed MPI's int byte counts (2 GiB): use fewer ranks, "
                           "a smaller model or --exchange allgather");
    int bad = !x->smsg || !x->srecv || !x->smsg2 || !x->srecv2 || !x->rlens || !x->rdispls;
    if (tr_agree(bad))
        return tr_fail_all(r, EXIT_MEMORY, "memory", "cannot allocate the stripes buffers");
    return EXIT_OK;
}

static int stripes_step(run *r, double loss, uint32_t step, double compute, step_times *st) {
    (void)compute;
    stripes_state *x = r->exs;
    sim_stripes *s = x->s;
    qsgd_err qe = {0};
    uint64_t b1, b2;
    size_t len2;
    double w0 = sim_wall();
    int rc = sim_stripes_encode(s, r->grad, loss, r->cfg.seed, step, x->smsg, s->max_msg, r->lens,
                                r->displs, &b1, &qe);
    if (rc == GRAD_CODEC_EOVERFLOW) /* markers go out instead: every rank stops as diverged */
        tr_overflow_note(r, step, qe.msg);
    else if (rc)
        goto fail;
    double enc = sim_wall() - w0;
    double t0 = MPI_Wtime();
    MPI_Alltoall(r->lens, 1, MPI_INT, x->rlens, 1, MPI_INT, MPI_COMM_WORLD);
    for (int w = 0, off = 0; w < r->size; w++) {
        x->rdispls[w] = off;
        off += x->rlens[w];
    }
    MPI_Alltoallv(x->smsg, r->lens, r->displs, MPI_BYTE, x->srecv, x->rlens, x->rdispls, MPI_BYTE,
                  MPI_COMM_WORLD);
    double comm = MPI_Wtime() - t0;
    w0 = sim_wall();
    rc = sim_stripes_reduce(s, x->srecv, x->rlens, x->rdispls, r->cfg.seed, step, x->smsg2,
                            s->max_msg2, &len2, &b2, &qe);
    if (rc == GRAD_CODEC_EOVERFLOW)
        tr_overflow_note(r, step, qe.msg);
    else if (rc)
        goto fail;
    double red = sim_wall() - w0;
    r->codec_wall += enc + red;
    double bytes = 4.0 * (double)r->m->nparams;
    st->encode = sim_codec_seconds(&r->cfg, enc, bytes) +
                 sim_codec_seconds(&r->cfg, red, 2 * bytes / r->size);
    SIM_EXECUTE(st->encode);
    t0 = MPI_Wtime();
    int mylen = (int)len2;
    MPI_Allgather(&mylen, 1, MPI_INT, r->lens, 1, MPI_INT, MPI_COMM_WORLD);
    for (int w = 0, off = 0; w < r->size; w++) {
        r->displs[w] = off;
        off += r->lens[w];
    }
    MPI_Allgatherv(x->smsg2, mylen, MPI_BYTE, x->srecv2, r->lens, r->displs, MPI_BYTE,
                   MPI_COMM_WORLD);
    st->comm = comm + (MPI_Wtime() - t0);
    w0 = sim_wall();
    if (sim_stripes_assemble(s, x->srecv2, r->lens, r->displs, r->grad, &st->loss, &qe) != QSGD_OK)
        goto fail;
    double dec = sim_wall() - w0;
    r->codec_wall += dec;
    st->decode = sim_codec_seconds(&r->cfg, dec, bytes);
    SIM_EXECUTE(st->decode);
    st->bits = b1 + b2 * (uint64_t)(r->size - 1);
    return EXIT_OK;
fail:
    return tr_fail_rank(r, tr_quant_exit(qe.code), "stripes at iteration %llu: %s (bit %llu)",
                        (unsigned long long)step + 1, qe.msg, (unsigned long long)qe.bit);
}

const sim_exchange_ops ex_stripes_ops = {
    .id = SIM_EX_STRIPES,
    .name = "stripes",
    .flags = 0,
    .overlap = NULL,
    .setup = stripes_setup,
    .step = stripes_step,
    .teardown = stripes_teardown,
};
