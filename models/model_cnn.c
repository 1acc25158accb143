/* model_cnn.c — small convnet for CHW images with softmax cross-entropy:
 *   per entry of channels=C1xC2...: conv3x3 (pad 1, stride 1) -> ReLU -> maxpool 2x2/2
 *   then (fc > 0) fully connected fc -> ReLU, then linear -> nclass.
 * Defaults channels=16x32, fc=128 (28x28x1 -> 14x14x16 -> 7x7x32 -> 128 -> 10).
 * Tensors conv<i>.w {out, in, 3, 3} (PyTorch order), conv<i>.b {out}, fc1.w {fc, feat},
 * fc1.b, out.w {nclass, fc or feat}, out.b. Internally activations are HWC, so the
 * flattened feature index of fc1.w / out.w columns is (y*W + x)*C + c (channels fastest).
 *
 * Convolution = im2col + one OpenBLAS sgemm over chunk*H*W pixels (a chunk of images at a
 * time so the im2col buffer stays in cache; recomputed in the backward pass rather than
 * stored); bias + ReLU + pooling is one fused pass that keeps the argmax for backward.
 * Init: He normal (std sqrt(2/fan_in)) for conv and fc layers, LeCun normal for the output
 * layer, zero biases, from a GSL mt19937 seeded with the seed. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_ops.h"
#include "qsgd_opt.h"

#define CNN_MAX_CONV 4
/* Images per im2col/GEMM chunk: the conv GEMMs have M = chunk*H*W rows. */
#define CNN_CHUNK 16

typedef struct conv_layer {
    size_t cin, cout, H, W; /* input channels, output channels, spatial size (in = out) */
    size_t woff, boff;      /* theta offsets of conv.w and conv.b */
    float *wg, *dwg;        /* [cout][9*cin] weights / gradient in GEMM order */
    float *db;              /* [cout] per-chunk bias gradient */
    float *out, *dout;      /* [max_batch][H/2][W/2][cout] pooled output and its gradient */
    uint8_t *arg;           /* [max_batch][H/2][W/2][cout] argmax in each window */
} conv_layer;

typedef struct cnn {
    int nconv;
    conv_layer cv[CNN_MAX_CONV];
    size_t feat, fc, ncls;   /* flattened features, fc width (0 = none), classes */
    size_t fcw, fcb, ow, ob; /* theta offsets */
    size_t chunk;
    float *x0;     /* [max_batch][H][W][C] input in HWC */
    float *col;    /* [chunk*H*W][9*cin] largest over layers */
    float *z;      /* [chunk*H*W][cout] conv output / its gradient */
    float *h, *dh; /* [max_batch][fc] */
    float *logits; /* [max_batch][ncls] */
    int32_t *lab;
    size_t *idx;
} cnn;

static int cnn_init(model *m, const data_shape *shape, size_t max_batch, qsgd_err *err) {
    model_params *p = &m->params;
    model_params def;
    model_params_default(&def);
    if (p->nconv == 0) {
        memcpy(p->channels, def.channels, sizeof p->channels);
        p->nconv = def.nconv;
    }
    if (shape->nclass < 2)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "model cnn needs class labels (nclass >= 2), data has nclass=%d",
                         shape->nclass);
    if (shape->channels == 0 || shape->height == 0 || shape->width == 0 ||
        shape->channels * shape->height * shape->width != shape->dim)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "model cnn needs image data (channels*height*width == dim), data has "
                         "%zux%zux%zu, dim %zu",
                         shape->channels, shape->height, shape->width, shape->dim);
    if (p->nconv < 1 || p->nconv > CNN_MAX_CONV)
        return QSGD_FAIL(err, QSGD_EINVAL, "model cnn: %d conv blocks, expected 1 to %d", p->nconv,
                         CNN_MAX_CONV);
    cnn *s = calloc(1, sizeof *s);
    if (!s)
        return QSGD_FAIL(err, QSGD_ENOMEM, "model cnn: out of memory");
    m->impl = s;
    s->nconv = p->nconv;
    s->fc = p->fc;
    s->ncls = (size_t)shape->nclass;
    s->chunk = max_batch < CNN_CHUNK ? max_batch : CNN_CHUNK;
    size_t C = shape->channels, H = shape->height, W = shape->width;
    size_t colmax = 0, zmax = 0;
    for (int l = 0; l < s->nconv; l++) {
        conv_layer *c = &s->cv[l];
        if (H < 2 || W < 2)
            return QSGD_FAIL(err, QSGD_EINVAL,
                             "model cnn: image %zux%zux%zu too small for %d 2x2 poolings",
                             shape->channels, shape->height, shape->width, s->nconv);
        if (p->channels[l] == 0)
            return QSGD_FAIL(err, QSGD_EINVAL, "model cnn: conv block %d has 0 channels", l + 1);
        c->cin = C;
        c->cout = p->channels[l];
        c->H = H;
        c->W = W;
        if (9 * C > colmax / (H * W) && 9 * C * H * W > colmax)
            colmax = 9 * C * H * W;
        if (c->cout * H * W > zmax)
            zmax = c->cout * H * W;
        C = c->cout;
        H /= 2;
        W /= 2;
    }
    s->feat = C * H * W;
    int rc = nn_tensors_begin(m, 2 * (size_t)s->nconv + 4, err);
    if (rc)
        return rc;
    for (int l = 0; l < s->nconv; l++) {
        conv_layer *c = &s->cv[l];
        char name[32];
        snprintf(name, sizeof name, "conv%d.w", l + 1);
        c->woff = nn_tensor_add(m, name, 4, c->cout, c->cin, 3, 3);
        snprintf(name, sizeof name, "conv%d.b", l + 1);
        c->boff = nn_tensor_add(m, name, 1, c->cout, 0, 0, 0);
    }
    size_t last = s->feat;
    if (s->fc) {
        s->fcw = nn_tensor_add(m, "fc1.w", 2, s->fc, s->feat, 0, 0);
        s->fcb = nn_tensor_add(m, "fc1.b", 1, s->fc, 0, 0, 0);
        last = s->fc;
    }
    s->ow = nn_tensor_add(m, "out.w", 2, s->ncls, last, 0, 0);
    s->ob = nn_tensor_add(m, "out.b", 1, s->ncls, 0, 0, 0);

    s->x0 = nn_falloc(max_batch * shape->dim);
    s->col = nn_falloc(s->chunk * colmax);
    s->z = nn_falloc(s->chunk * zmax);
    s->logits = nn_falloc(max_batch * s->ncls);
    s->lab = nn_alloc(max_batch * sizeof *s->lab);
    s->idx = nn_alloc(max_batch * sizeof *s->idx);
    if (!s->x0 || !s->col || !s->z || !s->logits || !s->lab || !s->idx)
        goto oom;
    if (s->fc &&
        (!(s->h = nn_falloc(max_batch * s->fc)) || !(s->dh = nn_falloc(max_batch * s->fc))))
        goto oom;
    for (int l = 0; l < s->nconv; l++) {
        conv_layer *c = &s->cv[l];
        size_t pooled = max_batch * (c->H / 2) * (c->W / 2) * c->cout;
        c->wg = nn_falloc(c->cout * 9 * c->cin);
        c->dwg = nn_falloc(c->cout * 9 * c->cin);
        c->db = nn_falloc(c->cout);
        c->out = nn_falloc(pooled);
        c->dout = nn_falloc(pooled);
        c->arg = nn_alloc(pooled);
        if (!c->wg || !c->dwg || !c->db || !c->out || !c->dout || !c->arg)
            goto oom;
    }
    return QSGD_OK;
oom:
    return QSGD_FAIL(err, QSGD_ENOMEM, "model cnn: out of memory for batch %zu workspaces",
                     max_batch);
}

static void cnn_fini(model *m) {
    cnn *s = m->impl;
    if (!s)
        return;
    for (int l = 0; l < CNN_MAX_CONV; l++) {
        conv_layer *c = &s->cv[l];
        free(c->wg);
        free(c->dwg);
        free(c->db);
        free(c->out);
        free(c->dout);
        free(c->arg);
    }
    free(s->x0);
    free(s->col);
    free(s->z);
    free(s->h);
    free(s->dh);
    free(s->logits);
    free(s->lab);
    free(s->idx);
    free(s);
    m->impl = NULL;
}

static void fill_gauss(gsl_rng *r, float *w, size_t n, double sd) {
    for (size_t i = 0; i < n; i++)
        w[i] = (float)gsl_ran_gaussian_ziggurat(r, sd);
}

static void cnn_init_params(const model *m, float *theta, uint64_t seed) {
    const cnn *s = m->impl;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) {
        fprintf(stderr, "%s:%d: model cnn: cannot allocate the GSL rng\n", __FILE__, __LINE__);
        abort();
    }
    gsl_rng_set(r, (unsigned long)seed);
    memset(theta, 0, m->nparams * sizeof(float));
    for (int l = 0; l < s->nconv; l++) {
        const conv_layer *c = &s->cv[l];
        fill_gauss(r, theta + c->woff, c->cout * c->cin * 9, sqrt(2.0 / (9.0 * c->cin)));
    }
    size_t last = s->feat;
    if (s->fc) {
        fill_gauss(r, theta + s->fcw, s->fc * s->feat, sqrt(2.0 / (double)s->feat));
        last = s->fc;
    }
    fill_gauss(r, theta + s->ow, s->ncls * last, sqrt(1.0 / (double)last));
    gsl_rng_free(r);
}

static const float *conv_input(const cnn *s, int l) {
    return l == 0 ? s->x0 : s->cv[l - 1].out;
}

/* Logits of rows idx into s->logits. */
static void cnn_forward(cnn *s, const model *m, const float *theta, const dataset *d,
                        const size_t *idx, size_t B) {
    nn_gather_chw_to_hwc(s->x0, d->x, idx, B, m->shape.channels, m->shape.height, m->shape.width);
    for (int l = 0; l < s->nconv; l++) {
        conv_layer *c = &s->cv[l];
        const size_t K = 9 * c->cin, hw = c->H * c->W, ohw = (c->H / 2) * (c->W / 2);
        const float *in = conv_input(s, l);
        nn_conv_w_to_gemm(c->wg, theta + c->woff, c->cout, c->cin);
        for (size_t b0 = 0; b0 < B; b0 += s->chunk) {
            size_t nb = B - b0 < s->chunk ? B - b0 : s->chunk;
            nn_im2col3x3_hwc(s->col, in + b0 * hw * c->cin, nb, c->H, c->W, c->cin);
            nn_sgemm('N', 'T', nb * hw, c->cout, K, 1.0f, s->col, K, c->wg, K, 0.0f, s->z, c->cout);
            nn_pool2_bias_relu_hwc(c->out + b0 * ohw * c->cout, c->arg + b0 * ohw * c->cout, s->z,
                                   theta + c->boff, nb, c->H, c->W, c->cout);
        }
    }
    const float *f = s->cv[s->nconv - 1].out;
    size_t last = s->feat;
    if (s->fc) {
        nn_linear_forward(s->h, f, theta + s->fcw, theta + s->fcb, B, s->feat, s->fc, 1);
        f = s->h;
        last = s->fc;
    }
    nn_linear_forward(s->logits, f, theta + s->ow, theta + s->ob, B, last, s->ncls, 0);
}

/* s->logits holds d loss / d logits; writes grad. */
static void cnn_backward(cnn *s, const float *theta, float *grad, size_t B) {
    conv_layer *top = &s->cv[s->nconv - 1];
    const float *f = top->out;
    if (s->fc) {
        nn_linear_backward(grad + s->ow, grad + s->ob, s->dh, s->logits, s->h, theta + s->ow, B,
                           s->fc, s->ncls);
        nn_relu_backward(s->dh, s->h, B * s->fc);
        nn_linear_backward(grad + s->fcw, grad + s->fcb, top->dout, s->dh, f, theta + s->fcw, B,
                           s->feat, s->fc);
    } else {
        nn_linear_backward(grad + s->ow, grad + s->ob, top->dout, s->logits, f, theta + s->ow, B,
                           s->feat, s->ncls);
    }
    for (int l = s->nconv - 1; l >= 0; l--) {
        conv_layer *c = &s->cv[l];
        const size_t K = 9 * c->cin, hw = c->H * c->W, ohw = (c->H / 2) * (c->W / 2);
        const float *in = conv_input(s, l);
        float *gb = grad + c->boff;
        memset(gb, 0, c->cout * sizeof(float));
        for (size_t b0 = 0; b0 < B; b0 += s->chunk) {
            size_t nb = B - b0 < s->chunk ? B - b0 : s->chunk;
            size_t po = b0 * ohw * c->cout;
            nn_pool2_bias_relu_hwc_backward(s->z, c->db, c->dout + po, c->out + po, c->arg + po, nb,
                                            c->H, c->W, c->cout);
            for (size_t k = 0; k < c->cout; k++)
                gb[k] += c->db[k];
            nn_im2col3x3_hwc(s->col, in + b0 * hw * c->cin, nb, c->H, c->W, c->cin);
            nn_sgemm('T', 'N', c->cout, K, nb * hw, 1.0f, s->z, c->cout, s->col, K,
                     b0 ? 1.0f : 0.0f, c->dwg, K);
            if (l > 0) {
                nn_sgemm('N', 'N', nb * hw, K, c->cout, 1.0f, s->z, c->cout, c->wg, K, 0.0f, s->col,
                         K);
                nn_col2im3x3_hwc(s->cv[l - 1].dout + b0 * hw * c->cin, s->col, nb, c->H, c->W,
                                 c->cin);
            }
        }
        nn_conv_w_from_gemm(grad + c->woff, c->dwg, c->cout, c->cin);
    }
}

static int cnn_loss_grad(model *m, const float *theta, const dataset *d, const size_t *idx,
                         size_t batch, double *loss, float *grad, qsgd_err *err) {
    cnn *s = m->impl;
    int rc = nn_check_data(m, d, 0, err);
    if (rc)
        return rc;
    if (batch == 0 || batch > m->max_batch)
        return QSGD_FAIL(err, QSGD_EINVAL, "model cnn: batch %zu not in [1, %zu]", batch,
                         m->max_batch);
    if ((rc = nn_gather_labels(s->lab, d, idx, batch, m->shape.nclass, err)))
        return rc;
    cnn_forward(s, m, theta, d, idx, batch);
    double sum =
        nn_softmax_xent(s->logits, s->logits, s->lab, batch, s->ncls, 1.0f / (float)batch, NULL);
    cnn_backward(s, theta, grad, batch);
    *loss = sum / (double)batch;
    return QSGD_OK;
}

static int cnn_evaluate(model *m, const float *theta, const dataset *d, double *loss,
                        double *accuracy, qsgd_err *err) {
    cnn *s = m->impl;
    int rc = nn_check_data(m, d, 0, err);
    if (rc)
        return rc;
    double sum = 0.0;
    size_t correct = 0;
    for (size_t start = 0; start < d->n; start += m->max_batch) {
        size_t B = d->n - start < m->max_batch ? d->n - start : m->max_batch;
        nn_iota(s->idx, start, B);
        if ((rc = nn_gather_labels(s->lab, d, s->idx, B, m->shape.nclass, err)))
            return rc;
        cnn_forward(s, m, theta, d, s->idx, B);
        sum += nn_softmax_xent(NULL, s->logits, s->lab, B, s->ncls, 0.0f, &correct);
    }
    *loss = d->n ? sum / (double)d->n : 0.0;
    if (accuracy)
        *accuracy = d->n ? (double)correct / (double)d->n : NAN;
    return QSGD_OK;
}

/* FLOPs per sample. A conv block on an HxW input with G = 2*9*cin*cout*H*W (its GEMM):
 * forward G + H*W*cout (3 compares per 4 inputs, + bias and ReLU per pooled output),
 * backward G (weight gradient) + G (input gradient, not for the first block) + H*W*cout
 * (scatter, mask, bias gradient). Dense layers as in the mlp: forward G + 2*out,
 * backward 2G (G for the output layer's input gradient too) + 2*out. Plus 6*nclass for
 * softmax cross-entropy. Default on 1x28x28, 10 classes: 7,120,720 (test_model_api). */
static double cnn_flops(const model *m) {
    const cnn *s = m->impl;
    double f = 6.0 * (double)s->ncls;
    for (int l = 0; l < s->nconv; l++) {
        const conv_layer *c = &s->cv[l];
        double hw = (double)(c->H * c->W), g = 2.0 * 9.0 * c->cin * c->cout * hw;
        f += 2.0 * g + (l > 0 ? g : 0.0) + 2.0 * hw * c->cout;
    }
    double last = (double)s->feat;
    if (s->fc) {
        double g = 2.0 * last * s->fc;
        f += 3.0 * g + 4.0 * s->fc;
        last = (double)s->fc;
    }
    f += 3.0 * 2.0 * last * s->ncls + 2.0 * s->ncls;
    return f;
}

static const qsgd_opt cnn_opts[] = {
    {.name = "channels",
     .kind = QSGD_OPT_SIZES,
     .offset = offsetof(model_params, channels),
     .count_offset = offsetof(model_params, nconv),
     .len = sizeof(((model_params *)0)->channels) / sizeof(size_t),
     .min = 1,
     .max = 1u << 24,
     .def = "16x32",
     .help = "conv channels per block, 1 to 4 blocks"},
    {.name = "fc",
     .kind = QSGD_OPT_SIZE,
     .offset = offsetof(model_params, fc),
     .max = 1u << 24,
     .def = "128",
     .help = "width of the fc hidden layer (0 = none)"},
    {.name = NULL},
};

const model_type model_type_cnn = {
    .name = "cnn",
    .summary = "convnet [conv3x3-ReLU-maxpool2]xN, optional fc-ReLU, linear; CHW images",
    .init = cnn_init,
    .fini = cnn_fini,
    .init_params = cnn_init_params,
    .loss_grad = cnn_loss_grad,
    .evaluate = cnn_evaluate,
    .flops_per_sample = cnn_flops,
    .opts = cnn_opts,
    .cuda = MODEL_CUDA_CNN,
};
