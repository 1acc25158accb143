/* data.h — datasets read by the models: Fashion-MNIST (gzip'd IDX), LIBSVM text files,
 * synthetic convex problems; sharding across workers and minibatch sampling.
 *
 * The structs below are the contract shared with model.h (models read them); the
 * functions are implemented in data.c / data_*.c.
 */
#ifndef QSGDSIM_DATA_H
#define QSGDSIM_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qsgd_err.h" /* the one error type: qsgd_err, QSGD_OK, QSGD_E*, QSGD_FAIL */

#include <gsl/gsl_rng.h>

#include "qsgd_opt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Shape of a dataset's samples, as a model needs it. */
typedef struct data_shape {
    size_t dim;                     /* features per sample (= channels*height*width for images) */
    size_t channels, height, width; /* image layout (CHW), all 0 when not an image */
    int nclass;                     /* number of classes; 0 = real-valued regression targets */
} data_shape;

typedef enum data_layout { DATA_DENSE = 0, DATA_CSR = 1 } data_layout;

/* n samples. Dense: x[n][dim] row-major. CSR (sparse LIBSVM data): row i has the entries
 * val[rowptr[i] .. rowptr[i+1]) at columns col[...] (0-based). Exactly one of label / target
 * is non-NULL: label[n] in 0..nclass-1 for classification, target[n] for regression. */
typedef struct dataset {
    data_shape shape;
    size_t n;
    data_layout layout;
    float *x;         /* dense: [n][dim] */
    size_t *rowptr;   /* csr: [n+1] */
    uint32_t *col;    /* csr: [nnz] */
    float *val;       /* csr: [nnz] */
    int32_t *label;   /* [n] or NULL */
    float *target;    /* [n] or NULL */
    char source[256]; /* where it came from, for provenance lines */
} dataset;

/* ===================================================================================== *
 * Functions (data.c, data_fmnist.c, data_libsvm.c, data_synth.c).
 *
 * Every fallible function returns a data_status code and, on failure, fills *err (which
 * may be NULL) with a message naming the file and what is wrong with it. Nothing here
 * calls exit(). Loaders return a heap dataset through **out (NULL on failure) that the
 * caller releases with dataset_free().
 * ===================================================================================== */

/* --- datasets (data.c) ----------------------------------------------------------------- */
/* An empty dense dataset of n rows with the given shape, x zeroed; label[] (nclass > 0) or
 * target[] (nclass == 0) allocated. */
int dataset_alloc_dense(const data_shape *shape, size_t n, dataset **out, qsgd_err *err);
void dataset_free(dataset *d); /* NULL is fine */
/* Rows idx[0..k) of d copied (same layout) into a new dataset. */
int dataset_subset(const dataset *d, const size_t *idx, size_t k, dataset **out, qsgd_err *err);
/* Convert a CSR dataset to dense in place (no-op for dense). */
int dataset_densify(dataset *d, qsgd_err *err);
/* Number of stored values (dense: n*dim, csr: nnz). */
size_t dataset_nnz(const dataset *d);
/* Per-class counts hist[nclass] (classification datasets only). */
int dataset_label_histogram(const dataset *d, size_t *hist, int nclass, qsgd_err *err);

/* --- Fashion-MNIST and IDX files (data_fmnist.c) ---------------------------------------- */
#define DATA_FMNIST_DIR "/usr/share/datasets/fashion-mnist" /* Debian dataset-fashion-mnist */
#define DATA_FMNIST_MEAN 0.2860 /* of x/255 over the 60k training images */
#define DATA_FMNIST_STD 0.3530

typedef enum data_norm {
    DATA_NORM_STANDARDIZE = 0, /* (x/255 - mean) / std (default; DATA_FMNIST_MEAN/STD) */
    DATA_NORM_UNIT = 1,        /* x/255 in [0, 1] */
    DATA_NORM_RAW = 2,         /* 0..255 as floats */
} data_norm;

typedef struct data_idx_opts {
    data_norm norm;
    double mean, std; /* used by DATA_NORM_STANDARDIZE; 0,0 = Fashion-MNIST's */
    int nclass;       /* labels must lie in 0..nclass-1; 0 = 10 */
    size_t limit;     /* keep only the first `limit` samples; 0 = all */
} data_idx_opts;

/* A pair of gzip'd (or plain) IDX files: images (magic 0x00000803, uint8 [n][h][w]) and
 * labels (magic 0x00000801, uint8 [n]). Checks magic, dimensions, matching counts, the
 * length of the payload (truncation and trailing bytes) and the label range. opts may be
 * NULL (standardize, 10 classes, all samples). Images become dense 1 x h x w samples. */
int data_idx_load(const char *images_path, const char *labels_path, const data_idx_opts *opts,
                  dataset **out, qsgd_err *err);
/* Fashion-MNIST split "train" (60000) or "test" (10000) from dir (NULL = DATA_FMNIST_DIR).
 * A missing file is QSGD_EDATA with a message saying how to install the Debian package. */
int data_fmnist_load(const char *dir, const char *split, const data_idx_opts *opts, dataset **out,
                     qsgd_err *err);

/* --- LIBSVM text files (data_libsvm.c) --------------------------------------------------- */
typedef enum data_task {
    DATA_TASK_AUTO = 0,       /* classification if every label is an integer and there are
                                 at most DATA_MAX_CLASSES distinct ones, else regression */
    DATA_TASK_CLASSIFY = 1,   /* distinct label values, sorted ascending, -> 0..K-1; so
                                 {-1,+1} and {0,1} -> {0,1}, {1..K} -> {0..K-1} */
    DATA_TASK_REGRESSION = 2, /* label -> target */
} data_task;

#define DATA_MAX_CLASSES 1000

typedef struct data_libsvm_opts {
    data_task task;
    size_t dim;       /* number of features; 0 = the largest index in the file */
    int dense;        /* 1 = always densify, 0 = keep CSR, -1 = densify if dim <= dense_max */
    size_t dense_max; /* 0 = 4096 */
    /* Fixed label mapping (e.g. a test file read with the training file's classes): value
     * classes[k] -> label k; a label not in it is an error. NULL = derive from the file. */
    const double *classes;
    int nclasses;
    /* Bounds of the reader (0 = the defaults below): a line longer than max_line bytes or a
     * file of more than max_bytes bytes is refused (QSGD_EFORMAT, naming file:line) before it
     * is held in memory. */
    size_t max_line;
    uint64_t max_bytes;
} data_libsvm_opts;

#define DATA_LIBSVM_MAX_LINE ((size_t)16 << 20)    /* 16 MiB: ~1.5 M features on one line */
#define DATA_LIBSVM_MAX_BYTES ((uint64_t)64 << 30) /* 64 GiB of text */

/* What a LIBSVM load found: the class values (classes[k] was mapped to k) and max index. */
typedef struct data_libsvm_info {
    double classes[DATA_MAX_CLASSES];
    int nclasses;     /* 0 for regression */
    size_t max_index; /* largest 1-based feature index seen */
    size_t nnz;
} data_libsvm_info;

/* Parse "label idx:val idx:val ..." lines (1-based, strictly increasing idx; '#' starts a
 * comment; blank lines skipped; "qid:N" tokens ignored). Errors name file:line and the
 * token. A NUL byte (binary data, /dev/zero), an overlong line or file is QSGD_EFORMAT;
 * running out of memory (an allocation failing, or the parsed rows needing more than the
 * machine's physical memory) is QSGD_ENOMEM ("out of memory reading PATH after N rows").
 * Regression targets must be finite as floats. opts and info may be NULL. */
int data_libsvm_load(const char *path, const data_libsvm_opts *opts, dataset **out,
                     data_libsvm_info *info, qsgd_err *err);

/* --- synthetic problems (data_synth.c) ---------------------------------------------------- */
/* Least squares f(x) = 1/(2n) * ||A x - y||^2 with a chosen spectrum: A = U diag(sqrt(n*l_i))
 * V^T with U (n x dim, orthonormal columns) and V (dim x dim, orthogonal) from QR of Gaussian
 * matrices, so the Hessian A^T A / n has eigenvalues l_i from L = mu * kappa down to mu
 * (log-spaced, or linearly with spread=linear). y = A x_planted + noise * N(0,1).
 * After A and y are rounded to float the exact optimum of the stored data is recomputed in
 * double (Cholesky of the normal equations), so x_opt / f_opt / L / mu describe the float
 * data exactly (to double rounding). Needs n >= dim. */
typedef struct data_synth_leastsq_opts {
    size_t n, dim;     /* 0 -> 1000, 50 */
    double kappa;      /* condition number L/mu, >= 1; 0 -> 10 */
    double mu;         /* smallest Hessian eigenvalue; 0 -> 1/kappa (so L = 1) */
    double noise;      /* std of additive noise on y (0 = y = A x exactly, f_opt = 0) */
    int linear_spread; /* eigenvalues linearly (1) or log- (0) spaced in [mu, L] */
    uint64_t seed;
} data_synth_leastsq_opts;

typedef struct data_synth_leastsq_info {
    double *x_planted; /* [dim], owned: the x used to build y */
    double *x_opt;     /* [dim], owned: argmin of f over the stored (float) data */
    double f_opt;      /* f(x_opt) */
    double L, mu;      /* largest / smallest eigenvalue of A^T A / n of the stored data */
    size_t dim;
} data_synth_leastsq_info;

/* info may be NULL; otherwise free it with data_synth_leastsq_info_free. split selects an
 * independent draw of U and noise with the same V, spectrum and x_planted (0 = train,
 * 1 = test): the test split has the same Hessian spectrum and, without noise, the same
 * optimum. */
int data_synth_leastsq(const data_synth_leastsq_opts *opts, int split, dataset **out,
                       data_synth_leastsq_info *info, qsgd_err *err);
void data_synth_leastsq_info_free(data_synth_leastsq_info *info);

/* Binary logistic data: x ~ N(0, I_dim), planted w ~ N(0, scale^2/dim I) (plus bias 0),
 * label = 1 with probability sigmoid(w.x) (or [w.x > 0] with hard = 1). */
typedef struct data_synth_logreg_opts {
    size_t n, dim; /* 0 -> 1000, 20 */
    double scale;  /* ||w|| about scale; 0 -> 5 (a few percent Bayes error) */
    int hard;      /* 1 = noiseless labels */
    uint64_t seed;
} data_synth_logreg_opts;

/* w_planted (may be NULL) receives dim doubles. split as for leastsq (same w). */
int data_synth_logreg(const data_synth_logreg_opts *opts, int split, dataset **out,
                      double *w_planted, qsgd_err *err);

/* --- data specs and the source registry (data.c; each source's table in its own file) --- */
/* Load a train and a test set from a spec "name[:options]", dispatched through the registry
 * (data_sources()); each source declares its options in its table (`qsgdsim list data`):
 *   fmnist[:dir=PATH,n=N,ntest=N,norm=std|unit|raw]      (n / ntest: first N samples)
 *   libsvm:PATH[,test=PATH,dense=0|1|auto,dim=N,task=auto|class|reg]  (no test: test = train)
 *   synth-leastsq[:n=,dim=,kappa=,mu=,noise=,spread=log|linear,ntest=]
 *   synth-logreg[:n=,dim=,scale=,hard=0|1,ntest=]
 * seed seeds the synthetic generators. *test may come back equal to *train (the same
 * object; free it once: dataset_free(test) only if test != train). */
int data_load_spec(const char *spec, uint64_t seed, dataset **train, dataset **test, qsgd_err *err);

/* A data source: one type table per source (data_fmnist.c, data_libsvm.c, data_synth.c).
 * Its options are qsgd_opt rows (common/qsgd_opt.h) into its own params struct of
 * params_size bytes (at most DATA_PARAMS_MAX; DATA_PARAMS_FITS(struct) checks it at compile
 * time); parsing (with the rows' defaults), key checks, usage and help are generated from
 * them. Sizes are QSGD_OPT_EXP counts, so "n=6e4" reads as 60000. */
typedef struct data_source {
    const char *name;
    const char *summary;
    const char *path_meta; /* non-NULL: the spec is name:PATH[,k=v...] (e.g. "PATH") */
    const qsgd_opt *opts;
    size_t params_size;
    /* Load train and test. path: the PATH element (path_meta sources) or NULL; params: the
     * parsed options (the source's struct). Same contract as data_load_spec. */
    int (*load)(const struct data_source *src, const char *path, const void *params, uint64_t seed,
                dataset **train, dataset **test, qsgd_err *err);
} data_source;

#define DATA_PARAMS_MAX 2048
#define DATA_MAX_COUNT 1000000000000000ull /* largest n=, ntest=, dim= (1e15) */
#define DATA_PARAMS_FITS(type)                                                                     \
    _Static_assert(sizeof(type) <= DATA_PARAMS_MAX, #type " is larger than DATA_PARAMS_MAX")

/* The registry: a NULL-terminated array of every source. */
const data_source *const *data_sources(void);
/* The source whose name is the first len bytes of name, or NULL. */
const data_source *data_source_find(const char *name, size_t len);
/* The row of t named key or one of its aliases, or NULL (qsgd_opt_find). */
const qsgd_opt *data_opt_find(const qsgd_opt *t, const char *key);
/* The canonical option names of t joined by sep ("dir, n, ntest, norm"); "none" when t has
 * none. Returns 0, or -1 when truncated. */
int data_opt_names(const qsgd_opt *t, const char *sep, char *buf, size_t len);
/* src's usage: "name:PATH[,k=META,...]" (meta; an enum's META is its choices "a|b") or
 * "name[:k=,...]" (!meta). Returns 0, or -1 when truncated. */
int data_source_usage(const data_source *src, int meta, char *buf, size_t len);
/* "fmnist[:dir=,n=,ntest=,norm=], libsvm:PATH[,test=,...], ..." for every source. Returns
 * 0, or -1 when truncated. */
int data_sources_usage(char *buf, size_t len);
/* "fmnist, libsvm:PATH, synth-leastsq, synth-logreg". Returns 0, or -1 when truncated. */
int data_sources_names(char *buf, size_t len);

/* Set params (src->params_size bytes) to the rows' defaults and parse opts ("k=v,k=v")
 * into it. Errors (QSGD_EINVAL) name the source, the key, the value and the range, choices
 * or valid keys. */
int data_source_parse(const data_source *src, const char *opts, void *params, qsgd_err *err);
/* Check a whole spec as data_load_spec reads it (source, PATH element, every option and
 * value) without loading anything. */
int data_spec_check(const char *spec, qsgd_err *err);
/* `qsgdsim list data`: each source's usage, summary and one help line per option. */
void data_list_sources(FILE *f);

/* --- sharding and sampling (data.c) ---------------------------------------------------- */
/* Worker w of K gets positions [floor(w*n/K), floor((w+1)*n/K)) of a permutation of 0..n-1
 * drawn from seed: shards are disjoint, cover 0..n-1 and differ in size by at most 1. */
size_t data_shard_size(size_t n, unsigned nworkers, unsigned worker);
/* idx receives data_shard_size(n, nworkers, worker) row indices (sorted ascending). */
int data_shard(size_t n, unsigned nworkers, unsigned worker, uint64_t seed, size_t *idx,
               qsgd_err *err);

/* 32-bit gsl_rng seed derived from (seed, worker, stream) by a splitmix64 hash. */
unsigned long data_rng_seed(uint64_t seed, uint32_t worker, uint32_t stream);

/* Minibatch sampler of one worker: each epoch visits every index of its pool exactly once
 * in an order drawn from a gsl_rng (mt19937) seeded from (seed, worker); same seed, worker
 * and pool -> the same batches. With drop_last the short tail of an epoch is skipped (so
 * every batch has exactly `batch` rows); otherwise the last batch of an epoch is short. */
typedef struct data_sampler {
    gsl_rng *rng;
    size_t *order; /* [n]: the current epoch's permutation of pool */
    size_t n;      /* pool size */
    size_t batch;
    int drop_last;
    size_t pos;     /* next position in order */
    size_t epoch;   /* epochs started so far (1 after the first shuffle) */
    size_t batches; /* batches returned so far */
} data_sampler;

/* pool: the worker's rows (e.g. its shard), copied; NULL = 0..n-1. */
data_sampler *data_sampler_alloc(const size_t *pool, size_t n, size_t batch, int drop_last,
                                 uint64_t seed, uint32_t worker, qsgd_err *err);
void data_sampler_free(data_sampler *s); /* NULL is fine */
/* Batches per epoch: floor(n/batch) with drop_last, else ceil(n/batch). */
size_t data_sampler_batches_per_epoch(const data_sampler *s);
/* Write the next batch's row indices into idx[batch]; returns their count (>= 1). A new
 * epoch (fresh shuffle) starts when the current one is exhausted. */
size_t data_sampler_next(data_sampler *s, size_t *idx);

#ifdef __cplusplus
}
#endif
#endif
