/* data.c — dataset containers (alloc, subset, densify), sharding across workers, per-worker
 * minibatch samplers, and the data spec parser that picks a loader (fmnist, libsvm, synth).
 * See data.h for the contracts.
 */
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

/* ---- datasets --------------------------------------------------------------------------- */

int dataset_alloc_dense(const data_shape *shape, size_t n, dataset **out, qsgd_err *err) {
    *out = NULL;
    if (!shape || shape->dim == 0 || shape->nclass < 0)
        return QSGD_FAIL(err, QSGD_EINVAL, "dataset_alloc_dense: bad shape (dim %zu)",
                         shape ? shape->dim : 0);
    if (n > 0 && shape->dim > SIZE_MAX / sizeof(float) / n)
        return QSGD_FAIL(err, QSGD_ENOMEM, "dataset_alloc_dense: %zu x %zu floats overflow", n,
                         shape->dim);
    dataset *d = calloc(1, sizeof *d);
    if (!d)
        return QSGD_FAIL(err, QSGD_ENOMEM, "dataset_alloc_dense: out of memory");
    d->shape = *shape;
    d->n = n;
    d->layout = DATA_DENSE;
    size_t nn = n ? n : 1;
    d->x = calloc(nn * shape->dim, sizeof(float));
    if (shape->nclass > 0)
        d->label = calloc(nn, sizeof(int32_t));
    else
        d->target = calloc(nn, sizeof(float));
    if (!d->x || (!d->label && !d->target)) {
        dataset_free(d);
        return QSGD_FAIL(err, QSGD_ENOMEM, "dataset_alloc_dense: out of memory for %zu x %zu", n,
                         shape->dim);
    }
    *out = d;
    return QSGD_OK;
}

void dataset_free(dataset *d) {
    if (!d)
        return;
    free(d->x);
    free(d->rowptr);
    free(d->col);
    free(d->val);
    free(d->label);
    free(d->target);
    free(d);
}

size_t dataset_nnz(const dataset *d) {
    if (d->layout == DATA_CSR)
        return d->rowptr[d->n];
    return d->n * d->shape.dim;
}

int dataset_subset(const dataset *d, const size_t *idx, size_t k, dataset **out, qsgd_err *err) {
    *out = NULL;
    for (size_t i = 0; i < k; i++)
        if (idx[i] >= d->n)
            return QSGD_FAIL(err, QSGD_EINVAL, "dataset_subset: row %zu out of range (n = %zu)",
                             idx[i], d->n);
    dataset *s = calloc(1, sizeof *s);
    if (!s)
        return QSGD_FAIL(err, QSGD_ENOMEM, "dataset_subset: out of memory");
    s->shape = d->shape;
    s->n = k;
    s->layout = d->layout;
    snprintf(s->source, sizeof s->source, "%.200s[%zu rows]", d->source, k);
    size_t kk = k ? k : 1;
    if (d->label)
        s->label = malloc(kk * sizeof(int32_t));
    if (d->target)
        s->target = malloc(kk * sizeof(float));
    int ok = (!d->label || s->label) && (!d->target || s->target);
    if (d->layout == DATA_DENSE) {
        size_t dim = d->shape.dim;
        s->x = malloc(kk * dim * sizeof(float));
        ok = ok && s->x;
        if (ok)
            for (size_t i = 0; i < k; i++)
                memcpy(s->x + i * dim, d->x + idx[i] * dim, dim * sizeof(float));
    } else {
        size_t nnz = 0;
        for (size_t i = 0; i < k; i++)
            nnz += d->rowptr[idx[i] + 1] - d->rowptr[idx[i]];
        s->rowptr = malloc((k + 1) * sizeof(size_t));
        s->col = malloc((nnz ? nnz : 1) * sizeof(uint32_t));
        s->val = malloc((nnz ? nnz : 1) * sizeof(float));
        ok = ok && s->rowptr && s->col && s->val;
        if (ok) {
            size_t p = 0;
            s->rowptr[0] = 0;
            for (size_t i = 0; i < k; i++) {
                size_t a = d->rowptr[idx[i]], b = d->rowptr[idx[i] + 1];
                memcpy(s->col + p, d->col + a, (b - a) * sizeof(uint32_t));
                memcpy(s->val + p, d->val + a, (b - a) * sizeof(float));
                p += b - a;
                s->rowptr[i + 1] = p;
            }
        }
    }
    if (!ok) {
        dataset_free(s);
        return QSGD_FAIL(err, QSGD_ENOMEM, "dataset_subset: out of memory for %zu rows", k);
    }
    for (size_t i = 0; i < k; i++) {
        if (d->label)
            s->label[i] = d->label[idx[i]];
        if (d->target)
            s->target[i] = d->target[idx[i]];
    }
    *out = s;
    return QSGD_OK;
}

int dataset_densify(dataset *d, qsgd_err *err) {
    if (d->layout == DATA_DENSE)
        return QSGD_OK;
    size_t dim = d->shape.dim;
    if (d->n > 0 && dim > SIZE_MAX / sizeof(float) / d->n)
        return QSGD_FAIL(err, QSGD_ENOMEM, "dataset_densify: %zu x %zu floats overflow", d->n, dim);
    float *x = calloc((d->n ? d->n : 1) * dim, sizeof(float));
    if (!x)
        return QSGD_FAIL(err, QSGD_ENOMEM,
                         "dataset_densify: out of memory for %zu x %zu floats (%s)", d->n, dim,
                         d->source);
    for (size_t i = 0; i < d->n; i++)
        for (size_t p = d->rowptr[i]; p < d->rowptr[i + 1]; p++)
            x[i * dim + d->col[p]] = d->val[p];
    free(d->rowptr);
    free(d->col);
    free(d->val);
    d->rowptr = NULL;
    d->col = NULL;
    d->val = NULL;
    d->x = x;
    d->layout = DATA_DENSE;
    return QSGD_OK;
}

int dataset_label_histogram(const dataset *d, size_t *hist, int nclass, qsgd_err *err) {
    if (!d->label || nclass <= 0)
        return QSGD_FAIL(err, QSGD_EINVAL, "label histogram: %s has no class labels", d->source);
    memset(hist, 0, (size_t)nclass * sizeof *hist);
    for (size_t i = 0; i < d->n; i++) {
        if (d->label[i] < 0 || d->label[i] >= nclass)
            return QSGD_FAIL(err, QSGD_EINVAL,
                             "label histogram: %s row %zu has label %d "
                             "outside 0..%d",
                             d->source, i, (int)d->label[i], nclass - 1);
        hist[d->label[i]]++;
    }
    return QSGD_OK;
}

/* ---- seeds, shards, samplers ---------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

unsigned long data_rng_seed(uint64_t seed, uint32_t worker, uint32_t stream) {
    uint64_t h = splitmix64(seed);
    h = splitmix64(h ^ ((uint64_t)worker << 32 | stream));
    /* mt19937 uses 32 bits of its seed; 0 means "default seed" to GSL, avoid it. */
    unsigned long s = (unsigned long)(h >> 32);
    return s ? s : 1;
}

size_t data_shard_size(size_t n, unsigned nworkers, unsigned worker) {
    if (nworkers == 0 || worker >= nworkers)
        return 0;
    /* floor((w+1) n / K) - floor(w n / K), without overflow for any n. */
    size_t q = n / nworkers, r = n % nworkers;
    size_t lo = worker * q + (size_t)worker * r / nworkers;
    size_t hi = (worker + 1) * q + (size_t)(worker + 1) * r / nworkers;
    return hi - lo;
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

int data_shard(size_t n, unsigned nworkers, unsigned worker, uint64_t seed, size_t *idx,
               qsgd_err *err) {
    if (nworkers == 0 || worker >= nworkers)
        return QSGD_FAIL(err, QSGD_EINVAL, "data_shard: worker %u of %u workers", worker, nworkers);
    size_t q = n / nworkers, r = n % nworkers;
    size_t lo = worker * q + (size_t)worker * r / nworkers;
    size_t len = data_shard_size(n, nworkers, worker);
    if (len == 0)
        return QSGD_OK;
    size_t *perm = malloc(n * sizeof *perm);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!perm || !rng) {
        free(perm);
        if (rng)
            gsl_rng_free(rng);
        return QSGD_FAIL(err, QSGD_ENOMEM, "data_shard: out of memory for %zu indices", n);
    }
    /* stream 0x5ead: the permutation is shared by all workers (worker field 0). */
    gsl_rng_set(rng, data_rng_seed(seed, 0, 0x5eadu));
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    gsl_ran_shuffle(rng, perm, n, sizeof *perm);
    memcpy(idx, perm + lo, len * sizeof *idx);
    qsort(idx, len, sizeof *idx, cmp_size);
    free(perm);
    gsl_rng_free(rng);
    return QSGD_OK;
}

static void sampler_shuffle(data_sampler *s) {
    gsl_ran_shuffle(s->rng, s->order, s->n, sizeof *s->order);
    s->pos = 0;
    s->epoch++;
}

data_sampler *data_sampler_alloc(const size_t *pool, size_t n, size_t batch, int drop_last,
                                 uint64_t seed, uint32_t worker, qsgd_err *err) {
    if (n == 0 || batch == 0 || (drop_last && batch > n)) {
        QSGD_FAIL(err, QSGD_EINVAL, "data_sampler: pool of %zu rows cannot give batches of %zu%s",
                  n, batch, drop_last ? " (drop_last)" : "");
        return NULL;
    }
    data_sampler *s = calloc(1, sizeof *s);
    if (!s) {
        QSGD_FAIL(err, QSGD_ENOMEM, "data_sampler: out of memory");
        return NULL;
    }
    s->order = malloc(n * sizeof *s->order);
    s->rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!s->order || !s->rng) {
        data_sampler_free(s);
        QSGD_FAIL(err, QSGD_ENOMEM, "data_sampler: out of memory for %zu indices", n);
        return NULL;
    }
    gsl_rng_set(s->rng, data_rng_seed(seed, worker, 0x5a3b1eu));
    for (size_t i = 0; i < n; i++)
        s->order[i] = pool ? pool[i] : i;
    s->n = n;
    s->batch = batch;
    s->drop_last = drop_last;
    s->pos = n; /* the first call shuffles */
    return s;
}

void data_sampler_free(data_sampler *s) {
    if (!s)
        return;
    if (s->rng)
        gsl_rng_free(s->rng);
    free(s->order);
    free(s);
}

size_t data_sampler_batches_per_epoch(const data_sampler *s) {
    return s->drop_last ? s->n / s->batch : (s->n + s->batch - 1) / s->batch;
}

size_t data_sampler_next(data_sampler *s, size_t *idx) {
    size_t left = s->n - s->pos;
    if (left == 0 || (s->drop_last && left < s->batch))
        sampler_shuffle(s);
    size_t k = s->n - s->pos < s->batch ? s->n - s->pos : s->batch;
    memcpy(idx, s->order + s->pos, k * sizeof *idx);
    s->pos += k;
    s->batches++;
    return k;
}

/* ---- data specs: the registry ------------------------------------------------------------ */

/* One line per source; adding a source is its file (models/data_NAME.c, compiled by the
 * glob) plus its line here. */
extern const data_source data_source_fmnist, data_source_libsvm, data_source_synth_leastsq,
    data_source_synth_logreg;
static const data_source *const registry[] = {
    &data_source_fmnist,
    &data_source_libsvm,
    &data_source_synth_leastsq,
    &data_source_synth_logreg,
#ifdef QSGDSIM_EXTRA_DATA_SOURCES /* a variant build's extra registry lines (tests/extend/) */
    QSGDSIM_EXTRA_DATA_SOURCES,
#endif
    NULL,
};

const data_source *const *data_sources(void) {
    return registry;
}

const data_source *data_source_find(const char *name, size_t len) {
    for (const data_source *const *s = registry; *s; s++)
        if (strlen((*s)->name) == len && !strncmp((*s)->name, name, len))
            return *s;
    return NULL;
}

const qsgd_opt *data_opt_find(const qsgd_opt *t, const char *key) {
    return qsgd_opt_find(t, key);
}

/* Append to buf[len] at *at; -1 once truncated. */
static int put(char *buf, size_t len, size_t *at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int put(char *buf, size_t len, size_t *at, const char *fmt, ...) {
    if (*at >= len)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *at, len - *at, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len - *at) {
        *at = len;
        return -1;
    }
    *at += (size_t)n;
    return 0;
}

int data_opt_names(const qsgd_opt *t, const char *sep, char *buf, size_t len) {
    size_t at = 0;
    int rc = 0;
    if (len)
        buf[0] = '\0';
    if (!t || !t->name)
        return put(buf, len, &at, "none");
    for (const qsgd_opt *o = t; o->name; o++)
        rc |= put(buf, len, &at, "%s%s", o == t ? "" : sep, o->name);
    return rc ? -1 : 0;
}

/* The value placeholder of row o: an enum's canonical choices "a|b", else its meta. */
static int opt_meta(const qsgd_opt *o, char *buf, size_t len, size_t *at) {
    if (o->kind != QSGD_OPT_ENUM)
        return put(buf, len, at, "%s", o->meta ? o->meta : "");
    int rc = 0, n = 0;
    for (size_t i = 0; o->choices && o->choices[i].name; i++) {
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = o->choices[j].value == o->choices[i].value;
        if (!dup)
            rc |= put(buf, len, at, "%s%s", n++ ? "|" : "", o->choices[i].name);
    }
    return rc;
}

/* "name:PATH[,k=META,...]" (meta) or "name[:k=,...]" (!meta). */
static int source_usage(const data_source *src, int meta, char *buf, size_t len, size_t *at) {
    int rc = put(buf, len, at, "%s", src->name);
    if (src->path_meta)
        rc |= put(buf, len, at, ":%s", src->path_meta);
    const qsgd_opt *t = src->opts;
    if (t && t->name) {
        rc |= put(buf, len, at, "[%c", src->path_meta ? ',' : ':');
        for (const qsgd_opt *o = t; o->name; o++) {
            rc |= put(buf, len, at, "%s%s=", o == t ? "" : ",", o->name);
            if (meta)
                rc |= opt_meta(o, buf, len, at);
        }
        rc |= put(buf, len, at, "]");
    }
    return rc ? -1 : 0;
}

int data_source_usage(const data_source *src, int meta, char *buf, size_t len) {
    size_t at = 0;
    if (len)
        buf[0] = '\0';
    return source_usage(src, meta, buf, len, &at);
}

int data_sources_usage(char *buf, size_t len) {
    size_t at = 0;
    int rc = 0;
    if (len)
        buf[0] = '\0';
    for (const data_source *const *s = registry; *s; s++) {
        rc |= put(buf, len, &at, "%s", s == registry ? "" : ", ");
        rc |= source_usage(*s, 0, buf, len, &at);
    }
    return rc ? -1 : 0;
}

int data_sources_names(char *buf, size_t len) {
    size_t at = 0;
    int rc = 0;
    if (len)
        buf[0] = '\0';
    for (const data_source *const *s = registry; *s; s++)
        rc |= put(buf, len, &at, "%s%s%s%s", s == registry ? "" : ", ", (*s)->name,
                  (*s)->path_meta ? ":" : "", (*s)->path_meta ? (*s)->path_meta : "");
    return rc ? -1 : 0;
}

int data_source_parse(const data_source *src, const char *opts, void *params, qsgd_err *err) {
    char msg[sizeof err->msg];
    if (src->params_size > DATA_PARAMS_MAX)
        return QSGD_FAIL(err, QSGD_EINVAL, "%s: params of %zu bytes, more than DATA_PARAMS_MAX",
                         src->name, src->params_size);
    memset(params, 0, src->params_size);
    if (qsgd_opt_defaults(src->opts, params, msg, sizeof msg) ||
        qsgd_opt_parse(src->opts, src->name, opts, params, NULL, msg, sizeof msg)) {
        /* key errors name the source already; value errors ("option n: ...") get it here */
        int named = strncmp(msg, src->name, strlen(src->name)) == 0;
        return QSGD_FAIL(err, QSGD_EINVAL, "%s%s%s", named ? "" : src->name, named ? "" : ": ",
                         msg);
    }
    return QSGD_OK;
}

/* The source of spec, its PATH element (path_meta sources) and the options after it. */
static int split_spec(const char *spec, const data_source **src, char *path, size_t plen_max,
                      const char **opts, qsgd_err *err) {
    char names[256];
    data_sources_names(names, sizeof names);
    if (!spec || !*spec)
        return QSGD_FAIL(err, QSGD_EINVAL, "empty data spec (valid: %s)", names);
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    *opts = colon ? colon + 1 : "";
    *src = data_source_find(spec, nlen);
    path[0] = '\0';
    if (!*src)
        return QSGD_FAIL(err, QSGD_EINVAL, "unknown data set '%.*s' in spec '%s' (valid: %s)",
                         (int)nlen, spec, spec, names);
    if (!(*src)->path_meta)
        return QSGD_OK;
    const char *comma = strchr(*opts, ',');
    size_t plen = comma ? (size_t)(comma - *opts) : strlen(*opts);
    if (plen == 0 || plen >= plen_max) {
        char usage[512];
        data_source_usage(*src, 1, usage, sizeof usage);
        return QSGD_FAIL(err, QSGD_EINVAL, "%s spec '%s': expected %s", (*src)->name, spec, usage);
    }
    memcpy(path, *opts, plen);
    path[plen] = '\0';
    *opts = comma ? comma + 1 : "";
    return QSGD_OK;
}

int data_spec_check(const char *spec, qsgd_err *err) {
    const data_source *src = NULL;
    const char *opts = "";
    char path[512];
    _Alignas(max_align_t) unsigned char params[DATA_PARAMS_MAX];
    int rc = split_spec(spec, &src, path, sizeof path, &opts, err);
    return rc ? rc : data_source_parse(src, opts, params, err);
}

void data_list_sources(FILE *f) {
    char usage[512];
    fprintf(f, "data sources (data = NAME[:key=value,...]):\n");
    for (const data_source *const *s = registry; *s; s++) {
        data_source_usage(*s, 1, usage, sizeof usage);
        fprintf(f, "  %-14s %s\n  %-14s %s\n", (*s)->name, (*s)->summary, "", usage);
        qsgd_opt_print_help(f, (*s)->opts, "                   ");
    }
}

int data_load_spec(const char *spec, uint64_t seed, dataset **train, dataset **test,
                   qsgd_err *err) {
    *train = *test = NULL;
    const data_source *src = NULL;
    const char *opts = "";
    char path[512];
    _Alignas(max_align_t) unsigned char params[DATA_PARAMS_MAX];
    int rc = split_spec(spec, &src, path, sizeof path, &opts, err);
    if (rc || (rc = data_source_parse(src, opts, params, err)))
        return rc;
    return src->load(src, src->path_meta ? path : NULL, params, seed, train, test, err);
}
