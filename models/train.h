/* train.h — single-worker training: a model (model.h) on a data spec (data.h) with SGD
 * (optim.h), optionally passing every gradient through a quantizer (quant.h) tensor by
 * tensor, as the distributed exchange will: gradient -> quant_encode -> quant_decode ->
 * optimizer. Prints a line per epoch and writes a TSV with '#' provenance lines and a last
 * "# status: ..." line (complete, or diverged: a diverged run keeps its TSV).
 *
 * The per-tensor codec is grad_codec (grad_codec.h), the distributed trainer's; the plan of a
 * run (its steps, the schedule's total) is train_plan_steps + train_schedule_resolve, which
 * the trainer calls too.
 */
#ifndef QSGDSIM_TRAIN_H
#define QSGDSIM_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qsgd_err.h" /* the one error type: qsgd_err, QSGD_OK, QSGD_E*, QSGD_FAIL */

#include "data.h"
#include "grad_codec.h"
#include "model.h"
#include "optim.h"
#include "quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tensors with fewer elements than this are sent uncompressed (fp32): grad_codec.h's
 * GRAD_CODEC_MIN_NUMEL, the default of --quant-min-numel everywhere. */
#define TRAIN_QUANT_MIN_NUMEL GRAD_CODEC_MIN_NUMEL

/* The most steps of one run: the quantizers' step counter (quant_ctx.step) is 32 bits, and two
 * steps with one counter would draw the same random numbers. */
#define TRAIN_MAX_STEPS 4294967295.0

/* --- the plan of a run: shared by `qsgdsim train` and the distributed trainer ----------- */
/* *steps = min(ceil(epochs x steps_per_epoch), max_steps (0: no limit)), computed in double
 * before any cast (a size_t product wraps); QSGD_EINVAL beyond TRAIN_MAX_STEPS, the message
 * naming --epochs and --max-steps. epochs > 0 and finite. */
int train_plan_steps(double epochs, size_t steps_per_epoch, size_t max_steps, size_t *steps,
                     qsgd_err *err);
/* What a schedule takes from the run, filled where p leaves it 0: cosine total_steps = steps
 * (the whole run); step step_size = decay_epochs epochs (<= 0: 1) of steps_per_epoch,
 * rounded, at least 1. Other fields and schedules are left as they are. */
void train_schedule_resolve(optim_params *p, size_t steps, size_t steps_per_epoch,
                            double decay_epochs);

/* --- training runs ------------------------------------------------------------------- */
typedef struct train_config {
    const char *model;      /* model spec, e.g. "mlp:hidden=256x128" */
    const char *data;       /* data spec (data_load_spec), e.g. "fmnist" */
    const char *quant;      /* quantizer spec or NULL/"none" (plain fp32 gradients); parsed
                               before any work, even if no tensor is large enough to use it */
    size_t quant_min_numel; /* tensors with fewer elements stay fp32; 0 = quantize every
                               tensor (TRAIN_QUANT_MIN_NUMEL is the paper's 10000) */
    size_t batch;           /* 0 -> 128 */
    double epochs;          /* 0 -> 1; may be fractional, as the trainer's --epochs (the last
                               epoch is then partial); epochs x steps per epoch is computed
                               in double and refused (QSGD_EINVAL) beyond TRAIN_MAX_STEPS */
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

/* Run the training described by cfg. res may be NULL; on QSGD_EDIVERGED it holds the epochs
 * completed before the divergence. */
int train_run(const train_config *cfg, train_result *res, qsgd_err *err);

#ifdef __cplusplus
}
#endif
#endif
