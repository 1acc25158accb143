/* train.h — single-worker training: a model (model.h) on a data spec (data.h) with SGD
 * (optim.h), optionally passing every gradient through a quantizer (quant.h) tensor by
 * tensor, as the distributed exchange will: gradient -> quant_encode -> quant_decode ->
 * optimizer. Prints a line per epoch and writes a TSV with '#' provenance lines and a last
 * "# status: ..." line (complete, or diverged: a diverged run keeps its TSV).
 *
 * The per-tensor codec (train_codec) is public so that the simulator can reuse it.
 */
#ifndef QSGDSIM_TRAIN_H
#define QSGDSIM_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "data.h"
#include "model.h"
#include "optim.h"
#include "quant.h"

#ifdef __cplusplus
extern "C" {
#endif

enum train_status {
    TRAIN_OK = 0,
    TRAIN_EINVAL = 1, /* bad configuration (spec, option, a count that does not fit) */
    TRAIN_ENOMEM = 2,
    TRAIN_EIO = 3,       /* the output file could not be written (what was written is kept) */
    TRAIN_EDIVERGED = 4, /* loss or gradient became NaN or infinite (the TSV is kept, marked) */
    TRAIN_EDATA = 5,     /* data file missing, unreadable or malformed */
    TRAIN_EINTERNAL = 6, /* a bug: a quantizer refused a finite gradient or its own message */
};

typedef struct train_err {
    int code;
    char msg[640];
} train_err;

/* Tensors with fewer elements than this are sent uncompressed (fp32), as in the QSGD
 * paper's experiments ("matrices under 10K elements"): the default of `qsgdsim train
 * --quant-min` and of the trainer's --quant-min-numel. */
#define TRAIN_QUANT_MIN_NUMEL 10000

/* The most steps of one run: the quantizers' step counter (quant_ctx.step) is 32 bits. */
#define TRAIN_MAX_STEPS 4294967295.0

/* --- per-tensor gradient codec ---------------------------------------------------------- */
typedef struct train_codec {
    size_t ntensors;
    quant **q;      /* [ntensors]; NULL: tensor sent as raw fp32 (32 bits per value) */
    size_t *offset; /* [ntensors] into the flat vector */
    size_t *numel;  /* [ntensors] */
    uint8_t *buf;   /* [cap] encode buffer, sized for the largest tensor */
    size_t cap;
    size_t nquantized;      /* tensors with a quantizer */
    size_t quantized_numel; /* parameters in those tensors */
} train_codec;

/* One quantizer per tensor of m with numel >= min_numel (0: every tensor, as in the trainer),
 * shaped rows = shape[0], cols = the product of the other dimensions. spec NULL, "" or
 * "none": no tensor is quantized (the codec then copies). */
train_codec *train_codec_alloc(const model *m, const char *spec, size_t min_numel, train_err *err);
void train_codec_free(train_codec *c); /* NULL is fine */
/* out[nparams] = decode(encode(grad)) tensor by tensor with quant_ctx {seed, worker, step,
 * tensor index}; *bits = total message bits (32 per value for fp32 tensors). out may not
 * alias grad. Never allocates. TRAIN_EDIVERGED if a tensor (+ residual) is not finite or its
 * norm overflows float (the quantizer refuses it: the training diverged), TRAIN_EINTERNAL
 * for any other refusal. */
int train_codec_roundtrip(train_codec *c, const float *grad, float *out, uint64_t seed,
                          uint32_t worker, uint32_t step, uint64_t *bits, train_err *err);
/* e.g. "qsgd:s=127,bucket=512,norm=l2,format=dense on 3 of 6 tensors (99.6% of params)". */
int train_codec_describe(const train_codec *c, char *buf, size_t len);

/* --- training runs ------------------------------------------------------------------- */
typedef struct train_config {
    const char *model;      /* model spec, e.g. "mlp:hidden=256x128" */
    const char *data;       /* data spec (data_load_spec), e.g. "fmnist" */
    const char *quant;      /* quantizer spec or NULL/"none" (plain fp32 gradients); parsed
                               before any work, even if no tensor is large enough to use it */
    size_t quant_min_numel; /* tensors with fewer elements stay fp32; 0 = quantize every
                               tensor (TRAIN_QUANT_MIN_NUMEL is the paper's 10000) */
    size_t batch;           /* 0 -> 128 */
    size_t epochs;          /* 0 -> 1; epochs x steps per epoch is computed without overflow
                               and refused (TRAIN_EINVAL) beyond TRAIN_MAX_STEPS */
    size_t max_steps;       /* stop after this many steps (0 = no limit) */
    optim_params optim;     /* cosine total_steps = 0 -> the whole run; step schedule
                               step_size = 0 -> decay_epochs epochs */
    double decay_epochs;    /* step schedule: epochs between decays (used if step_size 0) */
    uint64_t seed;          /* data order, init, synthetic data, quantizer randomness */
    int threads;            /* OpenBLAS threads (0 = leave as is) */
    model_device device;    /* where gradients are computed: auto (0: the GPU when present and
                               the model/data have a CUDA version), cpu, cuda */
    const char *out_tsv;    /* per-epoch TSV, written to OUT.tmp.PID and renamed at the end or
                               on divergence; on a write failure (or any failure after some
                               epochs) the temp file stays, named in the message; NULL = none */
    const char *provenance; /* extra provenance lines (without '#'), '\n'-separated */
    FILE *log;              /* per-epoch progress lines; NULL = silent */
} train_config;

/* One row of the TSV / one progress line. Epoch 0 is the initial model. */
typedef struct train_epoch {
    size_t epoch, step;
    double lr;                  /* learning rate of the last step */
    double train_loss;          /* mean minibatch loss over the epoch (epoch 0: NaN) */
    double test_loss, test_acc; /* test_acc NaN for regression */
    double seconds;             /* cumulative training wall time (evaluation excluded) */
    double eval_seconds;        /* wall time of this evaluation */
    double bits_per_step;       /* mean message bits of one gradient over the epoch */
} train_epoch;

typedef struct train_result {
    train_epoch first, last; /* epoch 0 and the final epoch */
    size_t nparams, steps;
    double seconds; /* total training time (evaluation excluded) */
} train_result;

/* Run the training described by cfg. res may be NULL; on TRAIN_EDIVERGED it holds the epochs
 * completed before the divergence. */
int train_run(const train_config *cfg, train_result *res, train_err *err);

#ifdef __cplusplus
}
#endif
#endif
