/* ex_allreduce.c — the ring all-reduce (--exchange allreduce).
 *
 * fp32 (a lossless quantizer): a dense fp32 sum, qsgdsim's own ring reduce-scatter +
 * all-gather (fixed summation order: the same bits on every MPI), or with --allreduce mpi
 * the MPI library's MPI_Allreduce. No state; r->acc is its scratch.
 *
 * Any other quantizer (stateless, averaging: the cross checks of sim_settings.c refuse the
 * others): compression inside the collective. The flat vector (gradient + loss) is cut into
 * K chunks as above; a chunk is the concatenation of its pieces, one per tensor it overlaps
 * (the loss is one more fp32 piece), each coded by a quantizer of its own built for that
 * piece as a 1 x len vector: the requested one where the codec quantizes the tensor, fp32
 * on the others. Reduce-scatter, K - 1 hops: a rank encodes its partial sum of one chunk and
 * sends it right; the receiver decodes it and adds its own gradient chunk, in fp32
 * (--allreduce-sum fp32: one rounding per hop, at the next encode) or in the wire format
 * (wire: its own chunk quantized first). The owner of a fully reduced chunk encodes it once
 * and the encoded chunks go around the ring (all-gather, K - 1 hops, forwarded unchanged);
 * every rank, the owner too, decodes all K, so all hold the same values. A message is the
 * pieces' payloads, byte-aligned, preceded for variable-length formats by each piece's bit
 * count (uint32, little-endian, counted in the bits). Randomness: worker = rank, tensor =
 * (hop * 2 + 0 encode | 1 wire rounding) * pieces + piece. With --allreduce-sum *-measure,
 * a second, exact fp32 ring of the same gradients gives ring_rel_err (rank 0).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ex_allreduce_powersgd.h"
#include "ex_ring.h"
#include "exchange.h"

/* Chunk c of K over n values: [lo, hi). */
static void chunk(size_t n, int K, int c, size_t *lo, size_t *hi) {
    *lo = n * (size_t)c / (size_t)K;
    *hi = n * (size_t)(c + 1) / (size_t)K;
}

/* Ring all-reduce (sum) of v[n] in place: reduce-scatter then all-gather, K-1 steps each.
 * The summation order is fixed by this code, so the bits do not depend on the MPI. Returns
 * the number of floats this rank sent (about 2 (K-1)/K n). */
uint64_t ring_allreduce(float *v, size_t n, float *tmp, int rank, int K) {
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

/* ---- the requantizing ring -------------------------------------------------------------- */
typedef struct piece {
    size_t lo, len; /* into the flat vector */
    quant *q;
    uint64_t max_bits; /* quant_max_bits(q), the exact size of a fixed-size message: read
                        * every hop, kept here beside lo/len (the quantizer objects are
                        * scattered over the heap: a cache miss per piece and hop) */
} piece;

/* The ring's plan: the same on every rank (it depends on K, the tensors and the spec only).
 * Under SMPI's shared decode one plan serves all ranks: rank 0 builds it, the others use it
 * (its quantizers are stateless and SMPI switches ranks only inside MPI calls, so no encode
 * or decode of one rank runs inside another's). One plan per rank was K + tensors quantizers
 * per rank, K^2 in all: 8.6 GB of the MLP's 1024-rank run. */
typedef struct ring_plan {
    piece *p;     /* every chunk's pieces, chunk after chunk */
    int *first;   /* [K + 1] chunk c's pieces are p[first[c] .. first[c + 1]) */
    int headers;  /* variable-length format: bit counts precede the payloads */
    size_t cap;   /* bytes of the largest chunk message */
    size_t chunk; /* values of the largest chunk */
} ring_plan;

typedef struct requant {
    int K;
    piece *p;        /* the plan's (plan->p), or this rank's own */
    int *first;      /* the plan's first */
    int headers;     /* the plan's headers */
    size_t cap;      /* the plan's cap */
    ring_plan *plan; /* this rank's plan, or rank 0's under SMPI's shared decode */
    int owner;       /* this rank frees the plan */
    uint8_t *send;   /* [cap] */
    uint8_t *all;    /* [K * cap] the final encoded chunks (all-gather) */
    int *len;        /* [K] their lengths */
    float *tmp;      /* [largest chunk] decoded / rounded values */
    float *exact;    /* [n] measure: the exact fp32 ring's vector (NULL: not measuring) */
    double enc, dec; /* simulated codec seconds of the current step */
    double pending;  /* codec seconds computed but not yet charged to the simulated clock */
    size_t n;        /* values in the ring (nparams + 1) */
} requant;

/* Where chunk ch of a ring of K chunks over n values starts (chunk ch is [cut(ch),
 * cut(ch + 1))): plan_build's cut and every chunk's bounds. With fewer values than ranks
 * some chunks are empty (no pieces): their bounds still come from here. */
static size_t ring_cut(size_t n, int ch, int K) {
    return n * (size_t)ch / (size_t)K;
}

static size_t chunk_lo(const requant *x, int ch) {
    return ring_cut(x->n, ch, x->K);
}

static size_t chunk_len(const requant *x, int ch) {
    return chunk_lo(x, ch + 1) - chunk_lo(x, ch);
}

/* The codec work between two messages is charged as one simulated computation: a hop's
 * decode and the next hop's encode (and the all-gather's K decodes) run back to back on the
 * rank, so one activity of their summed seconds stands for them, and the engine handles K + 1
 * activities per rank and step instead of 2K + 1 (issue 15: docs/scale.md). SimGrid may end
 * one activity of a + b seconds a rounding step apart from two of a and b: one study point's
 * simulated time moved in its 9th digit. */
static void charge(requant *x, double s) {
    x->pending += s;
}

static void charge_flush(requant *x) {
    SIM_EXECUTE(x->pending);
    x->pending = 0;
}

static void requant_teardown(run *r) {
    if (ex_powersgd_wanted(r)) { /* PowerSGD's all-reduces (ex_allreduce_powersgd.c) */
        ex_powersgd_teardown(r);
        return;
    }
    requant *x = r->exs;
    if (!x)
        return;
    ring_plan *pl = x->plan;
    if (pl && x->owner) { /* rank 0's shared plan: every rank has left the loop */
        for (int i = 0; pl->p && pl->first && i < pl->first[x->K]; i++)
            quant_free(pl->p[i].q);
        free(pl->p);
        free(pl->first);
        free(pl);
    }
    free(x->send);
    free(x->all);
    free(x->len);
    free(x->tmp);
    free(x->exact);
    free(x);
    r->exs = NULL;
}

/* Build the ring's plan into *out (NULL on failure): EXIT_OK, EXIT_MEMORY, EXIT_USAGE (a
 * quantizer refused a piece: qe says why) or EXIT_FAIL (the tensors do not tile). */
static int plan_build(run *r, const quant_spec *qs, ring_plan **out, qsgd_err *qe) {
    grad_codec *c = r->codec;
    int K = r->size, rc = 0;
    size_t np = r->m->nparams, n = np + 1, nseg = c->ntensors + 1;
    ring_plan *pl = calloc(1, sizeof *pl);
    *out = pl;
    if (!pl)
        return EXIT_MEMORY;
    pl->headers = !quant_spec_fixed_size(qs);
    pl->first = calloc((size_t)K + 1, sizeof *pl->first);
    pl->p = calloc((size_t)K * nseg, sizeof *pl->p);
    if (!pl->first || !pl->p)
        return EXIT_MEMORY;
    /* the tensors tile [0, np) in order (checked); the loss is [np, n) */
    size_t largest = 1, at = 0;
    for (size_t t = 0; t < c->ntensors; t++) {
        if (c->offset[t] != at)
            return EXIT_FAIL;
        at += c->numel[t];
    }
    int np_ = 0;
    for (int ch = 0; ch < K && !rc; ch++) {
        size_t lo = ring_cut(n, ch, K), hi = ring_cut(n, ch + 1, K), bytes = 0;
        largest = hi - lo > largest ? hi - lo : largest;
        pl->first[ch] = np_;
        for (size_t t = 0; t < nseg && !rc; t++) {
            size_t s0 = t < c->ntensors ? c->offset[t] : np,
                   s1 = t < c->ntensors ? s0 + c->numel[t] : n;
            size_t a = s0 > lo ? s0 : lo, b = s1 < hi ? s1 : hi;
            if (a >= b)
                continue;
            int lossy = t < c->ntensors && !c->q[t]->type->lossless;
            piece *pc = &pl->p[np_++];
            pc->lo = a;
            pc->len = b - a;
            pc->q = lossy ? quant_alloc(qs->name, &qs->params, 1, b - a, qe)
                          : quant_alloc("fp32", NULL, 1, b - a, qe);
            if (!pc->q)
                rc = qe->code == QSGD_ENOMEM ? EXIT_MEMORY : EXIT_USAGE;
            else {
                pc->max_bits = quant_max_bits(pc->q);
                bytes += quant_max_bytes(pc->q) + (pl->headers ? 4 : 0);
            }
        }
        pl->cap = bytes > pl->cap ? bytes : pl->cap;
    }
    pl->first[K] = np_;
    pl->chunk = largest;
    return rc;
}

static int requant_setup(run *r) {
    if (ex_powersgd_wanted(r))
        return ex_powersgd_setup(r);
    if (r->codec->nquantized == 0 || r->cfg.allreduce_mpi || r->size < 2)
        return EXIT_OK; /* today's dense fp32 path, bit for bit */
    int K = r->size, rc = 0;
    size_t n = r->m->nparams + 1;
    qsgd_err qe = {0};
    quant_spec qs;
    requant *x = calloc(1, sizeof *x);
    r->exs = x;
    if (!x || quant_spec_parse(r->cfg.quant, &qs, &qe) != QSGD_OK)
        return tr_fail_all(r, x ? EXIT_USAGE : EXIT_MEMORY, "--quant",
                           x ? qe.msg : "out of memory");
    x->K = K;
    x->n = n;
#ifdef SMPI_H
    int shared = r->cfg.shared_decode; /* SMPI's sharing switch (trainer.c) */
#else
    int shared = 0;
#endif
    if (!shared || r->rank == 0) {
        x->owner = 1;
        rc = plan_build(r, &qs, &x->plan, &qe);
    }
    if (shared && (rc = tr_agree_code(rc)) == 0) /* rank 0's plan for all (setup) */
        MPI_Bcast(&x->plan, (int)sizeof x->plan, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rc == EXIT_FAIL)
        return tr_fail_all(r, rc, "--exchange allreduce",
                           "the model's tensors do not tile its parameter vector");
    if (rc)
        return tr_fail_all(r, rc, "quantizer (allreduce ring)",
                           qe.msg[0] ? qe.msg : "out of memory");
    ring_plan *pl = x->plan;
    x->p = pl->p;
    x->first = pl->first;
    x->headers = pl->headers;
    x->cap = pl->cap;
    size_t largest = pl->chunk;
    x->len = calloc((size_t)K, sizeof *x->len);
    if (tr_agree(!x->len))
        return tr_fail_all(r, EXIT_MEMORY, "memory", "cannot allocate the ring's lengths");
    if (x->cap > 2147483647u)
        return tr_fail_all(r, EXIT_USAGE, "--exchange allreduce",
                           "a chunk exceeds MPI's int byte counts (2 GiB): use more ranks");
    x->send = malloc(x->cap);
    x->all = malloc(x->cap * (size_t)K);
    x->tmp = malloc(largest * sizeof(float));
    if (r->cfg.allreduce_sum & SIM_ARSUM_MEASURE)
        x->exact = malloc(n * sizeof(float));
    int bad =
        !x->send || !x->all || !x->tmp || ((r->cfg.allreduce_sum & SIM_ARSUM_MEASURE) && !x->exact);
    if (tr_agree(bad))
        return tr_fail_all(r, EXIT_MEMORY, "memory", "cannot allocate the ring's buffers");
    /* fault the pages in now (setup), not in the first timed step: the all-gather phase
     * receives into every slot of x->all, and each fault is a kernel trip */
    memset(x->send, 0, x->cap);
    memset(x->all, 0, x->cap * (size_t)K);
    memset(x->tmp, 0, largest * sizeof(float));
    return EXIT_OK;
}

/* Encode chunk ch of v into out (*len bytes, *bits exact); charged as encode time. */
static int encode_chunk(run *r, requant *x, const float *v, int ch, uint32_t step, int hop,
                        uint8_t *out, int *len, uint64_t *bits) {
    double w0 = sim_wall();
    int P = x->first[x->K], k0 = x->first[ch], k1 = x->first[ch + 1];
    size_t off = x->headers ? 4 * (size_t)(k1 - k0) : 0;
    uint64_t total = 8ull * off;
    for (int k = k0; k < k1; k++) {
        const piece *pc = &x->p[k];
        quant_ctx ctx = {r->cfg.seed, (uint32_t)r->rank, step, (uint32_t)((hop * 2) * P + k)};
        uint64_t nb;
        qsgd_err qe = {0};
        if (quant_encode(pc->q, v + pc->lo, &ctx, out + off, x->cap - off, &nb, &qe) != QSGD_OK)
            return tr_fail_rank(r,
                                grad_codec_overflowed(pc->q, v + pc->lo) ? EXIT_DIVERGED
                                                                         : tr_quant_exit(qe.code),
                                "allreduce ring, iteration %llu, hop %d: %s",
                                (unsigned long long)step + 1, hop + 1, qe.msg);
        if (x->headers)
            grad_codec_put_u32(out + 4 * (size_t)(k - k0), (uint32_t)nb);
        off += (size_t)((nb + 7) / 8);
        total += nb;
    }
    *len = (int)off;
    *bits += total;
    double wall = sim_wall() - w0;
    r->codec_wall += wall;
    double s = sim_codec_seconds(&r->cfg, wall, 4.0 * (double)chunk_len(x, ch));
    charge(x, s);
    x->enc += s;
    return EXIT_OK;
}

/* The exact bits of chunk ch's message m (headers: as they say; fixed size: max_bits). */
static uint64_t chunk_bits(const requant *x, const uint8_t *m, int ch) {
    int k0 = x->first[ch], k1 = x->first[ch + 1];
    uint64_t b = x->headers ? 32ull * (uint64_t)(k1 - k0) : 0;
    for (int k = k0; k < k1; k++)
        b += x->headers ? grad_codec_get_u32(m + 4 * (size_t)(k - k0)) : x->p[k].max_bits;
    return b;
}

/* Decode chunk ch's message m[len] into out (chunk-relative, out[0] = chunk's first value). */
static int decode_chunk(run *r, requant *x, const uint8_t *m, int len, int ch, float *out) {
    double w0 = sim_wall();
    int k0 = x->first[ch], k1 = x->first[ch + 1];
    size_t base = chunk_lo(x, ch), off = x->headers ? 4 * (size_t)(k1 - k0) : 0;
    if ((size_t)len < off)
        return tr_fail_rank(r, EXIT_FAIL, "allreduce ring: chunk %d message of %d bytes", ch, len);
    for (int k = k0; k < k1; k++) {
        const piece *pc = &x->p[k];
        uint64_t nb = x->headers ? grad_codec_get_u32(m + 4 * (size_t)(k - k0)) : pc->max_bits;
        size_t bytes = (size_t)((nb + 7) / 8);
        qsgd_err qe = {0};
        if (bytes > (size_t)len - off ||
            quant_decode(pc->q, m + off, bytes, nb, out + (pc->lo - base), &qe) != QSGD_OK)
            return tr_fail_rank(r, EXIT_FAIL, "allreduce ring: chunk %d piece %d: %s", ch, k - k0,
                                bytes > (size_t)len - off ? "truncated" : qe.msg);
        off += bytes;
    }
    double wall = sim_wall() - w0;
    r->codec_wall += wall;
    double s = sim_codec_seconds(&r->cfg, wall, 4.0 * (double)chunk_len(x, ch));
    charge(x, s);
    x->dec += s;
    return EXIT_OK;
}

/* wire: v's chunk ch rounded to the wire format in place (quant_quantize), as encode time. */
static int round_chunk(run *r, requant *x, float *v, int ch, uint32_t step, int hop) {
    double w0 = sim_wall();
    int P = x->first[x->K];
    for (int k = x->first[ch]; k < x->first[ch + 1]; k++) {
        const piece *pc = &x->p[k];
        quant_ctx ctx = {r->cfg.seed, (uint32_t)r->rank, step, (uint32_t)((hop * 2 + 1) * P + k)};
        qsgd_err qe = {0};
        if (quant_quantize(pc->q, v + pc->lo, &ctx, x->tmp, &qe) != QSGD_OK)
            return tr_fail_rank(
                r,
                grad_codec_overflowed(pc->q, v + pc->lo) ? EXIT_DIVERGED : tr_quant_exit(qe.code),
                "allreduce ring, iteration %llu: %s", (unsigned long long)step + 1, qe.msg);
        memcpy(v + pc->lo, x->tmp, pc->len * sizeof(float));
    }
    double wall = sim_wall() - w0;
    r->codec_wall += wall;
    double s = sim_codec_seconds(&r->cfg, wall, 4.0 * (double)chunk_len(x, ch));
    charge(x, s);
    x->enc += s;
    return EXIT_OK;
}

/* The requantizing ring on v[n] (n = nparams + 1) in place; st->bits, encode, decode. */
static int requant_ring(run *r, requant *x, float *v, uint32_t step, step_times *st) {
    int K = x->K, rank = r->rank, right = (rank + 1) % K, left = (rank + K - 1) % K;
    int wire = (r->cfg.allreduce_sum & SIM_ARSUM_WIRE) != 0;
    uint8_t *in = x->all; /* reduce-scatter: receive into the all-gather area's slot */
    x->enc = x->dec = x->pending = 0;
    st->bits = 0;
    for (int s = 0; s < K - 1; s++) {
        int cs = ((rank - s) % K + K) % K, cr = ((rank - s - 1) % K + K) % K, len, got;
        if (encode_chunk(r, x, v, cs, step, s, x->send, &len, &st->bits))
            return EXIT_FAIL;
        MPI_Status ms;
        charge_flush(x);
        MPI_Sendrecv(x->send, len, MPI_BYTE, right, 12, in, (int)x->cap, MPI_BYTE, left, 12,
                     MPI_COMM_WORLD, &ms);
        MPI_Get_count(&ms, MPI_BYTE, &got);
        if (wire && round_chunk(r, x, v, cr, step, s)) /* own chunk first: tmp is scratch */
            return EXIT_FAIL;
        if (decode_chunk(r, x, in, got, cr, x->tmp))
            return EXIT_FAIL;
        size_t lo = chunk_lo(x, cr), hi = chunk_lo(x, cr + 1);
        float *restrict own = v + lo; /* distinct buffers: lets the compiler vectorise */
        const float *restrict got_v = x->tmp;
        for (size_t i = 0; i < hi - lo; i++) /* own + received, as the fp32 ring */
            own[i] += got_v[i];
    }
    int own = (rank + 1) % K;
    uint64_t counted_below = 0; /* the all-gather counts what each hop sends */
    if (encode_chunk(r, x, v, own, step, K - 1, x->all + (size_t)own * x->cap, &x->len[own],
                     &counted_below))
        return EXIT_FAIL;
    charge_flush(x);
    for (int s = 0; s < K - 1; s++) { /* forward the final encoded chunks unchanged */
        int cs = ((rank + 1 - s) % K + K) % K, cr = ((rank - s) % K + K) % K;
        MPI_Status ms;
        MPI_Sendrecv(x->all + (size_t)cs * x->cap, x->len[cs], MPI_BYTE, right, 13,
                     x->all + (size_t)cr * x->cap, (int)x->cap, MPI_BYTE, left, 13, MPI_COMM_WORLD,
                     &ms);
        MPI_Get_count(&ms, MPI_BYTE, &x->len[cr]);
        st->bits += chunk_bits(x, x->all + (size_t)cs * x->cap, cs);
    }
    for (int ch = 0; ch < K; ch++)
        if (decode_chunk(r, x, x->all + (size_t)ch * x->cap, x->len[ch], ch, v + chunk_lo(x, ch)))
            return EXIT_FAIL;
    charge_flush(x);
    st->encode = x->enc;
    st->decode = x->dec;
    return EXIT_OK;
}

static int allreduce_step(run *r, double loss, uint32_t step, double compute, step_times *st) {
    (void)compute;
    if (ex_powersgd_wanted(r))
        return ex_powersgd_step(r, loss, step, st);
    requant *x = r->exs;
    if (x) {
        size_t np = r->m->nparams;
        r->grad[np] = (float)loss;
        if (x->exact)
            memcpy(x->exact, r->grad, (np + 1) * sizeof(float));
        double t0 = MPI_Wtime();
        if (requant_ring(r, x, r->grad, step, st))
            return EXIT_FAIL;
        st->comm = MPI_Wtime() - t0 - st->encode - st->decode;
        if (x->exact) { /* measure: the exact fp32 sum, one more ring (in the times) */
            ring_allreduce(x->exact, np + 1, r->acc, r->rank, r->size);
            double d = 0, e = 0;
            for (size_t i = 0; i < np; i++) {
                double a = (double)x->exact[i], b = (double)r->grad[i];
                d += (a - b) * (a - b);
                e += a * a;
            }
            st->ring_err = e > 0 ? sqrt(d / e) : 0;
        }
        float inv = 1.0f / (float)r->size;
        for (size_t i = 0; i < np; i++)
            r->grad[i] *= inv;
        st->loss = (double)r->grad[np] * inv;
        return EXIT_OK;
    }
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
    /* both rings end with every rank holding the same bits (the owner's sum is forwarded
     * unchanged); --allreduce mpi does not promise it (the trainer excludes it) */
    .flags = EX_SAME_UPDATE,
    .overlap = NULL,
    .setup = requant_setup,
    .step = allreduce_step,
    .teardown = requant_teardown,
};
