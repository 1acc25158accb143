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

#include "model.h"
#include "quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- device profiles (compute model "flops") --------------------------------------------- */
typedef struct sim_device {
    const char *name;
    const char *summary;
    double peak_flops;  /* fp32 peak FLOP/s */
    double efficiency;  /* sustained fraction of peak for training GEMMs (assumption) */
    double codec_bytes_per_s; /* sustained encode/decode input bandwidth (assumption) */
} sim_device;

const sim_device *const *sim_devices(void); /* NULL-terminated */
const sim_device *sim_device_find(const char *name);

/* ---- exchange strategies ------------------------------------------------------------------ */
typedef enum sim_exchange {
    SIM_EX_ALLGATHER = 0, /* Algorithm 1: every encoded message reaches every worker */
    SIM_EX_ALLREDUCE = 1, /* dense fp32 sum */
    SIM_EX_PS = 2,        /* parameter server on rank 0 */
    SIM_EX_STRIPES = 3,   /* CNTK 1-bit SGD: column stripes, quantized twice */
} sim_exchange;

typedef struct sim_exchange_info {
    const char *name;
    const char *summary;
} sim_exchange_info;
const sim_exchange_info *sim_exchange_list(size_t *count);

typedef enum sim_compute_kind {
    SIM_COMPUTE_MEASURED = 0, /* real gradient time on this machine x factor */
    SIM_COMPUTE_FLOPS = 1,    /* model FLOPs per sample x batch / device sustained rate */
    SIM_COMPUTE_FIXED = 2,    /* fixed seconds per iteration */
} sim_compute_kind;

typedef enum sim_codec_kind {
    SIM_CODEC_MEASURED = 0, /* real encode/decode time x factor */
    SIM_CODEC_DEVICE = 1,   /* bytes / device codec bandwidth */
    SIM_CODEC_NONE = 2,     /* free */
} sim_codec_kind;

/* ---- run configuration -------------------------------------------------------------------- */
typedef struct sim_config {
    char model[160];   /* model spec */
    char data[320];    /* data spec (data_load_spec) */
    char quant[160];   /* quantizer spec */
    char optim[320];   /* optimizer spec (optim_params_parse) */
    sim_exchange exchange;
    int allreduce_mpi; /* allreduce: 0 = qsgdsim's own ring (fixed summation order, same bits
                          on every MPI), 1 = the MPI library's MPI_Allreduce */
    size_t quant_min_numel; /* tensors smaller than this are sent fp32 (default 10000) */
    size_t batch;      /* per worker */
    double epochs;     /* global epochs (every sample seen once per epoch across workers) */
    size_t max_steps;  /* 0 = no limit */
    uint64_t seed;
    sim_compute_kind compute;
    double compute_factor;  /* measured: multiply the real time */
    double compute_fixed;   /* fixed: seconds per iteration */
    const sim_device *device; /* flops / codec device */
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

void sim_config_default(sim_config *c);
/* Parse the trainer's command line (options after the program name). On error returns
 * nonzero with a message in err. *help set when --help was given. */
int sim_config_parse(int argc, char **argv, sim_config *c, int *help, char *err, size_t errlen);
void sim_config_usage(FILE *f, const char *prog);
/* The resolved configuration as "key = value" lines, each prefixed by prefix. */
void sim_config_write(FILE *f, const sim_config *c, const char *prefix);

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

/* ---- the gradient message of one worker ---------------------------------------------------- */
/* Layout (bytes): [loss: float64][nbits of tensor 0..T-1: uint32 each][payload of each
 * tensor, byte-aligned]. Tensors below the size threshold are fp32 quantized too (the
 * fp32 quantizer), so every tensor has a quantizer. All integers little-endian. The
 * header is counted in the bits sent. */
typedef struct sim_codec {
    size_t ntensors;
    quant **q;         /* [ntensors] */
    size_t *offset;    /* [ntensors] */
    size_t *numel;     /* [ntensors] */
    size_t max_bytes;  /* upper bound on one message */
    int fixed_size;    /* 1 if every message has the same length (no length exchange) */
    size_t nquantized; /* tensors with the requested quantizer (others fp32) */
    size_t quantized_numel;
    float *tmp;        /* [largest tensor] decode scratch */
} sim_codec;

sim_codec *sim_codec_alloc(const model *m, const char *spec, size_t min_numel, quant_err *err);
void sim_codec_free(sim_codec *c);
int sim_codec_describe(const sim_codec *c, char *buf, size_t len);
/* Encode grad[nparams] (+ loss) into msg[cap]; *len = bytes, *bits = exact bits of the
 * payloads + header. */
int sim_codec_encode(sim_codec *c, const float *grad, double loss, uint64_t seed,
                     uint32_t worker, uint32_t step, uint8_t *msg, size_t cap, size_t *len,
                     uint64_t *bits, quant_err *err);
/* acc[nparams] += decode(msg); *loss = the sender's loss. */
int sim_codec_decode_add(sim_codec *c, const uint8_t *msg, size_t len, float *acc,
                         double *loss, quant_err *err);

/* ---- stripes: 1-bit SGD's CNTK aggregation (the data side; MPI is the trainer's) ------- */
/* Messages: [loss or mean loss: float64][nbits of each tensor: uint32][payloads]. */
typedef struct sim_stripes {
    int K, me;
    size_t ntensors;
    size_t *rows, *cols, *off; /* [ntensors] shape (rows x cols) and offset of each tensor */
    size_t *c0;                /* [ntensors][K+1] column boundaries of the stripes */
    quant **q1;  /* [ntensors][K] first stage: this rank's quantizer (and residual) of each
                    stripe; also the decoder of any message about that stripe */
    quant **q2;  /* [ntensors] second stage: re-quantizes the average of my stripe */
    size_t max_msg;  /* bound on the K first-stage messages of one rank, together */
    size_t max_msg2; /* bound on one second-stage message */
    float *buf, *sum, *dec; /* [largest tensor] scratch */
} sim_stripes;

sim_stripes *sim_stripes_alloc(const model *m, const char *spec, size_t min_numel, int K, int me,
                               quant_err *err);
void sim_stripes_free(sim_stripes *s);
/* Stage 1: the K messages (message j = stripe j, for rank j) into out, laid out for
 * MPI_Alltoallv (counts/displs in bytes); *bits: bits sent to the other ranks. */
int sim_stripes_encode(sim_stripes *s, const float *grad, double loss, uint64_t seed,
                       uint32_t step, uint8_t *out, size_t cap_each, int *counts, int *displs,
                       uint64_t *bits, quant_err *err);
/* Stage 2 (owner): average my stripe over the K received messages, re-quantize it. */
int sim_stripes_reduce(sim_stripes *s, const uint8_t *in, const int *counts, const int *displs,
                       uint64_t seed, uint32_t step, uint8_t *out, size_t cap, size_t *len,
                       uint64_t *bits, quant_err *err);
/* Everyone: decode the K owners' second-stage messages into avg[nparams]. */
int sim_stripes_assemble(sim_stripes *s, const uint8_t *in, const int *counts, const int *displs,
                         float *avg, double *loss, quant_err *err);

/* Little-endian uint32 in message headers. */
static inline void sim_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t sim_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- result files -------------------------------------------------------------------------- */
/* A TSV written as PATH.partial and renamed to PATH by sim_table_close: a file without the
 * .partial suffix is always complete. */
typedef struct sim_table {
    FILE *f;
    char path[600];
    char partial[620];
} sim_table;

int sim_table_open(sim_table *t, const char *dir, const char *name, char *err, size_t errlen);
/* status: a last comment line, e.g. "complete" or "diverged at iteration 12". */
int sim_table_close(sim_table *t, const char *status);

#ifdef __cplusplus
}
#endif
#endif
