/* model.h — public API of the objectives (models/): convex and neural models that compute
 * real losses and gradients on minibatches, found by name in a registry.
 *
 * Parameters are one flat float32 vector theta[nparams]; its tensor boundaries (name, shape,
 * offset) are exposed so the exchange can quantize per tensor. loss_grad writes the
 * minibatch-mean loss and gradient into caller buffers and never allocates: every workspace
 * is sized in model_alloc for the largest batch the caller announces. A model object is
 * used by one thread at a time (BLAS may use several threads inside one call); there is no
 * global mutable state. The same model object may be used with several datasets of the
 * same shape (train, test, shards).
 *
 * The registered models (spec "name[:key=value,...]"; tensors in theta order):
 *   leastsq  1/(2m) sum (a_i.x - y_i)^2 + l2/2 |x|^2; targets (nclass 0); dense or CSR.
 *            "w" {dim}. Zero init.                                       options: l2
 *   logreg   mean log(1+e^z) - y z + l2/2 |w|^2, z = a.w + b; labels {0,1} (nclass 2);
 *            dense or CSR. "w" {dim}, "b" {1}. Zero init.                options: l2
 *   softmax  mean softmax cross-entropy of W a + b, + l2/2 |W|^2; dense or CSR.
 *            "W" {nclass,dim}, "b" {nclass}. Zero init.                  options: l2
 *   mlp      ReLU MLP, softmax cross-entropy; dense. "fc1.w" {h1,dim}, "fc1.b" {h1}, ...,
 *            "fc<n+1>.w" {nclass,h_n}, "fc<n+1>.b". He init.             options: hidden
 *   cnn      [conv3x3 pad 1 -> ReLU -> maxpool 2x2]* -> fc -> ReLU -> linear; CHW images,
 *            dense. "conv<i>.w" {out,in,3,3}, "conv<i>.b", "fc1.w" {fc,feat}, "fc1.b",
 *            "out.w" {nclass,fc}, "out.b"; feat columns in HWC order. He init.
 *                                                               options: channels, fc
 *   profile  timing stand-in: the per-layer tensors and FLOPs of a published network
 *            (alexnet, alexnet-owt, alexnet-cntk, resnet50, resnet152, resnet110,
 *            resnet110-cntk, bn-inception, vgg19, lstm-an4; docs/profiles.md), pseudo-random
 *            gradients, synthetic loss, NaN accuracy; any data.   options: name, stride
 * Regularizers (l2) are part of the loss returned by loss_grad and evaluate; biases are not
 * regularized. CSR column indices must be < dim (the data readers guarantee it).
 * The gradients are checked against a double-precision reference in
 * tests/test_model_grad.c; tests/test_model_api.c covers the rest of this API.
 *
 * Devices (CPU or CUDA GPU), chosen at run time:
 *   model_alloc / model_alloc_spec always build the CPU model (OpenBLAS), as they always did.
 *   model_alloc_spec_on(spec, shape, max_batch, dev) and model_alloc_spec_for(spec, dataset,
 *   max_batch, dev) choose the device:
 *     MODEL_DEVICE_CPU   the CPU model.
 *     MODEL_DEVICE_CUDA  the CUDA model, or NULL with an error saying why not: built without
 *                        CUDA, no usable GPU, or no CUDA implementation for this model
 *                        (profile) or data layout (CSR: the CUDA models take dense rows only;
 *                        model_alloc_spec_for sees the layout, model_alloc_spec_on cannot, so
 *                        there a CSR dataset is refused by loss_grad/evaluate instead).
 *     MODEL_DEVICE_AUTO  the CUDA model when a GPU is present and the model (and, with
 *                        model_alloc_spec_for, the data layout) is supported, else the CPU
 *                        model, silently; also the CPU model if building the CUDA one fails
 *                        (e.g. out of GPU memory). m->device_desc says which one you got.
 *   A CUDA model is the same model_type interface with the same name, tensors, theta layout,
 *   init_params (the CPU code: theta is bit-identical), loss (l2 included) and minibatch-mean
 *   gradient; theta, grad, idx and datasets stay host memory. Each loss_grad uploads theta
 *   and the row indices on the model's own CUDA stream, gathers the rows on the GPU from a
 *   device copy of the dataset (uploaded the first time that dataset is seen; up to 4
 *   datasets cached per model, keyed by the dataset and x pointers, n and a sampled
 *   fingerprint of the values: do not modify rows in place while a model uses them),
 *   runs forward/backward with cuBLAS and deterministic kernels (no float atomics: the same
 *   call gives bit-identical results run to run on the same GPU and toolkit), downloads
 *   grad and the loss and synchronizes. evaluate works in chunks of max_batch rows. Every
 *   model object owns its stream, cuBLAS handle and workspaces (allocated once in
 *   model_alloc), so many models (e.g. virtual workers in one process) share a GPU without
 *   global state; each entry point selects its device first. The GPU is device 0 (pick
 *   another with CUDA_VISIBLE_DEVICES).
 *   Precision: cuBLAS runs in CUBLAS_PEDANTIC_MATH (true fp32: no TF32 or bf16x9
 *   emulation, whatever the environment says) and the kernels are compiled without FMA
 *   contraction, so the CUDA gradients match the fp32 CPU ones to rounding (relative
 *   differences ~1e-6; tests/test_cuda_models.c). QSGDSIM_CUDA_MATH=default|tf32 in the
 *   environment selects cuBLAS's default math or TF32 tensor cores instead (faster,
 *   less exact; for experiments only).
 */
#ifndef QSGDSIM_MODEL_H
#define QSGDSIM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "qsgd_err.h" /* the one error type: qsgd_err, QSGD_OK, QSGD_E*, QSGD_FAIL */

#include "data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MODEL_MAX_DIMS 4
/* One parameter tensor: theta[offset .. offset + numel), row-major with the given shape.
 * For a weight matrix of a layer mapping in -> out the shape is {out, in}. */
typedef struct model_tensor {
    char name[32];
    int ndim;
    size_t shape[MODEL_MAX_DIMS];
    size_t offset, numel;
} model_tensor;

/* Options of a model, parsed from "name[:key=value,...]" (model_spec_parse); unused fields
 * are ignored by models that have no such option. */
typedef struct model_params {
    size_t hidden[8]; /* mlp: hidden layer sizes, e.g. hidden=256x128 */
    int nhidden;
    size_t channels[4]; /* cnn: conv channels per conv block, e.g. channels=16x32 */
    int nconv;
    size_t fc;        /* cnn: width of the fully connected hidden layer (0 = none) */
    double l2;        /* logreg/softmax/leastsq: L2 regularization lambda (in the loss) */
    char profile[32]; /* profile: network whose layer shapes are simulated, name=resnet50
                         ("" = resnet50; models/model_profile.c lists them) */
    /* Options of every other type: each keeps its own options struct in this space, so a
     * new model is one file (its struct, its option rows, its type table) and one registry
     * line, and this header does not change. Rows address a field with
     * MODEL_EXT_OFFSET(struct, field); code reads it with MODEL_EXT(params, struct);
     * MODEL_EXT_FITS(struct) checks at compile time that it fits. */
    union {
        unsigned char bytes[128];
        double d_;   /* alignment for any scalar field */
        uint64_t u_; /* ditto */
        void *p_;    /* ditto */
    } ext;
} model_params;

#define MODEL_EXT_OFFSET(type, field) (offsetof(model_params, ext) + offsetof(type, field))
#define MODEL_EXT(params, type) ((type *)(void *)(params)->ext.bytes)
#define MODEL_EXT_CONST(params, type) ((const type *)(const void *)(params)->ext.bytes)
#define MODEL_EXT_FITS(type)                                                                       \
    _Static_assert(sizeof(type) <= sizeof(((model_params *)0)->ext.bytes),                         \
                   #type " does not fit in model_params.ext")

typedef struct model_spec {
    char name[32];
    model_params params;
} model_spec;

typedef struct model model;
struct qsgd_opt; /* an option row (common/qsgd_opt.h) */

typedef struct model_type {
    const char *name;
    const char *summary; /* one line */
    /* Check the dataset shape fits the model (e.g. labels binary for logreg, image shape for
     * cnn), fill m->tensors/ntensors/nparams, allocate m->impl workspaces for max_batch. */
    int (*init)(model *m, const data_shape *shape, size_t max_batch, qsgd_err *err);
    void (*fini)(model *m);
    /* Deterministic initialization from seed (e.g. He/Glorot from a seeded GSL rng). */
    void (*init_params)(const model *m, float *theta, uint64_t seed);
    /* Mean loss over rows idx[0..batch) of d (regularizer included) and its gradient
     * grad[nparams]. batch <= max_batch. */
    int (*loss_grad)(model *m, const float *theta, const dataset *d, const size_t *idx,
                     size_t batch, double *loss, float *grad, qsgd_err *err);
    /* Mean loss and accuracy (fraction correct; for leastsq accuracy is NaN) over all rows. */
    int (*evaluate)(model *m, const float *theta, const dataset *d, double *loss, double *accuracy,
                    qsgd_err *err);
    /* Forward + backward FLOPs for one sample (for the compute-time model). */
    double (*flops_per_sample)(const model *m);
    /* The options: rows {name, kind, offsetof(model_params, field), range, default, help}
     * ending with a row whose name is NULL (qsgd_opt.h); NULL = none. model_spec_parse,
     * model_describe, model_type_usage and `qsgdsim list models` are generated from it. */
    const struct qsgd_opt *opts;
    /* OPTIONAL (NULL: none): for the compute model "throughput" (sim.h), the network whose
     * measured throughput this model is scaled from ("resnet50"; a variant names the measured
     * network it is scaled from: vgg19 -> "vgg16") into *net, and the model's forward MACs per
     * sample into *macs, from the options alone (nothing is built); 0, or -1 with the reason
     * in err. */
    int (*throughput_ref)(const model_params *p, const char **net, double *macs, qsgd_err *err);
    /* OPTIONAL (NULL: none): the option whose value, as written in a spec, is the spec's
     * short figure label (`qsgdsim plot`): profile's "name", so "profile:name=resnet50" is
     * "resnet50". Without it, or when the spec does not give it, the label is the spec. */
    const char *label_opt;
    /* 1: a timing stand-in (profile): real tensor shapes and FLOPs, pseudo-random gradients,
     * a synthetic loss and NaN accuracy, so its loss curves mean nothing (`qsgdsim plot`
     * skips them). 0: the loss and gradients are real. */
    int timing_only;
    /* Which CUDA implementation (model_cuda.cu) computes this type's loss_grad/evaluate on
     * a GPU, MODEL_CUDA_NONE (0, the default) when there is none: the CUDA backend picks
     * its kernels and lists its models from this field, never from the name. */
    int cuda;
} model_type;

/* model_type.cuda: the layer structures model_cuda.cu implements (their order is the
 * backend's: the GLMs first). */
enum {
    MODEL_CUDA_NONE = 0,
    MODEL_CUDA_LEASTSQ = 1, /* x.w, squared loss, no bias */
    MODEL_CUDA_LOGREG = 2,  /* x.w + b, logistic loss on labels {0,1} */
    MODEL_CUDA_SOFTMAX = 3, /* W x + b, softmax cross-entropy */
    MODEL_CUDA_MLP = 4,     /* fc1 .. fcN with ReLU, softmax cross-entropy */
    MODEL_CUDA_CNN = 5,     /* conv3x3-ReLU-maxpool2 blocks, optional fc1, out */
};

struct model {
    const model_type *type;
    model_params params;
    data_shape shape; /* of the data the model was built for */
    size_t max_batch;
    size_t nparams;
    model_tensor *tensors; /* [ntensors], owned */
    size_t ntensors;
    void *impl;
    int on_gpu;           /* 1: a CUDA model (type is the CUDA twin of the CPU type) */
    char device_desc[96]; /* "cpu" or e.g. "cuda:0 NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)" */
};

const model_type *const *model_types(void); /* NULL-terminated */
const model_type *model_type_find(const char *name);
int model_spec_parse(const char *spec, model_spec *out, qsgd_err *err);
model *model_alloc(const char *name, const model_params *p, const data_shape *shape,
                   size_t max_batch, qsgd_err *err);
model *model_alloc_spec(const char *spec, const data_shape *shape, size_t max_batch, qsgd_err *err);
void model_free(model *m); /* NULL is fine */

/* ---- additions (models engineer) ----------------------------------------------------
 * Defaults of every option: hidden=256x128, channels=16x32, fc=128, l2=0. model_spec_parse
 * starts from these. model_alloc takes p as given (p == NULL: the defaults), except that
 * nhidden == 0 (mlp) and nconv == 0 (cnn) also mean the defaults; fc == 0 means no fc
 * hidden layer. After model_alloc, m->params holds the options actually used. */
void model_params_default(model_params *p);
/* Canonical spec of a built model, e.g. "mlp:hidden=256x128", for provenance lines: the
 * name, then every option of the type's table in row order; returns the string length
 * (truncated to len-1). */
size_t model_describe(const model *m, char *buf, size_t len);
/* The type's usage line generated from its options, "hidden=AxB..." ("none" without any);
 * 0, or -1 when truncated. Per-option help: qsgd_opt_print_help(f, t->opts, indent). */
int model_type_usage(const model_type *t, char *buf, size_t len);
/* Threads used by OpenBLAS inside loss_grad/evaluate (process-wide; the library never sets
 * it by itself: the caller decides). */
void model_set_threads(int n);
int model_get_threads(void);

/* ---- devices (see the header comment) ---------------------------------------------- */
typedef enum model_device {
    MODEL_DEVICE_AUTO = 0, /* the GPU when present and supported, else the CPU */
    MODEL_DEVICE_CPU = 1,
    MODEL_DEVICE_CUDA = 2, /* the GPU or an error */
} model_device;
/* "auto" | "cpu" | "cuda" -> *out; QSGD_EINVAL listing the choices otherwise. */
int model_device_parse(const char *s, model_device *out, qsgd_err *err);
/* "auto", "cpu", "cuda" ("?" for other values). */
const char *model_device_name(model_device dev);
/* Build spec's model on dev (model_alloc_spec semantics otherwise). */
model *model_alloc_spec_on(const char *spec, const data_shape *shape, size_t max_batch,
                           model_device dev, qsgd_err *err);
/* The same for the dataset d the model will be used with (its shape and its layout: CSR data
 * has no CUDA implementation, so cuda fails and auto picks the CPU). */
model *model_alloc_spec_for(const char *spec, const dataset *d, size_t max_batch, model_device dev,
                            qsgd_err *err);
/* 1 if this build has a CUDA version of the model type called name (whether or not a GPU
 * is present: gpu_device_count). */
int model_has_cuda(const char *name);
/* m->device_desc: "cpu" or "cuda:0 <GPU name> (sm_XY, N GiB)". */
const char *model_device_desc(const model *m);

#ifdef __cplusplus
}
#endif
#endif
