/* test_quant_stats.c — statistical tests of the QSGD quantizer against Lemma 3.1 and
 * Theorem 3.2 of Alistarh et al. (NIPS 2017), see docs/theory.md: unbiasedness
 * (coordinatewise and aggregate), the variance bound and the exact variance of stochastic
 * rounding, the sparsity bound and exact expected nnz, and the expected Elias code length.
 * Inputs come from GSL generators; each trial uses a new ctx.step. The unbiasedness checker
 * is itself tested: it must reject deliberately biased estimators. */
#include "quant_test_util.h"

#define N 1000
#define Z 6.0      /* coordinatewise: P(false alarm) <= 2 e^-18 = 3e-8 each, ~1e5 comparisons */
#define Z_AGG 10.0 /* aggregate: S is a weighted chi-square, heavier right tail than normal */

/* ---- the unbiasedness checker ---------------------------------------------------------- */
typedef struct unb_report {
    size_t worst;     /* coordinate with the largest z */
    double worst_z;   /* the z at which |mean - v| - tol would just pass (inf if var = 0) */
    double agg;       /* S = ||mean - v||^2 */
    double agg_limit; /* E[S] + Z_AGG sd(S) + sum tol^2, E[S] = sum var / T */
    int coord_ok, agg_ok;
} unb_report;

/* Bernstein's inequality for the mean of T draws with variance var and |X - EX| <= range:
 * P(|mean - EX| > z sqrt(var/T) + (z^2/3) range/T) <= 2 exp(-z^2/2). The range term matters
 * for rare events (p ~ 1/T), where a normal z-test would reject a single hit. Solves for
 * the z at which a deviation dev is just allowed. */
static double bernstein_z(double dev, double var, double range, size_t T) {
    if (dev <= 0)
        return 0;
    double a = range / (3.0 * T), b = sqrt(var / T); /* a z^2 + b z = dev */
    if (a <= 0)
        return b > 0 ? dev / b : INFINITY;
    return (-b + sqrt(b * b + 4 * a * dev)) / (2 * a);
}

/* mean[i]: average of T independent draws of an estimator of v[i] whose single draw has
 * variance var[i] and lies within range[i] of its expectation (if it is unbiased); tol[i]:
 * allowance for float rounding. Returns 1 if the draws are consistent with E = v
 * coordinatewise (Bernstein bound at z = Z for every coordinate) and in aggregate
 * (S = ||mean - v||^2 against its expectation sum var / T). */
static int unbiased_check(const double *v, const double *mean, const double *var,
                          const double *range, const double *tol, size_t n, size_t T,
                          unb_report *rep) {
    double es = 0, es2 = 0, s = 0, tol2 = 0;
    rep->worst = 0;
    rep->worst_z = 0;
    for (size_t i = 0; i < n; i++) {
        double e = mean[i] - v[i];
        double z = bernstein_z(fabs(e) - tol[i], var[i], range[i], T);
        if (z > rep->worst_z) {
            rep->worst_z = z;
            rep->worst = i;
        }
        s += e * e;
        es += var[i] / (double)T;
        es2 += (var[i] / (double)T) * (var[i] / (double)T);
        tol2 += tol[i] * tol[i];
    }
    rep->agg = s;
    rep->agg_limit = es + Z_AGG * sqrt(2 * es2) + tol2;
    rep->coord_ok = rep->worst_z <= Z;
    rep->agg_ok = s <= rep->agg_limit;
    return rep->coord_ok && rep->agg_ok;
}

/* ---- trials -------------------------------------------------------------------------------- */
typedef struct trial_cfg {
    unsigned s;
    size_t bucket; /* 0 = whole */
    int maxnorm;
    int input;
    size_t n;
} trial_cfg;

typedef struct trial_out {
    double v[N], mean[N], var[N], tol[N], unit[N], lo[N], p[N];
    double evar;              /* exact E||Q - v||^2 from the law */
    double enz;               /* exact E nnz */
    double nv2;               /* ||v||^2 */
    double ratio_m, ratio_sd; /* ||Q - v||^2 / ||v||^2: mean, sd over trials */
    double nnz_m, nnz_sd;
    size_t d, T;
} trial_out;

static void cfg_spec(const trial_cfg *c, char *spec) {
    snprintf(spec, QT_SPEC_LEN, "qsgd:s=%u,bucket=%zu,norm=%s", c->s, c->bucket,
             c->maxnorm ? "max" : "l2");
}

/* T draws of Q(v) through quant_quantize (ctx.step = t); v from GSL with seed `seed`. */
static int run_trials(const trial_cfg *c, size_t T, unsigned long seed, trial_out *o) {
    char spec[QT_SPEC_LEN];
    cfg_spec(c, spec);
    quant *q = qt_alloc(spec, 1, c->n);
    if (!q)
        return 0;
    gsl_rng *r = qt_rng(seed);
    float v[N], out[N];
    size_t n = c->n;
    qt_fill(v, n, c->input, r);
    o->d = qt_bucket(q);
    o->T = T;
    o->evar = qt_qsgd_law(v, n, o->d, c->s, c->maxnorm, o->unit, o->lo, o->p);
    o->nv2 = 0;
    o->enz = 0;
    for (size_t i = 0; i < n; i++) {
        o->v[i] = v[i];
        o->mean[i] = 0;
        o->var[i] = o->unit[i] * o->unit[i] * o->p[i] * (1 - o->p[i]);
        o->tol[i] = 5e-7 * fabs((double)v[i]) + 1e-7 * o->unit[i];
        o->nv2 += (double)v[i] * v[i];
        o->enz += v[i] == 0 ? 0 : o->lo[i] >= 1 ? 1 : o->p[i];
    }
    double rs = 0, rs2 = 0, zs = 0, zs2 = 0;
    int ok = 1;
    for (size_t t = 0; t < T && ok; t++) {
        quant_ctx ctx = qt_ctx(seed * 7919u, 1, (uint32_t)t, 3);
        qsgd_err err;
        ok = QT_CHECK(quant_quantize(q, v, &ctx, out, &err) == QSGD_OK, "%s: %s", spec, err.msg);
        double e2 = 0, nz = 0;
        for (size_t i = 0; i < n; i++) {
            double x = out[i], e = x - v[i];
            o->mean[i] += x;
            e2 += e * e;
            nz += x != 0;
        }
        double ratio = o->nv2 > 0 ? e2 / o->nv2 : 0;
        rs += ratio;
        rs2 += ratio * ratio;
        zs += nz;
        zs2 += nz * nz;
    }
    for (size_t i = 0; i < n; i++)
        o->mean[i] /= (double)T;
    o->ratio_m = rs / T;
    o->ratio_sd = sqrt(fmax(0, rs2 / T - o->ratio_m * o->ratio_m));
    o->nnz_m = zs / T;
    o->nnz_sd = sqrt(fmax(0, zs2 / T - o->nnz_m * o->nnz_m));
    gsl_rng_free(r);
    quant_free(q);
    return ok;
}

static const unsigned stat_s[] = {1, 2, 4, 7, 16, 127};
static const size_t stat_bucket[] = {0, 128, 512};
static const int stat_inputs[] = {QT_IN_GAUSS, QT_IN_UNIFORM, QT_IN_SPARSE, QT_IN_WIDE};
#define NS (sizeof stat_s / sizeof *stat_s)
#define NB (sizeof stat_bucket / sizeof *stat_bucket)
#define NI (sizeof stat_inputs / sizeof *stat_inputs)

/* E[Q(v)] = v (Lemma 3.1 i), for l2 and max norm, whole and bucketed, several inputs. */
static void test_unbiased(void) {
    static trial_out o;
    size_t ncfg = 0;
    for (size_t a = 0; a < NS; a++)
        for (size_t b = 0; b < NB; b++)
            for (int nm = 0; nm < 2; nm++)
                for (size_t k = 0; k < NI; k++) {
                    trial_cfg c = {stat_s[a], stat_bucket[b], nm, stat_inputs[k], N};
                    if (!run_trials(&c, 1500, 100 + ncfg++, &o))
                        continue;
                    unb_report rep;
                    char spec[QT_SPEC_LEN];
                    cfg_spec(&c, spec);
                    unbiased_check(o.v, o.mean, o.var, o.unit, o.tol, N, o.T, &rep);
                    QT_CHECK(rep.coord_ok,
                             "%s %s: biased at coordinate %zu: v = %.9g, mean of %zu draws = %.9g, "
                             "z = %.2f (sd %.3g)",
                             spec, qt_input_names[c.input], rep.worst, o.v[rep.worst], o.T,
                             o.mean[rep.worst], rep.worst_z, sqrt(o.var[rep.worst] / o.T));
                    QT_CHECK(rep.agg_ok, "%s %s: ||mean - v||^2 = %.6g > limit %.6g", spec,
                             qt_input_names[c.input], rep.agg, rep.agg_limit);
                }
}

/* The checker has power: estimators with a known bias are rejected, a correct stochastic
 * rounding (computed here with a GSL generator) is accepted. */
static void test_unbiased_checker_rejects_bias(void) {
    static trial_out o;
    static double est[N];
    const size_t T = 1500;
    gsl_rng *r = qt_rng(4242);
    for (size_t a = 0; a < NS; a++)
        for (size_t k = 0; k < 2; k++) {
            trial_cfg c = {stat_s[a], 128, 0, stat_inputs[k], N};
            if (!run_trials(&c, 1, 555, &o)) /* only to fill v and the law */
                continue;
            unb_report rep;
            /* 0: correct stochastic rounding; 1: floor; 2: nearest; 3: p shrunk by 10% */
            for (int kind = 0; kind < 4; kind++) {
                for (size_t i = 0; i < N; i++) {
                    double sg = o.v[i] < 0 ? -1 : 1, acc = 0;
                    if (kind == 1)
                        acc = T * o.lo[i];
                    else if (kind == 2)
                        acc = T * (o.lo[i] + (o.p[i] >= 0.5));
                    else
                        for (size_t t = 0; t < T; t++)
                            acc +=
                                o.lo[i] + (gsl_rng_uniform(r) < (kind == 3 ? 0.9 : 1.0) * o.p[i]);
                    est[i] = sg * o.unit[i] * acc / T;
                }
                int accepted = unbiased_check(o.v, est, o.var, o.unit, o.tol, N, T, &rep);
                if (kind == 0)
                    QT_CHECK(
                        accepted,
                        "s=%u %s: correct stochastic rounding rejected (z %.2f, S %.3g > %.3g)",
                        c.s, qt_input_names[c.input], rep.worst_z, rep.agg, rep.agg_limit);
                else
                    QT_CHECK(!accepted,
                             "s=%u %s: biased estimator %d accepted (worst z %.2f, S %.3g vs limit "
                             "%.3g)",
                             c.s, qt_input_names[c.input], kind, rep.worst_z, rep.agg,
                             rep.agg_limit);
            }
        }
    gsl_rng_free(r);
}

/* E||Q(v) - v||^2 <= min(d/s^2, sqrt(d)/s) ||v||^2 (Lemma 3.1 ii with d for n when bucketed:
 * sum_b bound(d_b) ||v_b||^2 <= bound(d) ||v||^2 since the bound grows with d), and the
 * mean equals the exact variance of stochastic rounding, sum unit^2 p (1 - p). The bound is
 * checked for l2 (the lemma) and max norm (a smaller scale only shrinks each unit^2 p(1-p)
 * relative to the lemma's argument). */
static void test_variance(void) {
    static trial_out o;
    size_t ncfg = 0;
    for (size_t a = 0; a < NS; a++)
        for (size_t b = 0; b < NB; b++)
            for (int nm = 0; nm < 2; nm++)
                for (size_t k = 0; k < NI; k++) {
                    trial_cfg c = {stat_s[a], stat_bucket[b], nm, stat_inputs[k], N};
                    if (!run_trials(&c, 1000, 300 + ncfg++, &o))
                        continue;
                    char spec[QT_SPEC_LEN];
                    cfg_spec(&c, spec);
                    double se = o.ratio_sd / sqrt((double)o.T);
                    double bound = theory_variance_bound((double)o.d, c.s);
                    QT_CHECK(o.ratio_m <= bound + Z * se + 1e-12,
                             "%s %s: E||Q-v||^2/||v||^2 = %.6g (se %.2g) > bound min(d/s^2, "
                             "sqrt(d)/s) = %.6g",
                             spec, qt_input_names[c.input], o.ratio_m, se, bound);
                    double exact = o.evar / o.nv2;
                    QT_CHECK(fabs(o.ratio_m - exact) <= Z * se + 1e-4 * exact + 1e-12,
                             "%s %s: mean ||Q-v||^2/||v||^2 = %.6g, stochastic rounding gives %.6g "
                             "(se %.2g)",
                             spec, qt_input_names[c.input], o.ratio_m, exact, se);
                }
}

/* The variance bound is nearly tight for s = 1 on equal-magnitude vectors (ratio sqrt(n)-1):
 * a quantizer that rounded with the wrong probability or level spacing would exceed it. */
static void test_variance_tight_case(void) {
    static trial_out o;
    trial_cfg c = {1, 0, 0, QT_IN_UNIFORM, N};
    if (!run_trials(&c, 4000, 77, &o))
        return;
    double se = o.ratio_sd / sqrt((double)o.T), want = sqrt((double)N) - 1;
    QT_CHECK(fabs(o.ratio_m - want) <= Z * se + 1e-3,
             "s=1 +-1 vector: ratio %.5g, want %.5g (se %.2g)", o.ratio_m, want, se);
    QT_CHECK(o.ratio_m <= theory_variance_bound(N, 1), "s=1: ratio %.5g above sqrt(n) = %.5g",
             o.ratio_m, theory_variance_bound(N, 1));
}

/* E||Q(v)||_0 <= s(s + sqrt(d)) per bucket (Lemma 3.1 iii, l2 norm), and it equals the
 * exact expectation sum_i P(Q_i != 0) = sum_i min(1, s|v_i|/norm) (for any norm). */
static void test_sparsity(void) {
    static trial_out o;
    size_t ncfg = 0;
    for (size_t a = 0; a < NS; a++)
        for (size_t b = 0; b < NB; b++)
            for (int nm = 0; nm < 2; nm++)
                for (size_t k = 0; k < NI; k++) {
                    trial_cfg c = {stat_s[a], stat_bucket[b], nm, stat_inputs[k], N};
                    if (!run_trials(&c, 600, 500 + ncfg++, &o))
                        continue;
                    char spec[QT_SPEC_LEN];
                    cfg_spec(&c, spec);
                    double se = o.nnz_sd / sqrt((double)o.T), bound = 0;
                    for (size_t b0 = 0; b0 < N; b0 += o.d)
                        bound += theory_nnz_bound((double)(b0 + o.d <= N ? o.d : N - b0), c.s);
                    if (!nm)
                        QT_CHECK(o.nnz_m <= bound + Z * se,
                                 "%s %s: E nnz = %.2f (se %.2g) > sum over buckets of s(s+sqrt(d)) "
                                 "= %.2f",
                                 spec, qt_input_names[c.input], o.nnz_m, se, bound);
                    QT_CHECK(fabs(o.nnz_m - o.enz) <= Z * se + 1e-3 + 1e-5 * N,
                             "%s %s: E nnz = %.3f, stochastic rounding gives %.3f (se %.2g)", spec,
                             qt_input_names[c.input], o.nnz_m, o.enz, se);
                }
}

/* Expected Elias message length per bucket <= Theorem 3.2's bound (o(1) taken as 0), for
 * Gaussian and equal-magnitude (hardest) vectors, d in {128, 512, 4096}, s in {2, 4, 8, 16,
 * sqrt(d)}; and every message is exactly the paper's code of its decoded levels:
 * per bucket 32 + Elias(p_1) + sum_j (1 + Elias(level_j) + Elias(p_{j+1} - p_j)), with
 * p_{nnz+1} = d + 1 (the format documented in quant_qsgd.c). */
static void test_elias_bits(void) {
    static const size_t ds[] = {128, 512, 4096};
    const size_t n = 8192, T = 24;
    float *v = malloc(n * sizeof *v), *out = malloc(n * sizeof *out);
    gsl_rng *r = qt_rng(9);
    for (size_t a = 0; a < 3; a++) {
        size_t d = ds[a];
        unsigned ss[5] = {2, 4, 8, 16, (unsigned)floor(sqrt((double)d))};
        for (size_t k = 0; k < 5; k++)
            for (int in = 0; in < 2; in++) {
                char spec[QT_SPEC_LEN];
                snprintf(spec, sizeof spec, "qsgd:s=%u,bucket=%zu,format=elias", ss[k], d);
                quant *q = qt_alloc(spec, 1, n);
                if (!q)
                    continue;
                size_t cap = quant_max_bytes(q), nb = n / d;
                uint8_t *buf = malloc(cap);
                double sum = 0, sum2 = 0;
                int exact_ok = 1;
                for (size_t t = 0; t < T; t++) {
                    qt_fill(v, n, in ? QT_IN_UNIFORM : QT_IN_GAUSS, r);
                    quant_ctx ctx = qt_ctx(5, 0, (uint32_t)t, 0);
                    uint64_t nbits = 0;
                    qsgd_err err;
                    if (!QT_CHECK(quant_encode(q, v, &ctx, buf, cap, &nbits, &err) == QSGD_OK &&
                                      quant_decode(q, buf, cap, nbits, out, &err) == QSGD_OK,
                                  "%s: %s", spec, err.msg))
                        break;
                    /* exact length of the paper's code of the decoded levels */
                    uint64_t want = 0;
                    for (size_t b0 = 0; b0 < n; b0 += d) {
                        double unit = qt_norm(v + b0, d, 0) / ss[k];
                        size_t prev = 0;
                        want += 32;
                        for (size_t i = b0; i < b0 + d; i++)
                            if (out[i] != 0) {
                                uint64_t level = (uint64_t)nearbyint(fabs(out[i]) / unit);
                                want += theory_elias_omega_len(i - b0 + 1 - prev) + 1 +
                                        theory_elias_omega_len(level);
                                prev = i - b0 + 1;
                            }
                        want += theory_elias_omega_len(d + 1 - prev);
                    }
                    if (exact_ok)
                        exact_ok = QT_CHECK(nbits == want,
                                            "%s %s: elias message of %llu bits, the paper's code "
                                            "of its levels has %llu",
                                            spec, in ? "uniform" : "gauss",
                                            (unsigned long long)nbits, (unsigned long long)want);
                    double per = (double)nbits / nb;
                    sum += per;
                    sum2 += per * per;
                }
                double m = sum / T, se = sqrt(fmax(0, sum2 / T - m * m) / T / nb);
                double bound = theory_elias_bits_bound((double)d, ss[k]);
                QT_CHECK(m <= bound + 4 * se,
                         "%s %s: mean %.1f bits per bucket (se %.2g) > Theorem 3.2 bound %.1f",
                         spec, in ? "uniform" : "gauss", m, se, bound);
                /* and far below 32 bits per coordinate when the bound says so */
                if (bound < 32.0 * d)
                    QT_CHECK(m < 32.0 * d, "%s: elias longer than fp32", spec);
                free(buf);
                quant_free(q);
            }
    }
    gsl_rng_free(r);
    free(v);
    free(out);
}

int main(void) {
    double t0 = qt_now();
    static const qt_test tests[] = {
        {"unbiasedness checker rejects biased estimators", test_unbiased_checker_rejects_bias},
        {"E[Q(v)] = v (Lemma 3.1 i)", test_unbiased},
        {"variance <= min(d/s^2, sqrt(d)/s) and = stochastic rounding (Lemma 3.1 ii)",
         test_variance},
        {"variance bound nearly tight: s=1, +-1 vector", test_variance_tight_case},
        {"E nnz <= s(s+sqrt(d)) per bucket (Lemma 3.1 iii)", test_sparsity},
        {"Elias bits <= Theorem 3.2 bound, exact code length", test_elias_bits},
        {NULL, NULL},
    };
    int rc = qt_run("quant_stats", tests);
    printf("quant_stats: %.1f s\n", qt_now() - t0);
    return rc;
}
