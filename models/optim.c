/* optim.c — SGD with learning-rate schedules, momentum (heavy-ball / Nesterov) and weight
 * decay on a flat float32 vector; spec parsing and description. See optim.h for the math.
 */
#include "optim.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const schedule_names[] = {"constant", "step", "cosine", "invsqrt", "invt"};

const char *optim_schedule_name(optim_schedule s) {
    return (unsigned)s < sizeof schedule_names / sizeof *schedule_names ? schedule_names[s] : "?";
}

int optim_params_check(const optim_params *p, qsgd_err *err) {
    if (!(p->lr > 0) || !isfinite(p->lr))
        return QSGD_FAIL(err, QSGD_EINVAL, "optim: lr=%g must be > 0", p->lr);
    if (!(p->momentum >= 0 && p->momentum < 1))
        return QSGD_FAIL(err, QSGD_EINVAL, "optim: momentum=%g must be in [0, 1)", p->momentum);
    if (p->nesterov && p->momentum == 0)
        return QSGD_FAIL(err, QSGD_EINVAL, "optim: nesterov=1 needs momentum > 0");
    if (!(p->weight_decay >= 0) || !isfinite(p->weight_decay))
        return QSGD_FAIL(err, QSGD_EINVAL, "optim: wd=%g must be >= 0", p->weight_decay);
    switch (p->schedule) {
    case OPTIM_LR_CONSTANT:
        break;
    case OPTIM_LR_STEP:
        if (p->step_size == 0)
            return QSGD_FAIL(err, QSGD_EINVAL,
                             "optim: schedule=step needs step=N (steps "
                             "between decays)");
        if (!(p->gamma >= 0 && p->gamma <= 1))
            return QSGD_FAIL(err, QSGD_EINVAL, "optim: gamma=%g must be in (0, 1]", p->gamma);
        break;
    case OPTIM_LR_COSINE:
        if (p->total_steps <= p->warmup)
            return QSGD_FAIL(err, QSGD_EINVAL,
                             "optim: schedule=cosine needs total=N steps "
                             "> warmup (%zu)",
                             p->warmup);
        if (!(p->lr_min >= 0 && p->lr_min <= p->lr))
            return QSGD_FAIL(err, QSGD_EINVAL, "optim: lr_min=%g must be in [0, lr]", p->lr_min);
        break;
    case OPTIM_LR_INVSQRT:
    case OPTIM_LR_INVT:
        if (!(p->t0 >= 0) || !isfinite(p->t0))
            return QSGD_FAIL(err, QSGD_EINVAL, "optim: t0=%g must be >= 0", p->t0);
        break;
    default:
        return QSGD_FAIL(err, QSGD_EINVAL, "optim: unknown schedule %d", (int)p->schedule);
    }
    return QSGD_OK;
}

double optim_lr(const optim_params *p, size_t t) {
    if (p->warmup && t < p->warmup) {
        optim_params q = *p;
        q.warmup = 0;
        return optim_lr(&q, 0) * (double)(t + 1) / (double)p->warmup;
    }
    double tt = (double)(t - p->warmup);
    switch (p->schedule) {
    case OPTIM_LR_STEP: {
        double g = p->gamma == 0 ? 0.1 : p->gamma;
        return p->lr * pow(g, floor(tt / (double)(p->step_size ? p->step_size : 1)));
    }
    case OPTIM_LR_COSINE: {
        double T = (double)(p->total_steps > p->warmup ? p->total_steps - p->warmup : 1);
        double u = tt < T ? tt / T : 1.0;
        return p->lr_min + (p->lr - p->lr_min) * 0.5 * (1.0 + cos(M_PI * u));
    }
    case OPTIM_LR_INVSQRT:
        return p->lr / sqrt(1.0 + tt / (p->t0 > 0 ? p->t0 : 1.0));
    case OPTIM_LR_INVT:
        return p->lr / (1.0 + tt / (p->t0 > 0 ? p->t0 : 1.0));
    case OPTIM_LR_CONSTANT:
    default:
        return p->lr;
    }
}

optim *optim_alloc(size_t n, const optim_params *p, qsgd_err *err) {
    if (optim_params_check(p, err))
        return NULL;
    optim *o = calloc(1, sizeof *o);
    if (!o) {
        QSGD_FAIL(err, QSGD_ENOMEM, "optim: out of memory");
        return NULL;
    }
    o->p = *p;
    if (o->p.schedule == OPTIM_LR_STEP && o->p.gamma == 0)
        o->p.gamma = 0.1;
    o->n = n;
    if (p->momentum > 0) {
        o->v = calloc(n ? n : 1, sizeof *o->v);
        if (!o->v) {
            free(o);
            QSGD_FAIL(err, QSGD_ENOMEM, "optim: out of memory for %zu momentum values", n);
            return NULL;
        }
    }
    return o;
}

void optim_free(optim *o) {
    if (!o)
        return;
    free(o->v);
    free(o);
}

void optim_reset(optim *o) {
    if (o->v)
        memset(o->v, 0, o->n * sizeof *o->v);
}

double optim_step(optim *o, float *theta, const float *grad, size_t t) {
    double lr_d = optim_lr(&o->p, t);
    const float lr = (float)lr_d, wd = (float)o->p.weight_decay, mu = (float)o->p.momentum;
    const size_t n = o->n;
    float *restrict v = o->v;
    if (!v) { /* plain SGD */
        if (wd != 0.0f)
            for (size_t i = 0; i < n; i++)
                theta[i] -= lr * (grad[i] + wd * theta[i]);
        else
            for (size_t i = 0; i < n; i++)
                theta[i] -= lr * grad[i];
    } else if (o->p.nesterov) {
        for (size_t i = 0; i < n; i++) {
            float g = grad[i] + wd * theta[i];
            v[i] = mu * v[i] + g;
            theta[i] -= lr * (g + mu * v[i]);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float g = grad[i] + wd * theta[i];
            v[i] = mu * v[i] + g;
            theta[i] -= lr * v[i];
        }
    }
    return lr_d;
}

/* ---- spec strings ---------------------------------------------------------------------- */

static int num(const char *k, const char *v, double *out, qsgd_err *err) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x))
        return QSGD_FAIL(err, QSGD_EINVAL, "optim: %s=%s is not a number", k, v);
    *out = x;
    return QSGD_OK;
}

static int count(const char *k, const char *v, size_t *out, qsgd_err *err) {
    double x = 0;
    int rc = num(k, v, &x, err);
    if (rc)
        return rc;
    if (x < 0 || x != floor(x) || x > 1e15)
        return QSGD_FAIL(err, QSGD_EINVAL, "optim: %s=%s is not a non-negative integer", k, v);
    *out = (size_t)x;
    return QSGD_OK;
}

int optim_params_parse(const char *spec, optim_params *p, qsgd_err *err) {
    if (!spec)
        return QSGD_OK;
    const char *s = spec;
    if (!strncmp(s, "sgd:", 4))
        s += 4;
    else if (!strcmp(s, "sgd"))
        s += 3;
    char buf[1024];
    if (strlen(s) >= sizeof buf)
        return QSGD_FAIL(err, QSGD_EINVAL, "optim: spec too long");
    strcpy(buf, s);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return QSGD_FAIL(err, QSGD_EINVAL, "optim: '%s' is not key=value", tok);
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        int rc = QSGD_OK;
        double x = 0;
        if (!strcmp(k, "lr"))
            rc = num(k, v, &p->lr, err);
        else if (!strcmp(k, "schedule")) {
            int found = 0;
            for (size_t i = 0; i < sizeof schedule_names / sizeof *schedule_names; i++)
                if (!strcmp(v, schedule_names[i])) {
                    p->schedule = (optim_schedule)i;
                    found = 1;
                }
            if (!found)
                rc = QSGD_FAIL(err, QSGD_EINVAL,
                               "optim: schedule=%s (valid: constant, step, "
                               "cosine, invsqrt, invt)",
                               v);
        } else if (!strcmp(k, "gamma"))
            rc = num(k, v, &p->gamma, err);
        else if (!strcmp(k, "step") || !strcmp(k, "step_size"))
            rc = count(k, v, &p->step_size, err);
        else if (!strcmp(k, "total"))
            rc = count(k, v, &p->total_steps, err);
        else if (!strcmp(k, "lr_min"))
            rc = num(k, v, &p->lr_min, err);
        else if (!strcmp(k, "t0"))
            rc = num(k, v, &p->t0, err);
        else if (!strcmp(k, "warmup"))
            rc = count(k, v, &p->warmup, err);
        else if (!strcmp(k, "momentum") || !strcmp(k, "mu"))
            rc = num(k, v, &p->momentum, err);
        else if (!strcmp(k, "nesterov")) {
            rc = num(k, v, &x, err);
            p->nesterov = x != 0;
        } else if (!strcmp(k, "wd") || !strcmp(k, "weight_decay"))
            rc = num(k, v, &p->weight_decay, err);
        else
            rc = QSGD_FAIL(err, QSGD_EINVAL,
                           "optim: unknown key '%s' (valid: lr, schedule, "
                           "gamma, step, total, lr_min, t0, warmup, momentum, nesterov, wd)",
                           k);
        if (rc)
            return rc;
    }
    return QSGD_OK;
}

int optim_describe(const optim_params *p, char *buf, size_t len) {
    char sched[128] = "";
    switch (p->schedule) {
    case OPTIM_LR_STEP:
        snprintf(sched, sizeof sched, ",gamma=%g,step=%zu", p->gamma == 0 ? 0.1 : p->gamma,
                 p->step_size);
        break;
    case OPTIM_LR_COSINE:
        snprintf(sched, sizeof sched, ",total=%zu,lr_min=%g", p->total_steps, p->lr_min);
        break;
    case OPTIM_LR_INVSQRT:
    case OPTIM_LR_INVT:
        snprintf(sched, sizeof sched, ",t0=%g", p->t0 > 0 ? p->t0 : 1.0);
        break;
    default:
        break;
    }
    int k = snprintf(buf, len, "sgd:lr=%g,schedule=%s%s,warmup=%zu,momentum=%g,nesterov=%d,wd=%g",
                     p->lr, optim_schedule_name(p->schedule), sched, p->warmup, p->momentum,
                     p->nesterov, p->weight_decay);
    return k < 0 || (size_t)k >= len ? -1 : 0;
}
