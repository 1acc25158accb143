/* sim.h — the normally compiled core of the distributed trainer (sim/trainer.c): run
 * configuration, compute-time model and device profiles, the per-worker gradient message
 * (all tensors, each encoded by its quantizer), the real clock, and result files.
 *
 * This code is compiled with the ordinary compiler into libqsgd_sim (never by smpicc), so
 * its clock is the real one even inside an SMPI run: SMPI redirects clock_gettime only in
 * code it compiles. No MPI here; no mutable globals (SMPI runs all ranks in one process).
 */
#ifndef QSGDSIM_SIM_H
#define QSGDSIM_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "grad_codec.h"
#include "model.h"
#include "qsgd_opt.h"
#include "quant.h"
#include "sim_exit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- device profiles (compute model "flops") --------------------------------------------- */
typedef struct sim_device {
    const char *name;
    const char *summary;
    double peak_flops;        /* fp32 peak FLOP/s */
    double efficiency;        /* sustained fraction of peak for training GEMMs (assumption) */
    double codec_bytes_per_s; /* sustained encode/decode input bandwidth (assumption) */
} sim_device;

const sim_device *const *sim_devices(void); /* NULL-terminated */
const sim_device *sim_device_find(const char *name);

/* ---- exchange strategies ------------------------------------------------------------------ */
/* The registry: sim/exchanges.def, one line per strategy (name, flags, summary), generates
 * this enum, sim_core.c's info table (below) and the trainer's ops registry (sim/exchange.h,
 * one sim/ex_NAME.c per strategy). Adding one: its file and one line there. */
typedef enum sim_exchange {
#define SIM_EXCHANGE(id, name, flags, summary) SIM_EX_##id,
#include "exchanges.def"
#undef SIM_EXCHANGE
    SIM_NEXCHANGES
} sim_exchange;

/* Properties of an exchange, for the callers that check a configuration. */
#define SIM_EXF_FP32_ONLY 0x1u       /* sums dense fp32 gradients: --quant fp32 only */
#define SIM_EXF_SERVER_RANK0 0x2u    /* rank 0 is a server, not a worker: needs >= 2 ranks */
#define SIM_EXF_OVERLAP 0x4u         /* --overlap is implemented for it */
#define SIM_EXF_SHARED_DECODE 0x8u   /* SMPI's shared decode applies (--no-shared-decode) */
#define SIM_EXF_ALLREDUCE_ALGO 0x10u /* --allreduce ring|mpi applies */

typedef struct sim_exchange_info {
    const char *name;
    const char *summary;
    unsigned flags; /* SIM_EXF_* */
} sim_exchange_info;
/* All exchanges, indexed by sim_exchange; *count of them. */
const sim_exchange_info *sim_exchange_list(size_t *count);
/* One exchange's entry (NULL if ex is out of range). */
const sim_exchange_info *sim_exchange_get(sim_exchange ex);
/* The exchange named name (exact), 0; -1 if none. */
int sim_exchange_find(const char *name, sim_exchange *ex);
/* The least number of ranks the exchange runs on (2 with a server, else 1). */
int sim_exchange_min_ranks(sim_exchange ex);

/* ---- compute and codec time models: a registry each (sim_core.c) ------------------------- */
/* Indices of sim_compute_models() and sim_codec_models(), in their order. */
typedef enum sim_compute_kind {
    SIM_COMPUTE_MEASURED = 0,   /* real gradient time on this machine x factor */
    SIM_COMPUTE_FLOPS = 1,      /* model FLOPs per sample x batch / device sustained rate */
    SIM_COMPUTE_FIXED = 2,      /* fixed seconds per iteration */
    SIM_COMPUTE_THROUGHPUT = 3, /* batch / the device's measured images/s on the network */
} sim_compute_kind;

/* The measured throughputs of the compute model "throughput" (sim_core.c; the sources are in
 * docs/platforms.md): one device training one network, images (samples) per second at the
 * measurement's per-device batch. A model is timed from the entry of the network it names
 * (model_type.throughput_ref), scaled by forward MACs: seconds per sample = macs /
 * (images_per_s x ref_macs). */
typedef struct sim_throughput {
    const char *device;  /* a sim_device name ("K80": one GK210) */
    const char *net;     /* the network key models name ("resnet50") */
    const char *what;    /* the measured network and its input */
    double images_per_s; /* measured training throughput, one device */
    unsigned batch;      /* per-device batch of the measurement */
    double ref_macs;     /* forward MACs per image of the measured network */
    const char *source;  /* where the number is published */
} sim_throughput;
/* All entries, *count of them. */
const sim_throughput *sim_throughputs(size_t *count);
/* The entry of device (case-insensitive) and net (exact); NULL if none. */
const sim_throughput *sim_throughput_find(const char *device, const char *net);
/* The table for `qsgdsim list compute`: one line per entry, each prefixed by indent. */
void sim_throughputs_print(FILE *f, const char *indent);

typedef enum sim_codec_kind {
    SIM_CODEC_MEASURED = 0, /* real encode/decode time x factor */
    SIM_CODEC_DEVICE = 1,   /* bytes / device codec bandwidth */
    SIM_CODEC_NONE = 2,     /* free */
} sim_codec_kind;

struct sim_config;
/* A time model, spelled NAME, NAME:ARG or NAME[:ARG] (--compute, --codec). */
typedef struct sim_time_model {
    const char *name;
    const char *summary;
    const char *arg;  /* the argument's placeholder ("FACTOR", "DEVICE"); NULL: none */
    int arg_optional; /* NAME alone is valid too */
    /* Set the model's fields of c from arg (NULL: not given); 0, or -1 with the reason in
     * err (without the option's name). The caller sets c->compute / c->codec. */
    int (*parse)(struct sim_config *c, const char *arg, char *err, size_t errlen);
    /* The model as the config dump writes it ("measured:1", "device:V100 (2.25e+11 B/s)"). */
    void (*format)(const struct sim_config *c, char *buf, size_t len);
    /* Simulated seconds: measured_s of real time, amount = FLOPs (compute) or bytes (codec). */
    double (*seconds)(const struct sim_config *c, double measured_s, double amount);
} sim_time_model;

/* The registries, NULL-terminated, indexed by sim_compute_kind / sim_codec_kind. */
const sim_time_model *const *sim_compute_models(void);
const sim_time_model *const *sim_codec_models(void);
/* "measured[:FACTOR] | flops:DEVICE | ..." of a registry, joined by sep. */
void sim_time_models_usage(const sim_time_model *const *reg, const char *sep, char *buf,
                           size_t len);

/* ---- run configuration -------------------------------------------------------------------- */
/* sim_config.allreduce_sum: how a hop of the requantizing ring adds its own chunk, bits. */
#define SIM_ARSUM_WIRE 0x1u    /* round the own chunk to the wire format first (else fp32) */
#define SIM_ARSUM_MEASURE 0x2u /* also an exact fp32 ring: the relative error, iterations.tsv */
typedef struct sim_config {
    char model[160]; /* model spec */
    char data[320];  /* data spec (data_load_spec) */
    char quant[160]; /* quantizer spec */
    char optim[320]; /* optimizer spec (optim_params_parse) */
    sim_exchange exchange;
    int allreduce_mpi;      /* allreduce: 0 = qsgdsim's own ring (fixed summation order, same bits
                               on every MPI), 1 = the MPI library's MPI_Allreduce */
    int allreduce_sum;      /* allreduce with a lossy quantizer (requantizing ring): SIM_ARSUM_* */
    size_t quant_min_numel; /* tensors smaller than this are sent fp32 (default 10000; 0 =
                               every tensor quantized, as in `qsgdsim train --quant-min-numel 0`) */
    size_t batch;           /* per worker */
    double epochs;          /* global epochs (every sample seen once per epoch across workers) */
    size_t max_steps;       /* 0 = no limit (the run is bounded by SIM_MAX_ITERATIONS anyway) */
    uint64_t seed;
    sim_compute_kind compute;
    double compute_factor;    /* measured: multiply the real time */
    double compute_scale;     /* flops/throughput :FACTOR, multiplies the modelled compute
                                 time (a sensitivity band); 0 or 1: none */
    double compute_fixed;     /* fixed: seconds per iteration */
    double device_eff;        /* --device-eff (0: the profile's), folded into compute_factor */
    const sim_device *device; /* flops / codec / throughput device */
    const sim_throughput *throughput; /* throughput: the entry of c->model (NULL: unresolved) */
    double compute_sample_s;          /* throughput: simulated seconds per sample */
    sim_codec_kind codec;
    double codec_factor;
    size_t eval_every;      /* evaluate every N iterations (0 = once per epoch) */
    double target_accuracy; /* > 0: stop once the test accuracy reaches it */
    int threads;            /* OpenBLAS threads per rank */
    model_device backend;   /* where gradients are computed: auto (GPU if present), cpu, cuda */
    int overlap;            /* allgather, fixed-size formats: per-tensor all-gathers posted
                               during backprop (the paper's double buffering) */
    int shared_decode;      /* SMPI only: decode each step's messages once for all ranks
                               (they all compute the same average); 0 = every rank decodes */
    char out_dir[512];      /* results directory ("" = no files) */
    int quiet;
} sim_config;

/* The most iterations one run may have: the quantizers' step counter (quant_ctx.step) is 32
 * bits, and two steps with one counter would draw the same random numbers. A run whose
 * min(ceil(epochs x iterations per epoch), max_steps) exceeds it is refused (config). */
#define SIM_MAX_ITERATIONS 4294967295.0

/* ---- the run settings: one table (sim/sim_settings.def) ------------------------------------ */
typedef enum sim_setting_kind {
    SIM_SK_STRING, /* char[size] field (a spec), copied whole; launcher: at most size-1 chars */
    SIM_SK_COUNT,  /* unsigned integer field of size 4 or 8 bytes, decimal in [min, max] */
    SIM_SK_DOUBLE, /* double field, finite, in [dmin, dmax] ((dmin, dmax] with OPEN_MIN) */
    SIM_SK_FLAG,   /* an option without value; int field = the experiment's bool (the option
                      sets it to 1, or to 0 with SIM_SF_NEGATED) */
    SIM_SK_ENUM,   /* int-sized field, one of choices (by name) */
    SIM_SK_HOOK,   /* parsed and written by the row's parse and format hooks */
} sim_setting_kind;

enum sim_setting_flags {
    SIM_SF_LAUNCHER = 1u, /* an option of `qsgdsim sim`, not of the trainer (no field) */
    SIM_SF_NEGATED = 2u,  /* flag: the option turns the setting off (--no-shared-decode) */
    SIM_SF_OPEN_MIN = 4u, /* double: > dmin */
    SIM_SF_OPTIONAL = 8u, /* default "": passed on only when an experiment gives it */
};

struct sim_config;
typedef struct sim_setting {
    const char *name;   /* experiment-file key, column name of points.tsv */
    const char *abbrev; /* in point directory names */
    const char *option; /* command-line option without "--" (the launcher's or the trainer's) */
    const char *meta;   /* value placeholder in --help ("SPEC"); NULL for a flag */
    const char *dump;   /* key in sim_config_write's dump (NULL: not dumped) */
    sim_setting_kind kind;
    unsigned flags;                 /* sim_setting_flags */
    size_t offset, size;            /* the field of sim_config (launcher STRING: size = max+1) */
    unsigned long long min, max;    /* COUNT */
    double dmin, dmax;              /* DOUBLE */
    const qsgd_opt_choice *choices; /* ENUM, ends with {NULL} */
    unsigned only_exf;              /* passed and dumped only with an exchange of these flags */
    const char *def;                /* default as text ("" with SIM_SF_OPTIONAL) */
    const char *help;               /* one line: experiment keys, list, docs (NULL: models) */
    const char *usage;              /* --help text, lines joined by '\n' (NULL: ENUM choices,
                                       or the models) */
    const char *train; /* `qsgdsim train` takes the option too, with this default as text
                          ("=": def; "": none, the field stays 0); NULL: not train's */
    /* HOOK (optional): the registry of time models it names (sim_compute_models, ...), from
     * which its help and usage are generated */
    const struct sim_time_model *const *(*models)(void);
    /* HOOK: parse v into c (0, or -1 with the reason in err, without the option's name) */
    int (*parse)(struct sim_config *c, const char *v, char *err, size_t errlen);
    /* HOOK: the value of c as the dump writes it */
    void (*format)(const struct sim_config *c, char *buf, size_t len);
    /* STRING (optional): a value of an experiment file; 0, or -1 with the reason in msg */
    int (*check)(const char *v, char *msg, size_t len);
} sim_setting;

typedef enum sim_setting_id {
#define SIM_SETTING(id, ...) SIM_SET_##id,
#define SIM_OPTION(id, ...) SIM_SET_##id,
#include "sim_settings.def"
#undef SIM_SETTING
#undef SIM_OPTION
    SIM_NSETTINGS
} sim_setting_id;

/* The experiment keys are the SIM_SETTING rows, first in the table: 0..SIM_NKEYS-1. */
enum {
#define SIM_SETTING(id, ...) SIM_KEY_##id,
#define SIM_OPTION(id, ...)
#include "sim_settings.def"
#undef SIM_SETTING
#undef SIM_OPTION
    SIM_NKEYS
};

/* Row id of the table (NULL if out of range). */
const sim_setting *sim_setting_get(int id);
/* The row whose experiment key is name (or whose option is name when option != 0); -1. */
int sim_setting_find(const char *name, int option);
/* The value names of an enum row ("a, b, c" or "a | b | c" with sep). */
void sim_setting_choices(const sim_setting *s, const char *sep, char *buf, size_t len);
/* Parse one value of row id into c (as its option does); 0, or -1 with the reason in err,
 * without the option's name. A flag takes "true"/"false" (or NULL: given). */
int sim_setting_parse(int id, const char *v, struct sim_config *c, char *err, size_t errlen);
/* Check one value of an experiment file: text, and num for numbers (NaN for strings): the
 * row's kind and range, its check hook, or its parse on a default config; 0 or -1 (msg). */
int sim_setting_check(int id, const char *text, double num, char *msg, size_t len);
/* The row's help line (its own, or the spellings of its models). */
void sim_setting_help(const sim_setting *s, char *buf, size_t len);
/* The row's range in words ("integer 1..256", "number in (0, 1]", "string", ...). */
void sim_setting_type_text(const sim_setting *s, char *buf, size_t len);
/* The docs/experiments.md table of settings (markdown), generated from the rows. */
void sim_settings_markdown(FILE *f);

/* Spec and value checks of the rows (experiment files: sim_setting_check). */
int sim_check_model(const char *v, char *msg, size_t len);
int sim_check_data(const char *v, char *msg, size_t len);
int sim_check_quant(const char *v, char *msg, size_t len);
int sim_check_optim(const char *v, char *msg, size_t len);
int sim_check_network(const char *v, char *msg, size_t len);
int sim_check_smpi_model(const char *v, char *msg, size_t len);
int sim_check_smpi_algorithm(const char *v, char *msg, size_t len);
int sim_check_allocator(const char *v, char *msg, size_t len);

void sim_config_default(sim_config *c);
/* Parse the trainer's command line (options after the program name). On error returns
 * nonzero with a message in err naming the option, and *setting (may be NULL) = the row id
 * of the setting it is about (-1: none, e.g. an unknown option). *help set when --help was
 * given. Counts are checked for overflow ("too large", never a wrapped value), --epochs is
 * finite and > 0, and the --quant, --model and --optim specs are parsed here (a bad spec is
 * an error before any work, even when no tensor would use the quantizer). */
int sim_config_parse_at(int argc, char **argv, sim_config *c, int *help, int *setting, char *err,
                        size_t errlen);
/* The same without the setting. */
int sim_config_parse(int argc, char **argv, sim_config *c, int *help, char *err, size_t errlen);
void sim_config_usage(FILE *f, const char *prog);
/* The resolved configuration as "key = value" lines, each prefixed by prefix. */
void sim_config_write(FILE *f, const sim_config *c, const char *prefix);

/* The compute model "throughput" needs the model: resolve c->throughput and
 * c->compute_sample_s from c->model and c->device (0), or -1 with the reason in err (not a
 * model that names a network, no measured throughput of that network on the device: the
 * message names the fallback, flops:DEVICE). Nothing to do (0) for the other models. Its
 * parse resolves what it can (the trainer's argv gives --model first); a configuration
 * parse calls this once every setting is read. */
int sim_compute_resolve(sim_config *c, char *err, size_t errlen);
/* Simulated seconds of one gradient computation. */
double sim_compute_seconds(const sim_config *c, double measured_s, double flops);
/* Simulated seconds of encoding or decoding `bytes` of gradient. */
double sim_codec_seconds(const sim_config *c, double measured_s, double bytes);

/* Real monotonic clock in seconds (not redirected by SMPI). */
double sim_wall(void);
/* Peak resident set size of this process in bytes. */
size_t sim_peak_rss(void);
/* Current resident memory by kind, from /proc/self/status (bytes; 0 if unavailable):
 * anonymous (private heap and stacks), file-backed and shared-memory pages. Shared pages
 * mapped several times (SMPI shared buffers) count once per mapping in RSS. */
void sim_rss_kinds(size_t *anon, size_t *file, size_t *shmem);

/* ---- the gradient message of one worker: grad_codec (models/grad_codec.h), the codec that
 * `qsgdsim train` uses too: layout, fp32 fallback, the overflow marker (GRAD_CODEC_EOVERFLOW:
 * a gradient that overflowed is sent as a marker every receiver decodes as the loss -inf). */

/* ---- stripes: 1-bit SGD's CNTK aggregation (the data side; MPI is the trainer's) ------- */
/* Messages: [loss or mean loss: float64][nbits of each tensor: uint32][payloads]. */
typedef struct sim_stripes {
    int K, me;
    size_t ntensors;
    size_t *rows, *cols, *off; /* [ntensors] shape (rows x cols) and offset of each tensor */
    size_t *c0;                /* [ntensors][K+1] column boundaries of the stripes */
    quant **q1;      /* [ntensors][K] first stage: this rank's quantizer (and residual) of each
                        stripe; also the decoder of any message about that stripe */
    quant **q2;      /* [ntensors] second stage: re-quantizes the average of my stripe */
    size_t max_msg;  /* bound on the K first-stage messages of one rank, together */
    size_t max_msg2; /* bound on one second-stage message */
    float *buf, *sum, *dec; /* [largest tensor] scratch */
} sim_stripes;

sim_stripes *sim_stripes_alloc(const model *m, const char *spec, size_t min_numel, int K, int me,
                               qsgd_err *err);
void sim_stripes_free(sim_stripes *s);
/* Stage 1: the K messages (message j = stripe j, for rank j) into out, laid out for
 * MPI_Alltoallv (counts/displs in bytes); *bits: bits sent to the other ranks.
 * GRAD_CODEC_EOVERFLOW: the gradient overflowed, the K messages are overflow markers. */
int sim_stripes_encode(sim_stripes *s, const float *grad, double loss, uint64_t seed, uint32_t step,
                       uint8_t *out, size_t cap_each, int *counts, int *displs, uint64_t *bits,
                       qsgd_err *err);
/* Stage 2 (owner): average my stripe over the K received messages, re-quantize it. A
 * received marker is passed on as a marker (QSGD_OK); GRAD_CODEC_EOVERFLOW: the average
 * overflowed and out holds a marker. */
int sim_stripes_reduce(sim_stripes *s, const uint8_t *in, const int *counts, const int *displs,
                       uint64_t seed, uint32_t step, uint8_t *out, size_t cap, size_t *len,
                       uint64_t *bits, qsgd_err *err);
/* Everyone: decode the K owners' second-stage messages into avg[nparams]; *loss = -inf if
 * one of them is an overflow marker. */
int sim_stripes_assemble(sim_stripes *s, const uint8_t *in, const int *counts, const int *displs,
                         float *avg, double *loss, qsgd_err *err);

/* ---- result files -------------------------------------------------------------------------- */
/* A TSV written as PATH.partial and renamed to PATH by sim_table_close: a file without the
 * .partial suffix is always complete. Every write is checked: a failure (full disk, EFBIG
 * under `ulimit -f`) is kept in errnum and reported by sim_table_error as "cannot write
 * PATH.partial: reason". */
typedef struct sim_table {
    FILE *f;
    char path[600];
    char partial[620];
    int errnum; /* errno of the first failed write (0: none) */
} sim_table;

int sim_table_open(sim_table *t, const char *dir, const char *name, char *err, size_t errlen);
/* printf into the table; 0, or -1 after a failed write (errnum set). */
int sim_table_printf(sim_table *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* fflush, and any earlier error of the stream (ferror): 0 or -1 (errnum set). */
int sim_table_flush(sim_table *t);
/* The failure of a table as "cannot write PATH.partial: reason" (after -1 from the above). */
void sim_table_error(const sim_table *t, char *err, size_t errlen);
/* status: a last comment line, e.g. "complete" or "diverged at iteration 12"; then close and
 * rename PATH.partial to PATH. Nonzero with the reason in err if any write, the close or the
 * rename failed: the file then stays PATH.partial (never renamed to look complete). */
int sim_table_close(sim_table *t, const char *status, char *err, size_t errlen);
/* A failed run: append "# status: STATUS" if that can be written, close, keep PATH.partial. */
void sim_table_abandon(sim_table *t, const char *status);

/* ---- the status file: the completion marker of a run ------------------------------------ */
/* DIR/status holds one line: "complete[: ...]", "diverged at iteration N (...)" or
 * "failed (CLASS): MESSAGE" (CLASS = qsgd_exit_name of the exit status). It is written last,
 * after every table is closed and renamed, through DIR/status.partial.TAG (TAG: the writer's
 * rank, so that ranks never share a temporary) renamed into place; DIR is created if needed.
 * 0, or nonzero with "cannot write ...: reason" in err. */
int sim_status_write(const char *dir, int tag, const char *line, char *err, size_t errlen);
/* Remove a stale DIR/status of an earlier run (none is fine); nonzero with the reason. */
int sim_status_clear(const char *dir, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
