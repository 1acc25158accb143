/* model.c — the model registry, "name[:key=value,...]" spec parsing and describing (generic,
 * from each type's option table), model lifetime (alloc/free) and the BLAS thread helper
 * shared by all model types. */
#include "model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_cuda.h"
#include "nn_ops.h"
#include "qsgd_opt.h"

/* OpenBLAS extension; declared here so any cblas.h (or none) will do. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

extern const model_type model_type_leastsq;
extern const model_type model_type_logreg;
extern const model_type model_type_softmax;
extern const model_type model_type_mlp;
extern const model_type model_type_cnn;
extern const model_type model_type_profile;

/* The registry: adding a model is one file plus one line here. */
static const model_type *const registry[] = {
    &model_type_leastsq,
    &model_type_logreg,
    &model_type_softmax,
    &model_type_mlp,
    &model_type_cnn,
    &model_type_profile,
#ifdef QSGDSIM_EXTRA_MODEL_TYPES /* a variant build's extra registry lines (tests/extend/) */
    QSGDSIM_EXTRA_MODEL_TYPES,
#endif
    NULL,
};

const model_type *const *model_types(void) {
    return registry;
}

const model_type *model_type_find(const char *name) {
    if (!name)
        return NULL;
    for (size_t i = 0; registry[i]; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

void model_set_threads(int n) {
    openblas_set_num_threads(n < 1 ? 1 : n);
}

int model_get_threads(void) {
    return openblas_get_num_threads();
}

void model_params_default(model_params *p) {
    memset(p, 0, sizeof *p);
    p->hidden[0] = 256;
    p->hidden[1] = 128;
    p->nhidden = 2;
    p->channels[0] = 16;
    p->channels[1] = 32;
    p->nconv = 2;
    p->fc = 128;
    p->l2 = 0.0;
}

static void valid_names(char *buf, size_t len) {
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; registry[i] && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", registry[i]->name);
}

/* The option table of t: a CUDA twin (model_cuda.cu) has the CPU type's name and options
 * but may not carry the table, so ask the registry. */
static const qsgd_opt *type_opts(const model_type *t) {
    const model_type *cpu = t->opts ? t : model_type_find(t->name);
    return cpu ? cpu->opts : NULL;
}

int model_spec_parse(const char *spec, model_spec *out, qsgd_err *err) {
    char names[128];
    valid_names(names, sizeof names);
    memset(out, 0, sizeof *out);
    model_params_default(&out->params);
    if (!spec || !*spec)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "empty model spec (expected NAME[:key=value,...], "
                         "NAME one of %s)",
                         names);
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (nlen == 0 || nlen >= sizeof out->name)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "bad model spec '%s' (expected NAME[:key=value,...], NAME one of %s)",
                         spec, names);
    memcpy(out->name, spec, nlen);
    out->name[nlen] = '\0';
    const model_type *t = model_type_find(out->name);
    if (!t)
        return QSGD_FAIL(err, QSGD_EINVAL, "unknown model '%s' in spec '%s' (valid: %s)", out->name,
                         spec, names);
    char owner[64], msg[sizeof err->msg];
    snprintf(owner, sizeof owner, "model %s", t->name);
    /* the table's defaults agree with model_params_default (test_model_api checks it) */
    if (qsgd_opt_defaults(t->opts, &out->params, msg, sizeof msg) ||
        qsgd_opt_parse(t->opts, owner, colon ? colon + 1 : NULL, &out->params, NULL, msg,
                       sizeof msg)) {
        size_t ol = strlen(owner);
        int prefixed = strncmp(msg, owner, ol) == 0 && msg[ol] == ':';
        return QSGD_FAIL(err, QSGD_EINVAL, "%s%s%.200s", prefixed ? "" : owner,
                         prefixed ? "" : ": ", msg);
    }
    return QSGD_OK;
}

model *model_alloc(const char *name, const model_params *p, const data_shape *shape,
                   size_t max_batch, qsgd_err *err) {
    char names[128];
    const model_type *t = model_type_find(name);
    if (!t) {
        valid_names(names, sizeof names);
        QSGD_FAIL(err, QSGD_EINVAL, "unknown model '%s' (valid: %s)", name ? name : "(null)",
                  names);
        return NULL;
    }
    return model_alloc_type(t, p, shape, max_batch, err);
}

/* model_alloc for a given type table: the CPU types of the registry, or their CUDA twins
 * (model_device.c). Declared in model_cuda.h. */
model *model_alloc_type(const model_type *t, const model_params *p, const data_shape *shape,
                        size_t max_batch, qsgd_err *err) {
    if (!shape || shape->dim == 0) {
        QSGD_FAIL(err, QSGD_EINVAL, "model %s: data shape missing or dim == 0", t->name);
        return NULL;
    }
    if (p && (!isfinite(p->l2) || p->l2 < 0)) {
        QSGD_FAIL(err, QSGD_EINVAL, "model %s: l2 = %g, expected a finite number >= 0", t->name,
                  p->l2);
        return NULL;
    }
    if (max_batch == 0 || max_batch > (1u << 24)) {
        QSGD_FAIL(err, QSGD_EINVAL, "model %s: max_batch %zu not in [1, %u]", t->name, max_batch,
                  1u << 24);
        return NULL;
    }
    model *m = calloc(1, sizeof *m);
    if (!m) {
        QSGD_FAIL(err, QSGD_ENOMEM, "model %s: out of memory", t->name);
        return NULL;
    }
    m->type = t;
    if (p) {
        m->params = *p;
    } else { /* the type's table: its options in ext included */
        char msg[200];
        model_params_default(&m->params);
        if (qsgd_opt_defaults(type_opts(t), &m->params, msg, sizeof msg)) {
            QSGD_FAIL(err, QSGD_EINVAL, "model %s: %s", t->name, msg);
            free(m);
            return NULL;
        }
    }
    m->shape = *shape;
    m->max_batch = max_batch;
    m->on_gpu = 0;
    snprintf(m->device_desc, sizeof m->device_desc, "cpu"); /* a CUDA init overwrites both */
    if (t->init(m, shape, max_batch, err) != QSGD_OK) {
        model_free(m);
        return NULL;
    }
    return m;
}

model *model_alloc_spec(const char *spec, const data_shape *shape, size_t max_batch,
                        qsgd_err *err) {
    model_spec s;
    if (model_spec_parse(spec, &s, err) != QSGD_OK)
        return NULL;
    return model_alloc(s.name, &s.params, shape, max_batch, err);
}

void model_free(model *m) {
    if (!m)
        return;
    if (m->type && m->type->fini)
        m->type->fini(m);
    free(m->tensors);
    free(m);
}

size_t model_describe(const model *m, char *buf, size_t len) {
    if (!buf || len == 0)
        return 0;
    qsgd_opt_describe(type_opts(m->type), m->type->name, &m->params, buf, len); /* truncates */
    return strlen(buf);
}

int model_type_usage(const model_type *t, char *buf, size_t len) {
    return qsgd_opt_usage(type_opts(t), buf, len);
}

/* ---- devices (model_alloc_spec_on / _for live in model_device.c, so that programs that
 * never ask for a device, such as the SMPI trainer linked by hand from the static
 * libraries, do not pull in the CUDA backend and its libraries) ----------------------- */

static const char *const device_names[] = {"auto", "cpu", "cuda"};

int model_device_parse(const char *s, model_device *out, qsgd_err *err) {
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, device_names[i]) == 0) {
            if (out)
                *out = (model_device)i;
            return QSGD_OK;
        }
    return QSGD_FAIL(err, QSGD_EINVAL, "unknown device '%s' (valid: auto, cpu, cuda)",
                     s ? s : "(null)");
}

const char *model_device_name(model_device dev) {
    return (int)dev >= 0 && (int)dev < 3 ? device_names[dev] : "?";
}

const char *model_device_desc(const model *m) {
    if (!m)
        return "none";
    return m->device_desc[0] ? m->device_desc : "cpu";
}
