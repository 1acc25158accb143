/* optim.h — SGD on a flat float32 parameter vector: learning-rate schedules (constant,
 * step decay, cosine, inverse square root, 1/t; optional linear warmup), heavy-ball or
 * Nesterov momentum, and L2 weight decay.
 *
 * The update (PyTorch's SGD convention, dampening 0), with g the (averaged, possibly
 * quantized) gradient at step t = 0, 1, ...:
 *     g' = g + wd * theta
 *     v  = mu * v + g'                      (v = g' at t = 0 when mu > 0, as v starts at 0)
 *     d  = nesterov ? g' + mu * v : v       (d = g' when mu = 0)
 *     theta = theta - lr(t) * d
 * All arithmetic on vectors is float32 in a fixed order (deterministic, no FMA contraction);
 * lr(t) is computed in double and rounded to float once per step. The state (velocity) is
 * allocated once in optim_alloc; optim_step never allocates.
 */
#ifndef QSGDSIM_OPTIM_H
#define QSGDSIM_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "qsgd_err.h" /* the one error type: qsgd_err, QSGD_OK, QSGD_E*, QSGD_FAIL */

#ifdef __cplusplus
extern "C" {
#endif

/* Learning-rate schedules; t counts steps after warmup (t' = t - warmup):
 *   constant  lr
 *   step      lr * gamma^floor(t' / step_size)
 *   cosine    lr_min + (lr - lr_min) * (1 + cos(pi * min(t', T) / T)) / 2,  T = total - warmup
 *   invsqrt   lr / sqrt(1 + t' / t0)
 *   invt      lr / (1 + t' / t0)          (the 1/t rate of strongly convex SGD theory)
 * warmup: lr(t) = lr(0) * (t + 1) / warmup for t < warmup. */
typedef enum optim_schedule {
    OPTIM_LR_CONSTANT = 0,
    OPTIM_LR_STEP = 1,
    OPTIM_LR_COSINE = 2,
    OPTIM_LR_INVSQRT = 3,
    OPTIM_LR_INVT = 4,
} optim_schedule;

typedef struct optim_params {
    double lr; /* base learning rate (> 0) */
    optim_schedule schedule;
    double gamma;        /* step: decay factor (0 -> 0.1) */
    size_t step_size;    /* step: steps between decays (required for step) */
    size_t total_steps;  /* cosine: length of the run in steps (required for cosine) */
    double lr_min;       /* cosine: final learning rate */
    double t0;           /* invsqrt / invt: time scale in steps (0 -> 1) */
    size_t warmup;       /* linear warmup steps (0 = none) */
    double momentum;     /* mu in [0, 1) */
    int nesterov;        /* 1 = Nesterov momentum (needs momentum > 0) */
    double weight_decay; /* L2 coefficient wd >= 0 added to the gradient */
} optim_params;

typedef struct optim {
    optim_params p;
    size_t n;
    float *v; /* [n] momentum buffer (NULL when momentum == 0) */
} optim;

/* Parse "sgd[:key=value,...]" (or just "key=value,...") into *p, starting from *p's values.
 * Keys: lr, schedule (constant|step|cosine|invsqrt|invt), gamma, step (step_size), total,
 * lr_min, t0, warmup, momentum (alias mu), nesterov (0|1), wd (alias weight_decay). */
int optim_params_parse(const char *spec, optim_params *p, qsgd_err *err);
/* Check p: lr > 0, momentum in [0,1), schedule parameters present. */
int optim_params_check(const optim_params *p, qsgd_err *err);
/* Canonical description, e.g. "sgd:lr=0.1,schedule=cosine,total=4690,lr_min=0,warmup=0,
 * momentum=0.9,nesterov=0,wd=0". */
int optim_describe(const optim_params *p, char *buf, size_t len);
const char *optim_schedule_name(optim_schedule s);

/* The learning rate at step t (0-based). */
double optim_lr(const optim_params *p, size_t t);

/* An optimizer for n parameters (validates p). NULL with err filled on failure. */
optim *optim_alloc(size_t n, const optim_params *p, qsgd_err *err);
void optim_free(optim *o);  /* NULL is fine */
void optim_reset(optim *o); /* zero the momentum buffer */
/* theta[n] -= lr(t) * direction(grad[n]) as documented above. Returns the lr used. */
double optim_step(optim *o, float *theta, const float *grad, size_t t);

#ifdef __cplusplus
}
#endif
#endif
