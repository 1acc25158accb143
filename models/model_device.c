/* model_device.c — device selection (model.h: model_alloc_spec_on, model_alloc_spec_for):
 * cpu, cuda or auto. Kept apart from model.c on purpose: only programs that ask for a device
 * link the CUDA backend (and need its libraries); the SMPI trainer, linked by hand from the
 * static libraries, calls model_alloc_spec and never pulls this file in. */
#include <stdio.h>
#include <string.h>

#include "gpu_device.h"
#include "model.h"
#include "model_cuda.h"
#include "nn_ops.h"

/* layout < 0: unknown (model_alloc_spec_on). */
static model *alloc_on(const char *spec, const data_shape *shape, int layout, size_t max_batch,
                       model_device dev, qsgd_err *err) {
    model_spec s;
    if (model_spec_parse(spec, &s, err) != QSGD_OK)
        return NULL;
    if (dev != MODEL_DEVICE_AUTO && dev != MODEL_DEVICE_CPU && dev != MODEL_DEVICE_CUDA) {
        QSGD_FAIL(err, QSGD_EINVAL, "model %s: unknown device %d (valid: auto, cpu, cuda)", s.name,
                  (int)dev);
        return NULL;
    }
    if (dev == MODEL_DEVICE_CPU)
        return model_alloc(s.name, &s.params, shape, max_batch, err);

    char why[200] = "";
    const model_type *gt = model_cuda_type(s.name, why, sizeof why);
    if (gt && layout == DATA_CSR) {
        gt = NULL;
        snprintf(why, sizeof why,
                 "model %s has no CUDA implementation for CSR (sparse) data; the CUDA models "
                 "take dense rows (densify the data, or use device cpu)",
                 s.name);
    }
    if (gt) {
        char gw[160] = "";
        if (gpu_device_count(gw, sizeof gw) <= 0) {
            gt = NULL;
            snprintf(why, sizeof why, "no usable CUDA GPU (%s)", gw);
        }
    }
    if (!gt) {
        if (dev == MODEL_DEVICE_CUDA) {
            QSGD_FAIL(err, QSGD_EINVAL, "device cuda: %s", why);
            return NULL;
        }
        return model_alloc(s.name, &s.params, shape, max_batch, err); /* auto: the CPU */
    }
    qsgd_err ge = {0};
    model *m = model_alloc_type(gt, &s.params, shape, max_batch, &ge);
    if (m || dev == MODEL_DEVICE_CUDA) {
        if (!m && err)
            *err = ge;
        return m;
    }
    /* auto: the CUDA model could not be built (e.g. GPU memory); the CPU one may be. If the
     * CPU one fails too (a bad shape fails both alike), its error is the one reported. */
    return model_alloc(s.name, &s.params, shape, max_batch, err);
}

model *model_alloc_spec_on(const char *spec, const data_shape *shape, size_t max_batch,
                           model_device dev, qsgd_err *err) {
    return alloc_on(spec, shape, -1, max_batch, dev, err);
}

model *model_alloc_spec_for(const char *spec, const dataset *d, size_t max_batch, model_device dev,
                            qsgd_err *err) {
    if (!d) {
        QSGD_FAIL(err, QSGD_EINVAL, "model '%s': NULL dataset", spec ? spec : "(null)");
        return NULL;
    }
    return alloc_on(spec, &d->shape, (int)d->layout, max_batch, dev, err);
}

int model_has_cuda(const char *name) {
    char why[200];
    return model_cuda_type(name, why, sizeof why) != NULL;
}
