/* ex_allreduce_powersgd.c — PowerSGD as the paper runs it (Vogels, Karimireddy & Jaggi,
 * NeurIPS 2019, Algorithms 1 and 2) on --exchange allreduce --quant powersgd:rank=R (any
 * quantizer type with allreduce = QUANT_AR_POWER; ex_allreduce.c hands its hooks over here).
 *
 * Per step, every worker w and every matrix tensor (rows, cols > 1; its codec quantizer is a
 * powersgd of effective rank r = min(R, rows, cols)), with the phases of quant_powersgd.h on
 * that quantizer, which holds the worker's state (residual e, warm-start Q):
 *   M_w = g_w + e_w;  P_w = M_w Q                    (Q: the same on every worker)
 *   P = (1/K) sum_w P_w                              (all-reduce 1)
 *   P = orth(P)                                      (the quantizer's Gram-Schmidt: same bits)
 *   Q'_w = M_w^T P;  Q' = (1/K) sum_w Q'_w           (all-reduce 2)
 *   C = P Q'^T  (= (1/K) sum_w P P^T M_w, the same bits on every worker)
 *   e_w = M_w - C  (feedback=0: e stays 0);  Q = Q'
 * and the update is C. Vectors (biases; powersgd sends them uncompressed) and the tensors the
 * codec leaves fp32 (--quant-min-numel) ride in all-reduce 1 beside the P's, summed in fp32
 * and averaged (x 1/K, as ex_allreduce.c's fp32 ring), with the loss as one more value:
 *   all-reduce 1: [P of every matrix, in tensor order][every other tensor][loss]
 *   all-reduce 2: [Q'^T of every matrix, in tensor order]        (r x cols each)
 * Both are qsgdsim's fixed-order ring (ring_allreduce, ex_ring.h), so every worker ends with
 * the same bits on any MPI (EX_SAME_UPDATE holds) and with K = 1 the update is the
 * single-worker quantizer's C(M) bit for bit. bits_sent: the exact ring traffic of this rank,
 * 32 x the floats ring_allreduce sent, 2 (K-1)/K x 32 (r (rows + cols) per matrix + the rest
 * + 1) up to the chunks' rounding. Codec time, as the all-gather charges a message: encode =
 * the phases before each all-reduce, 4 nparams bytes in all (half each), decode = C and e,
 * 4 nparams bytes (one product, not K decodes).
 *
 * Divergence: a worker whose M is not finite sends zeros and the loss -inf (the codec's
 * overflow marker, GRAD_CODEC_EOVERFLOW's convention); a Q' whose product could overflow
 * (quant_powersgd_check, the same on every worker) likewise: every worker then leaves the
 * state untouched and reports the loss -inf, and the trainer stops as diverged.
 *
 * QSGDSIM_CHECK_SAME=1 (tests): after every step, hashes of this rank's parameters (before
 * the step's update) and of the update are compared across ranks (one extra MPI_Allreduce
 * each step, in the times); a difference fails the run, rank 0 prints a line per step.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ex_allreduce_powersgd.h"
#include "ex_ring.h"
#include "exchange.h"
#include "quant_powersgd.h"

typedef struct psgd_ar {
    size_t n1, n2;  /* floats of all-reduce 1 (P's + the rest + loss) and 2 (Q'^T's) */
    float *b1, *b2; /* [n1], [n2] */
    float *tmp;     /* ring scratch: the largest chunk */
    int check;      /* QSGDSIM_CHECK_SAME */
} psgd_ar;

/* The power-iteration rank of tensor t (0: it rides in fp32). */
static size_t tensor_rank(const grad_codec *c, size_t t) {
    const quant *q = c->q[t];
    return q->type->allreduce == QUANT_AR_POWER ? quant_powersgd_rank(q) : 0;
}

int ex_powersgd_wanted(const run *r) {
    const grad_codec *c = r->codec;
    if (!c || r->cfg.allreduce_mpi) /* refused by the settings (sim_settings.c) */
        return 0;
    for (size_t t = 0; t < c->ntensors; t++)
        if (c->q[t]->type->allreduce == QUANT_AR_POWER)
            return 1;
    return 0;
}

void ex_powersgd_teardown(run *r) {
    psgd_ar *x = r->exs;
    if (!x)
        return;
    free(x->b1);
    free(x->b2);
    free(x->tmp);
    free(x);
    r->exs = NULL;
}

int ex_powersgd_setup(run *r) {
    const grad_codec *c = r->codec;
    psgd_ar *x = calloc(1, sizeof *x);
    r->exs = x;
    if (tr_agree(!x))
        return tr_fail_all(r, EXIT_MEMORY, "memory", "cannot allocate PowerSGD's all-reduce");
    size_t np = r->m->nparams, at = 0;
    x->n1 = 1; /* the loss */
    for (size_t t = 0; t < c->ntensors; t++) {
        if (c->offset[t] != at)
            return tr_fail_all(r, EXIT_FAIL, "--exchange allreduce",
                               "the model's tensors do not tile its parameter vector");
        at += c->numel[t];
        size_t rk = tensor_rank(c, t);
        x->n1 += rk ? c->q[t]->rows * rk : c->numel[t];
        x->n2 += rk * c->q[t]->cols;
    }
    if (at != np)
        return tr_fail_all(r, EXIT_FAIL, "--exchange allreduce",
                           "the model's tensors do not tile its parameter vector");
    if (x->n1 > 2147483647u || x->n2 > 2147483647u)
        return tr_fail_all(r, EXIT_USAGE, "--exchange allreduce",
                           "PowerSGD's factors exceed MPI's int counts");
    size_t big = x->n1 > x->n2 ? x->n1 : x->n2;
    x->b1 = malloc(x->n1 * sizeof(float));
    x->b2 = malloc((x->n2 ? x->n2 : 1) * sizeof(float));
    x->tmp = malloc((big / (size_t)r->size + 1) * sizeof(float));
    if (tr_agree(!x->b1 || !x->b2 || !x->tmp))
        return tr_fail_all(r, EXIT_MEMORY, "memory", "cannot allocate PowerSGD's all-reduce");
    const char *e = getenv("QSGDSIM_CHECK_SAME");
    x->check = e && e[0] == '1';
    return EXIT_OK;
}

/* Charge a codec phase of `wall` real seconds over `bytes` (sim_codec_seconds). */
static double charge(run *r, double wall, double bytes) {
    r->codec_wall += wall;
    double s = sim_codec_seconds(&r->cfg, wall, bytes);
    SIM_EXECUTE(s);
    return s;
}

static uint64_t fnv(uint64_t h, const void *p, size_t bytes) {
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* QSGDSIM_CHECK_SAME: this rank's parameters and update against every rank's. */
static int check_same(run *r, uint32_t step) {
    size_t np = r->m->nparams;
    uint64_t ht = fnv(14695981039346656037ull, r->theta, np * sizeof(float));
    uint64_t hu = fnv(14695981039346656037ull, r->grad, np * sizeof(float));
    uint64_t mine[4] = {ht, ~ht, hu, ~hu}, all[4];
    MPI_Allreduce(mine, all, 4, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (all[0] != ht || all[1] != ~ht || all[2] != hu || all[3] != ~hu)
        return tr_fail_rank(
            r, EXIT_FAIL, "allreduce powersgd: iteration %llu: the ranks' %s differ",
            (unsigned long long)step + 1, all[0] != ht || all[1] != ~ht ? "parameters" : "updates");
    if (r->rank == 0)
        fprintf(stderr,
                "allreduce powersgd: iteration %llu: parameters %016llx and update %016llx "
                "identical on all %d ranks\n",
                (unsigned long long)step + 1, (unsigned long long)ht, (unsigned long long)hu,
                r->size);
    return EXIT_OK;
}

int ex_powersgd_step(run *r, double loss, uint32_t step, step_times *st) {
    psgd_ar *x = r->exs;
    const grad_codec *c = r->codec;
    const int K = r->size;
    const size_t np = r->m->nparams;
    const float inv = 1.0f / (float)K;
    double t0 = MPI_Wtime();
    uint64_t sent = 0;
    qsgd_err qe = {0};
    int bad = 0; /* this rank's M is not finite */
    /* phase 1: P_w = M_w Q of every matrix; the rest and the loss copied beside */
    double w0 = sim_wall();
    size_t o1 = 0;
    for (size_t t = 0; t < c->ntensors; t++) {
        size_t rk = tensor_rank(c, t);
        float *g = r->grad + c->offset[t];
        if (!rk) {
            memcpy(x->b1 + o1, g, c->numel[t] * sizeof(float));
            o1 += c->numel[t];
            continue;
        }
        quant *q = c->q[t];
        quant_ctx ctx = {r->cfg.seed, (uint32_t)r->worker, step, (uint32_t)t};
        size_t len = q->rows * rk;
        if (!bad && quant_powersgd_project(q, g, &ctx, &qe) != QSGD_OK) {
            bad = 1;
            tr_overflow_note(r, step, qe.msg);
        }
        if (bad)
            memset(x->b1 + o1, 0, len * sizeof(float));
        else
            memcpy(x->b1 + o1, quant_powersgd_p(q), len * sizeof(float));
        o1 += len;
    }
    x->b1[o1] = bad ? -INFINITY : (float)loss;
    st->encode = charge(r, sim_wall() - w0, 2.0 * (double)np);
    /* all-reduce 1 */
    sent += ring_allreduce(x->b1, x->n1, x->tmp, r->rank, K);
    for (size_t i = 0; i < x->n1; i++)
        x->b1[i] *= inv;
    st->loss = (double)x->b1[x->n1 - 1];
    st->decode = 0;
    int diverged = st->loss == -INFINITY; /* the same on every rank */
    if (!diverged) {                      /* phase 2: orth(P), Q'_w = M_w^T P */
        w0 = sim_wall();
        size_t a1 = 0, a2 = 0;
        for (size_t t = 0; t < c->ntensors; t++) {
            size_t rk = tensor_rank(c, t);
            if (!rk) {
                a1 += c->numel[t];
                continue;
            }
            quant *q = c->q[t];
            memcpy(quant_powersgd_p(q), x->b1 + a1, q->rows * rk * sizeof(float));
            a1 += q->rows * rk;
            quant_powersgd_orth_back(q);
            memcpy(x->b2 + a2, quant_powersgd_qn(q), rk * q->cols * sizeof(float));
            a2 += rk * q->cols;
        }
        st->encode += charge(r, sim_wall() - w0, 2.0 * (double)np);
        /* all-reduce 2 */
        if (x->n2)
            sent += ring_allreduce(x->b2, x->n2, x->tmp, r->rank, K);
        for (size_t i = 0; i < x->n2; i++)
            x->b2[i] *= inv;
        /* decode: Q' checked on every matrix first (the state is written only when all
         * pass, on every rank alike), then C = P Q'^T, e = M - C, Q = Q' */
        w0 = sim_wall();
        a2 = 0;
        for (size_t t = 0; t < c->ntensors && !diverged; t++) {
            size_t rk = tensor_rank(c, t);
            if (!rk)
                continue;
            quant *q = c->q[t];
            memcpy(quant_powersgd_qn(q), x->b2 + a2, rk * q->cols * sizeof(float));
            a2 += rk * q->cols;
            if (quant_powersgd_check(q, &qe) != QSGD_OK) {
                diverged = 1;
                if (r->rank == 0)
                    tr_overflow_note(r, step, qe.msg);
            }
        }
        a1 = 0;
        for (size_t t = 0; t < c->ntensors && !diverged; t++) {
            size_t rk = tensor_rank(c, t);
            float *g = r->grad + c->offset[t];
            if (!rk) {
                memcpy(g, x->b1 + a1, c->numel[t] * sizeof(float));
                a1 += c->numel[t];
                continue;
            }
            a1 += c->q[t]->rows * rk;
            quant_powersgd_commit(c->q[t], g);
        }
        st->decode = charge(r, sim_wall() - w0, 4.0 * (double)np);
        if (diverged)
            st->loss = -INFINITY;
    }
    st->bits = 32ull * sent;
    st->comm = MPI_Wtime() - t0 - st->encode - st->decode;
    if (x->check && !diverged && check_same(r, step))
        return EXIT_FAIL;
    return EXIT_OK;
}
