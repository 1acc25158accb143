/* model.c — the model registry, "name[:key=value,...]" spec parsing, model lifetime
 * (alloc/free) and the BLAS thread helper shared by all model types. */
#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_cuda.h"
#include "nn_ops.h"

/* OpenBLAS extension; declared here so any cblas.h (or none) will do. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

extern const model_type model_type_leastsq;
extern const model_type model_type_logreg;
extern const model_type model_type_softmax;
extern const model_type model_type_mlp;
extern const model_type model_type_cnn;
extern const model_type model_type_profile;
int model_profile_check_name(const char *name, char *valid, size_t len); /* model_profile.c */

/* The registry: adding a model is one file plus one line here. */
static const model_type *const registry[] = {
    &model_type_leastsq,
    &model_type_logreg,
    &model_type_softmax,
    &model_type_mlp,
    &model_type_cnn,
    &model_type_profile,
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

int model_fail(model_err *err, int code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
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

/* Is `key` (length klen) one of the options the type lists as "key=..." in t->options? */
static int option_accepted(const model_type *t, const char *key, size_t klen) {
    for (const char *p = t->options; p && (p = strstr(p, key)) != NULL; p++) {
        int start = p == t->options || p[-1] == ' ' || p[-1] == ',' || p[-1] == '(';
        if (start && p[klen] == '=')
            return 1;
    }
    return 0;
}

/* "256x128" -> sizes[0..*n), each in [1, 1<<24]. */
static int parse_sizes(const char *mname, const char *key, const char *val, size_t *sizes, int cap,
                       int *n, model_err *err) {
    int k = 0;
    const char *p = val;
    if (*p == '\0')
        goto bad;
    for (;;) {
        if (*p < '0' || *p > '9')
            goto bad;
        char *end;
        errno = 0;
        unsigned long v = strtoul(p, &end, 10);
        if (errno || v == 0 || v > (1ul << 24) || k == cap)
            goto bad;
        sizes[k++] = v;
        if (*end == '\0')
            break;
        if (*end != 'x' && *end != 'X')
            goto bad;
        p = end + 1;
    }
    *n = k;
    return MODEL_OK;
bad:
    return model_fail(err, MODEL_EINVAL,
                      "model %s: option %s='%s' is not a list of 1 to %d positive sizes "
                      "separated by 'x' (e.g. %s=256x128)",
                      mname, key, val, cap, key);
}

int model_spec_parse(const char *spec, model_spec *out, model_err *err) {
    char names[128];
    valid_names(names, sizeof names);
    memset(out, 0, sizeof *out);
    model_params_default(&out->params);
    if (!spec || !*spec)
        return model_fail(err, MODEL_EINVAL,
                          "empty model spec (expected NAME[:key=value,...], "
                          "NAME one of %s)",
                          names);
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (nlen == 0 || nlen >= sizeof out->name)
        return model_fail(err, MODEL_EINVAL,
                          "bad model spec '%s' (expected NAME[:key=value,...], NAME one of %s)",
                          spec, names);
    memcpy(out->name, spec, nlen);
    out->name[nlen] = '\0';
    const model_type *t = model_type_find(out->name);
    if (!t)
        return model_fail(err, MODEL_EINVAL, "unknown model '%s' in spec '%s' (valid: %s)",
                          out->name, spec, names);
    if (!colon || !colon[1])
        return MODEL_OK;

    char buf[512];
    if (strlen(colon + 1) >= sizeof buf)
        return model_fail(err, MODEL_EINVAL, "model spec '%s' is too long", spec);
    strcpy(buf, colon + 1);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok)
            return model_fail(err, MODEL_EINVAL,
                              "model %s: option '%s' is not key=value (accepted: %s)", t->name, tok,
                              t->options);
        *eq = '\0';
        const char *key = tok, *val = eq + 1;
        if (!option_accepted(t, key, strlen(key)))
            return model_fail(err, MODEL_EINVAL, "model %s has no option '%s' (accepted: %s)",
                              t->name, key, t->options);
        model_params *p = &out->params;
        int rc = MODEL_OK;
        if (strcmp(key, "hidden") == 0) {
            rc = parse_sizes(t->name, key, val, p->hidden, 8, &p->nhidden, err);
        } else if (strcmp(key, "channels") == 0) {
            rc = parse_sizes(t->name, key, val, p->channels, 4, &p->nconv, err);
        } else if (strcmp(key, "fc") == 0) {
            char *end;
            errno = 0;
            unsigned long v = strtoul(val, &end, 10);
            if (!*val || *val == '-' || errno || *end || v > (1ul << 24))
                return model_fail(err, MODEL_EINVAL,
                                  "model %s: option fc='%s' is not an integer in [0, %lu]", t->name,
                                  val, 1ul << 24);
            p->fc = v;
        } else if (strcmp(key, "l2") == 0) {
            char *end;
            errno = 0;
            double v = strtod(val, &end);
            if (!*val || errno || *end || !isfinite(v) || v < 0)
                return model_fail(err, MODEL_EINVAL,
                                  "model %s: option l2='%s' is not a finite number >= 0", t->name,
                                  val);
            p->l2 = v;
        } else if (strcmp(key, "name") == 0) {
            char valid[200];
            if (model_profile_check_name(val, valid, sizeof valid) ||
                strlen(val) >= sizeof p->profile)
                return model_fail(err, MODEL_EINVAL, "model %s: unknown name '%s' (valid: %s)",
                                  t->name, val, valid);
            snprintf(p->profile, sizeof p->profile, "%s", val);
        } else {
            /* listed in t->options but unknown to the parser: a bug in the type table */
            return model_fail(err, MODEL_EINVAL, "model %s: option '%s' is not parsed here",
                              t->name, key);
        }
        if (rc)
            return rc;
    }
    return MODEL_OK;
}

model *model_alloc(const char *name, const model_params *p, const data_shape *shape,
                   size_t max_batch, model_err *err) {
    char names[128];
    const model_type *t = model_type_find(name);
    if (!t) {
        valid_names(names, sizeof names);
        model_fail(err, MODEL_EINVAL, "unknown model '%s' (valid: %s)", name ? name : "(null)",
                   names);
        return NULL;
    }
    return model_alloc_type(t, p, shape, max_batch, err);
}

/* model_alloc for a given type table: the CPU types of the registry, or their CUDA twins
 * (model_device.c). Declared in model_cuda.h. */
model *model_alloc_type(const model_type *t, const model_params *p, const data_shape *shape,
                        size_t max_batch, model_err *err) {
    if (!shape || shape->dim == 0) {
        model_fail(err, MODEL_EINVAL, "model %s: data shape missing or dim == 0", t->name);
        return NULL;
    }
    if (p && (!isfinite(p->l2) || p->l2 < 0)) {
        model_fail(err, MODEL_EINVAL, "model %s: l2 = %g, expected a finite number >= 0", t->name,
                   p->l2);
        return NULL;
    }
    if (max_batch == 0 || max_batch > (1u << 24)) {
        model_fail(err, MODEL_EINVAL, "model %s: max_batch %zu not in [1, %u]", t->name, max_batch,
                   1u << 24);
        return NULL;
    }
    model *m = calloc(1, sizeof *m);
    if (!m) {
        model_fail(err, MODEL_ENOMEM, "model %s: out of memory", t->name);
        return NULL;
    }
    m->type = t;
    if (p)
        m->params = *p;
    else
        model_params_default(&m->params);
    m->shape = *shape;
    m->max_batch = max_batch;
    m->on_gpu = 0;
    snprintf(m->device_desc, sizeof m->device_desc, "cpu"); /* a CUDA init overwrites both */
    if (t->init(m, shape, max_batch, err) != MODEL_OK) {
        model_free(m);
        return NULL;
    }
    return m;
}

model *model_alloc_spec(const char *spec, const data_shape *shape, size_t max_batch,
                        model_err *err) {
    model_spec s;
    if (model_spec_parse(spec, &s, err) != MODEL_OK)
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

static size_t append(char *buf, size_t len, size_t off, const char *fmt, ...) {
    if (off >= len)
        return off;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + off, len - off, fmt, ap);
    va_end(ap);
    return k > 0 ? off + (size_t)k : off;
}

static size_t append_sizes(char *buf, size_t len, size_t off, const char *key, const size_t *v,
                           int n) {
    off = append(buf, len, off, "%s=", key);
    for (int i = 0; i < n; i++)
        off = append(buf, len, off, "%s%zu", i ? "x" : "", v[i]);
    return off;
}

size_t model_describe(const model *m, char *buf, size_t len) {
    if (!buf || len == 0)
        return 0;
    const model_params *p = &m->params;
    size_t off = append(buf, len, 0, "%s", m->type->name);
    if (option_accepted(m->type, "hidden", 6))
        off = append_sizes(buf, len, append(buf, len, off, ":"), "hidden", p->hidden, p->nhidden);
    if (option_accepted(m->type, "channels", 8)) {
        off = append_sizes(buf, len, append(buf, len, off, ":"), "channels", p->channels, p->nconv);
        off = append(buf, len, off, ",fc=%zu", p->fc);
    }
    if (option_accepted(m->type, "name", 4))
        off = append(buf, len, off, ":name=%s", p->profile);
    if (option_accepted(m->type, "l2", 2))
        off = append(buf, len, off, ":l2=%.17g", p->l2);
    return off < len ? off : len - 1;
}

/* ---- devices (model_alloc_spec_on / _for live in model_device.c, so that programs that
 * never ask for a device, such as the SMPI trainer linked by hand from the static
 * libraries, do not pull in the CUDA backend and its libraries) ----------------------- */

static const char *const device_names[] = {"auto", "cpu", "cuda"};

int model_device_parse(const char *s, model_device *out, model_err *err) {
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, device_names[i]) == 0) {
            if (out)
                *out = (model_device)i;
            return MODEL_OK;
        }
    return model_fail(err, MODEL_EINVAL, "unknown device '%s' (valid: auto, cpu, cuda)",
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
