/* model_profile.c — "profile" models for timing studies: the real per-layer parameter
 * tensors and forward+backward FLOPs of a published network (AlexNet in three variants,
 * ResNet-50/152, ResNet-110 for CIFAR-10, BN-Inception, VGG19, the paper's AN4 LSTM), with a
 * cheap deterministic pseudo-random gradient instead of real backpropagation. Only the sizes
 * matter: what is sent, and how long a step computes. docs/profiles.md tabulates them.
 *
 * Spec: profile:name=NET[,stride=v1.5|v1] (default resnet50; stride= only for the bottleneck
 * ResNets, see net_resnet). The data spec is ignored (any shape works,
 * e.g. synth-logreg:n=4096,dim=8); one "sample" is one image (CNNs) or one 20-frame
 * segment (LSTM; see profile_nets).
 *
 * FLOPs: every multiply-accumulate of a conv/fc/LSTM matrix product is 2 FLOPs and the
 * backward pass costs twice the forward (gradients w.r.t. inputs and weights), so
 * flops_per_sample = 3 x 2 x forward MACs; BN, ReLU, pooling and LSTM gate nonlinearities
 * are not counted (<2% of the total). The MACs are computed from the layer table below
 * (output size x kernel volume); the published counts they reproduce are in the table of
 * networks (profile_nets).
 *
 * Gradient: tensor values are N(0, 0.01^2) (the scale of real late-training gradients)
 * read from a pool of 2^16 draws of a GSL mt19937 seeded with the experiment seed, at an
 * offset that depends on (seed, call number, first sample index), and a sign, per tensor:
 * deterministic for the same seed and call sequence, and memcpy-fast (the pool stays in
 * cache: tens of ms for 60M parameters). The loss is a
 * synthetic, slowly decreasing 2.3 / sqrt(1 + calls / 100); evaluate returns the last such
 * loss and NaN accuracy (there is nothing to classify). */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_ops.h"
#include "qsgd_opt.h"

#define PROF_POOL_BITS 16
#define PROF_POOL (1u << PROF_POOL_BITS)
#define PROF_GRAD_STD 0.01

/* ---- layer table builder --------------------------------------------------------------- */
typedef struct prof_build {
    model *m; /* NULL: only count (sizes pass) */
    size_t ntensors, nparams;
    double macs;   /* forward multiply-accumulates per sample */
    int stride_v1; /* bottleneck ResNets: the stride on the first 1x1 conv (net_resnet) */
} prof_build;

static void add_tensor(prof_build *b, const char *name, int ndim, size_t d0, size_t d1, size_t d2,
                       size_t d3) {
    size_t dims[4] = {d0, d1, d2, d3}, n = 1;
    for (int i = 0; i < ndim; i++)
        n *= dims[i];
    if (b->m)
        nn_tensor_add(b->m, name, ndim, d0, d1, d2, d3);
    b->ntensors++;
    b->nparams += n;
}

/* k x k convolution in -> out channels producing an hw x hw map; weight {out,in,k,k}. */
static void conv(prof_build *b, const char *name, size_t out, size_t in, size_t k, size_t hw,
                 int bias) {
    char t[40];
    snprintf(t, sizeof t, "%.24s.w", name);
    add_tensor(b, t, 4, out, in, k, k);
    if (bias) {
        snprintf(t, sizeof t, "%.24s.b", name);
        add_tensor(b, t, 1, out, 0, 0, 0);
    }
    b->macs += (double)hw * hw * out * in * k * k;
}

/* batch normalization: learnable scale and shift (running statistics are not parameters). */
static void bnorm(prof_build *b, const char *name, size_t c) {
    char t[40];
    snprintf(t, sizeof t, "%.24s.gamma", name);
    add_tensor(b, t, 1, c, 0, 0, 0);
    snprintf(t, sizeof t, "%.24s.beta", name);
    add_tensor(b, t, 1, c, 0, 0, 0);
}

/* fully connected in -> out with bias; weight {out,in}. */
static void fc(prof_build *b, const char *name, size_t out, size_t in) {
    char t[40];
    snprintf(t, sizeof t, "%.24s.w", name);
    add_tensor(b, t, 2, out, in, 0, 0);
    snprintf(t, sizeof t, "%.24s.b", name);
    add_tensor(b, t, 1, out, 0, 0, 0);
    b->macs += (double)out * in;
}

/* LSTM layer with peepholes and a recurrent projection (LSTMP, Sak et al. 2014, the CNTK
 * speech recipes' cell): W_x {4c,in}, W_h {4c,p}, b {4c}, peepholes {3,c}, proj {p,c}. */
static void lstmp(prof_build *b, const char *name, size_t in, size_t c, size_t p) {
    char t[40];
    snprintf(t, sizeof t, "%.24s.wx", name);
    add_tensor(b, t, 2, 4 * c, in, 0, 0);
    snprintf(t, sizeof t, "%.24s.wh", name);
    add_tensor(b, t, 2, 4 * c, p, 0, 0);
    snprintf(t, sizeof t, "%.24s.b", name);
    add_tensor(b, t, 1, 4 * c, 0, 0, 0);
    snprintf(t, sizeof t, "%.24s.peep", name);
    add_tensor(b, t, 2, 3, c, 0, 0);
    snprintf(t, sizeof t, "%.24s.proj", name);
    add_tensor(b, t, 2, p, c, 0, 0);
    b->macs += 4.0 * c * (in + p) + (double)p * c; /* per frame */
}

/* AlexNet, Krizhevsky et al. 2012 channel widths 96-256-384-384-256 without the two-GPU
 * grouping (one GPU), 227x227 input: 62.38M parameters, the paper's "62M". */
static void net_alexnet(prof_build *b) {
    conv(b, "conv1", 96, 3, 11, 55, 1);
    conv(b, "conv2", 256, 96, 5, 27, 1);
    conv(b, "conv3", 384, 256, 3, 13, 1);
    conv(b, "conv4", 384, 384, 3, 13, 1);
    conv(b, "conv5", 256, 384, 3, 13, 1);
    fc(b, "fc6", 4096, 256 * 6 * 6);
    fc(b, "fc7", 4096, 4096);
    fc(b, "fc8", 1000, 4096);
}

/* AlexNet, the one-GPU "one weird trick" variant (Krizhevsky 2014, arXiv:1404.5997) as in
 * torchvision (and CNTK's old NDL example, Examples/Image/Classification/AlexNet/AlexNet.ndl,
 * not the one the paper ran: see net_alexnet_cntk): 64-192-384-256-256, 61.10M parameters. */
static void net_alexnet_owt(prof_build *b) {
    conv(b, "conv1", 64, 3, 11, 55, 1);
    conv(b, "conv2", 192, 64, 5, 27, 1);
    conv(b, "conv3", 384, 192, 3, 13, 1);
    conv(b, "conv4", 256, 384, 3, 13, 1);
    conv(b, "conv5", 256, 256, 3, 13, 1);
    fc(b, "fc6", 4096, 256 * 6 * 6);
    fc(b, "fc7", 4096, 4096);
    fc(b, "fc8", 1000, 4096);
}

/* AlexNet as CNTK 2.0 trains it, the network the paper ran: microsoft/CNTK
 * Examples/Image/Classification/AlexNet/BrainScript/AlexNet_ImageNet.cntk (stored commit
 * 08ae3b79), 227x227x3 input, ConvolutionalLayer {96, (11:11), stride 4, pad=false} ->
 * 55x55, 3x3/2 max pool -> 27, {192, (5:5), pad} -> 27, pool -> 13, {384,(3:3)}, {384,(3:3)},
 * {256,(3:3)} at 13, pool -> 6, DenseLayer 4096, 4096, LinearLayer 1000, every layer with a
 * bias: 62,003,496 parameters, 0.986 GMACs (the 62.0M, ~0.99 GMAC). Its two LRN
 * layers hold a 5-element ParameterTensor each with learningRateMultiplier = 0: CNTK does not
 * update or aggregate those (no gradient is sent), so they are not tensors here. */
static void net_alexnet_cntk(prof_build *b) {
    conv(b, "conv1", 96, 3, 11, 55, 1);
    conv(b, "conv2", 192, 96, 5, 27, 1);
    conv(b, "conv3", 384, 192, 3, 13, 1);
    conv(b, "conv4", 384, 384, 3, 13, 1);
    conv(b, "conv5", 256, 384, 3, 13, 1);
    fc(b, "fc6", 4096, 256 * 6 * 6);
    fc(b, "fc7", 4096, 4096);
    fc(b, "fc8", 1000, 4096);
}

/* ResNet with bottleneck blocks (He et al. 2016), 224x224 input, convs without bias + BN.
 * Where the stride of a stage's first block sits changes the MACs, not the parameters:
 *   v1.5 (default; torchvision, the study's numbers so far): on the block's 3x3 conv, so its
 *        first 1x1 conv runs at the stage's input resolution;
 *   v1   (stride=v1; He et al. 2016 and CNTK, the variant the paper ran): on the first 1x1
 *        conv. CNTK's ResNet50_ImageNet1K.cntk and ResNet152_ImageNet1K.cntk (microsoft/CNTK
 *        Examples/Image/Classification/ResNet/BrainScript/) set "stride1x1 = (2:2)",
 *        "stride3x3 = (1:1)" for ResNetBottleneckInc, whose Macros.bs says: "One can reduce
 *        the size either at the first 1x1 convolution by specifying stride1x1=(2:2) (original
 *        paper), or at the 3x3 convolution by specifying stride3x3=(2:2) (Facebook
 *        re-implementation)". v1 saves 3 x 77,070,336 MACs (stages 2-4: 128x256 at 56^2 - 28^2,
 *        256x512 at 28^2 - 14^2, 512x1024 at 14^2 - 7^2). */
static void net_resnet(prof_build *b, const int blocks[4]) {
    conv(b, "conv1", 64, 3, 7, 112, 0);
    bnorm(b, "bn1", 64);
    size_t in = 64, in_hw = 56; /* after the 3x3/2 max pool */
    static const size_t planes[4] = {64, 128, 256, 512}, hws[4] = {56, 28, 14, 7};
    char n[40];
    for (int s = 0; s < 4; s++) {
        size_t p = planes[s], hw = hws[s];
        for (int k = 0; k < blocks[s]; k++) {
            snprintf(n, sizeof n, "l%d.%d.conv1", s + 1, k);
            conv(b, n, p, in, 1, k == 0 && !b->stride_v1 ? in_hw : hw, 0);
            snprintf(n, sizeof n, "l%d.%d.bn1", s + 1, k);
            bnorm(b, n, p);
            snprintf(n, sizeof n, "l%d.%d.conv2", s + 1, k);
            conv(b, n, p, p, 3, hw, 0);
            snprintf(n, sizeof n, "l%d.%d.bn2", s + 1, k);
            bnorm(b, n, p);
            snprintf(n, sizeof n, "l%d.%d.conv3", s + 1, k);
            conv(b, n, 4 * p, p, 1, hw, 0);
            snprintf(n, sizeof n, "l%d.%d.bn3", s + 1, k);
            bnorm(b, n, 4 * p);
            if (k == 0) {
                snprintf(n, sizeof n, "l%d.%d.down", s + 1, k);
                conv(b, n, 4 * p, in, 1, hw, 0);
                snprintf(n, sizeof n, "l%d.%d.down.bn", s + 1, k);
                bnorm(b, n, 4 * p);
            }
            in = 4 * p;
        }
        in_hw = hw;
    }
    fc(b, "fc", 1000, 2048);
}

static void net_resnet50(prof_build *b) {
    static const int blocks[4] = {3, 4, 6, 3};
    net_resnet(b, blocks);
}

static void net_resnet152(prof_build *b) {
    static const int blocks[4] = {3, 8, 36, 3};
    net_resnet(b, blocks);
}

/* ResNet-110 for CIFAR-10 (He et al. 2016 §4.2): 32x32x3 input, a 3x3 conv to 16 channels,
 * three stages of 18 basic blocks (two 3x3 convs + BN each) at 16, 32, 64 channels on 32x32,
 * 16x16, 8x8 maps (the first conv of stages 2 and 3 has stride 2), global average pool, fc 10.
 *   proj = 0: option A, the paper's (zero-padded identity shortcut, no parameters):
 *             1,727,962 parameters, 252.9M MACs; 24.3% of the parameters (419,290: every BN,
 *             the first conv, the fc and every conv of stages 1 and 2, at most 9,216 elements
 *             each) sit in tensors under 10,000 elements.
 *   proj = 1: CNTK's example, the one the paper ran (microsoft/CNTK
 *             Examples/Image/Classification/ResNet/BrainScript/ResNet110_CIFAR10.cntk with
 *             Macros.bs: ResNetBasicInc's shortcut is "ConvBNLayer {outChannels, (1:1),
 *             stride ...}", i.e. option B): + a 1x1 conv + BN where the width doubles,
 *             1,730,714 parameters, 253.1M MACs, 24.4% under 10,000 elements. */
static void net_resnet_cifar(prof_build *b, int n, int proj) {
    conv(b, "conv1", 16, 3, 3, 32, 0);
    bnorm(b, "bn1", 16);
    static const size_t planes[3] = {16, 32, 64}, hws[3] = {32, 16, 8};
    size_t in = 16;
    char t[40];
    for (int s = 0; s < 3; s++) {
        size_t p = planes[s], hw = hws[s];
        for (int k = 0; k < n; k++) {
            snprintf(t, sizeof t, "s%d.%d.conv1", s + 1, k);
            conv(b, t, p, in, 3, hw, 0);
            snprintf(t, sizeof t, "s%d.%d.bn1", s + 1, k);
            bnorm(b, t, p);
            snprintf(t, sizeof t, "s%d.%d.conv2", s + 1, k);
            conv(b, t, p, p, 3, hw, 0);
            snprintf(t, sizeof t, "s%d.%d.bn2", s + 1, k);
            bnorm(b, t, p);
            if (proj && in != p) {
                snprintf(t, sizeof t, "s%d.%d.down", s + 1, k);
                conv(b, t, p, in, 1, hw, 0);
                snprintf(t, sizeof t, "s%d.%d.down.bn", s + 1, k);
                bnorm(b, t, p);
            }
            in = p;
        }
    }
    fc(b, "fc", 10, 64);
}

static void net_resnet110(prof_build *b) {
    net_resnet_cifar(b, 18, 0);
}

static void net_resnet110_cntk(prof_build *b) {
    net_resnet_cifar(b, 18, 1);
}

/* conv without bias + BN, the unit of BN-Inception. */
static void convbn(prof_build *b, const char *name, size_t out, size_t in, size_t k, size_t hw) {
    char t[40];
    conv(b, name, out, in, k, hw, 0);
    snprintf(t, sizeof t, "%.20s.bn", name);
    bnorm(b, t, out);
}

/* One BN-Inception module on an hw x hw map of `in` channels (n1 = 0: the stride-2
 * "pass-through" module, whose 3x3 and second double-3x3 convs have stride 2 and whose max
 * pool passes the input channels through). Returns the output channels. */
static size_t inception(prof_build *b, const char *name, size_t in, size_t hw, size_t n1, size_t r3,
                        size_t n3, size_t rd, size_t nd, size_t np) {
    char t[40];
    int pass = n1 == 0;
    size_t out_hw = pass ? hw / 2 : hw;
    if (!pass) {
        snprintf(t, sizeof t, "%s.1x1", name);
        convbn(b, t, n1, in, 1, hw);
    }
    snprintf(t, sizeof t, "%s.3x3r", name);
    convbn(b, t, r3, in, 1, hw);
    snprintf(t, sizeof t, "%s.3x3", name);
    convbn(b, t, n3, r3, 3, out_hw);
    snprintf(t, sizeof t, "%s.d3x3r", name);
    convbn(b, t, rd, in, 1, hw);
    snprintf(t, sizeof t, "%s.d3x3a", name);
    convbn(b, t, nd, rd, 3, hw);
    snprintf(t, sizeof t, "%s.d3x3b", name);
    convbn(b, t, nd, nd, 3, out_hw);
    if (pass)
        return n3 + nd + in;
    snprintf(t, sizeof t, "%s.pool", name);
    convbn(b, t, np, in, 1, hw);
    return n1 + n3 + nd + np;
}

/* BN-Inception (Ioffe & Szegedy 2015, Figure 5) as CNTK's example builds it, the paper's
 * framework: microsoft/CNTK Examples/Image/Classification/GoogLeNet/BN-Inception/BrainScript/
 * BN-Inception.bs and InceptionLayers.bs (ConvBNReLULayer = ConvolutionalLayer {bias =
 * false} + BatchNormalizationLayer; modules 3a-5b with the widths below, 3c and 4e the
 * stride-2 pass-through ones; 7x7 average pool; LinearLayer 1000). 224x224 input: 69 convs,
 * 11,285,224 parameters, 2.033 GMACs. The Caffe model (Cadene/pretrained-models.pytorch
 * bninception.py, osmr/imgclsmob pytorchcv bninception.py) has the same layers with a bias on
 * every conv: 10,016 more, 11,295,240 (the paper's 11.3M either way). */
static void net_bn_inception(prof_build *b) {
    convbn(b, "conv1", 64, 3, 7, 112);  /* 7x7/2 -> 112, 3x3/2 max pool -> 56 */
    convbn(b, "conv2r", 64, 64, 1, 56); /* 1x1 */
    convbn(b, "conv2", 192, 64, 3, 56); /* 3x3, then 3x3/2 max pool -> 28 */
    size_t c = inception(b, "3a", 192, 28, 64, 64, 64, 64, 96, 32); /* 256 */
    c = inception(b, "3b", c, 28, 64, 64, 96, 64, 96, 64);          /* 320 */
    c = inception(b, "3c", c, 28, 0, 128, 160, 64, 96, 0);          /* 576 at 14 */
    c = inception(b, "4a", c, 14, 224, 64, 96, 96, 128, 128);       /* 576 */
    c = inception(b, "4b", c, 14, 192, 96, 128, 96, 128, 128);      /* 576 */
    c = inception(b, "4c", c, 14, 160, 128, 160, 128, 160, 128);    /* 608 */
    c = inception(b, "4d", c, 14, 96, 128, 192, 160, 192, 128);     /* 608 */
    c = inception(b, "4e", c, 14, 0, 128, 192, 192, 256, 0);        /* 1056 at 7 */
    c = inception(b, "5a", c, 7, 352, 192, 320, 160, 224, 128);     /* 1024 */
    c = inception(b, "5b", c, 7, 352, 192, 320, 192, 224, 128);     /* 1024 */
    fc(b, "fc", 1000, c);
}

/* VGG19 (Simonyan & Zisserman 2015, configuration E), 224x224 input, no BN. */
static void net_vgg19(prof_build *b) {
    static const int cfg[] = {64,  64,  0,   128, 128, 0,   256, 256, 256, 256, 0,
                              512, 512, 512, 512, 0,   512, 512, 512, 512, 0};
    size_t in = 3, hw = 224;
    int k = 1;
    char n[40];
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        if (cfg[i] == 0) { /* 2x2 max pool */
            hw /= 2;
            continue;
        }
        snprintf(n, sizeof n, "conv%d", k++);
        conv(b, n, (size_t)cfg[i], in, 3, hw, 1);
        in = (size_t)cfg[i];
    }
    fc(b, "fc6", 4096, 512 * 7 * 7);
    fc(b, "fc7", 4096, 4096);
    fc(b, "fc8", 1000, 4096);
}

/* The paper's LSTM on AN4 (CNTK, "13M parameters"). Assumed layout, CNTK's speech LSTM
 * recipe: 3 LSTMP layers with 1024 cells and 512-dim projections, 363-dim input (33
 * features x 11 context frames, as CNTK's AN4 example feeds its networks), 132 output
 * classes: 13.63M parameters (the paper rounds to 13M; its exact layout is not given). */
static void net_lstm_an4(prof_build *b) {
    lstmp(b, "lstm1", 363, 1024, 512);
    lstmp(b, "lstm2", 512, 1024, 512);
    lstmp(b, "lstm3", 512, 1024, 512);
    fc(b, "out", 132, 512);
}

/* The networks. params and gmacs are the totals this table reproduces (checked in
 * tests/test_model_profile.c against the cited references; docs/profiles.md):
 *   alexnet     62,378,344 params, 1.14 GMACs: computed from Krizhevsky et al. 2012's layer
 *               sizes without grouping (the grouped original has 60.97M, 0.72 GMACs).
 *   alexnet-owt 61,100,840 params, 0.714 GMACs: torchvision alexnet (docs' model table:
 *               61.1M params, 0.71 "GFLOPS" = GMACs).
 *   alexnet-cntk 62,003,496 params, 0.986 GMACs: CNTK 2.0's AlexNet, the paper's.
 *   resnet50    25,557,032 params, 4.09 GMACs (torchvision resnet50, v1.5); stride=v1:
 *               3.858 GMACs (He et al.: 3.8 GFLOPs = multiply-adds).
 *   resnet152   60,192,808 params, 11.51 GMACs (torchvision resnet152); stride=v1: 11.28
 *               GMACs (He et al.: 11.3).
 *   resnet110   1,727,962 params, 0.253 GMACs (He et al. option A); resnet110-cntk
 *               1,730,714, 0.253 GMACs (CNTK's example, option B).
 *   bn-inception 11,285,224 params, 2.033 GMACs (CNTK's example; paper: 11.3M).
 *   vgg19       143,667,240 params, 19.63 GMACs (torchvision vgg19).
 *   lstm-an4    13,634,692 params, 13.63 MMACs per frame, 0.2727 GMACs per 20-frame
 *               sample (the layout above; paper: 13M). */
/* One sample is one image for the CNNs. For the LSTM it is a 20-frame truncated-BPTT
 * segment of one utterance (CNTK's speech LSTM recipes run 32 utterances in parallel in
 * segments of 20 frames; assumed), so its FLOPs per sample are 20 x the per-frame count
 * and batch = 32 means 640 frames. */
typedef struct profile_net {
    const char *name;
    const char *what;
    void (*build)(prof_build *b);
    double steps; /* forward passes through the layer table per sample (frames) */
    int strided;  /* 1: a bottleneck ResNet, stride= applies */
} profile_net;

static const profile_net profile_nets[] = {
    {"alexnet", "AlexNet (Krizhevsky 2012 widths, one GPU, 62.4M)", net_alexnet, 1, 0},
    {"alexnet-owt", "AlexNet one-GPU variant (torchvision, 61.1M)", net_alexnet_owt, 1, 0},
    {"alexnet-cntk", "AlexNet as CNTK 2.0 trains it, 96-192-384-384-256 (62.0M)", net_alexnet_cntk,
     1, 0},
    {"resnet50", "ResNet-50 (torchvision, 25.6M)", net_resnet50, 1, 1},
    {"resnet152", "ResNet-152 (torchvision, 60.2M)", net_resnet152, 1, 1},
    {"resnet110", "ResNet-110 on CIFAR-10 (He et al., option A, 1.73M)", net_resnet110, 1, 0},
    {"resnet110-cntk", "ResNet-110 on CIFAR-10 as CNTK's example (option B, 1.73M)",
     net_resnet110_cntk, 1, 0},
    {"bn-inception", "BN-Inception (Ioffe & Szegedy, CNTK's example, 11.3M)", net_bn_inception, 1,
     0},
    {"vgg19", "VGG19 (configuration E, 143.7M)", net_vgg19, 1, 0},
    {"lstm-an4", "3-layer LSTMP 1024/512 on AN4 features (13.6M)", net_lstm_an4, 20, 0},
    {NULL, NULL, NULL, 0, 0},
};

/* The profile's own options, in model_params.ext (name= is the legacy
 * model_params.profile). */
enum { PROF_STRIDE_V15 = 0, PROF_STRIDE_V1 = 1 };
typedef struct profile_ext {
    int stride;      /* PROF_STRIDE_*: where a bottleneck ResNet's stride sits (net_resnet) */
    unsigned frames; /* sequence models: frames per sample (0: the network's own, steps) */
} profile_ext;
MODEL_EXT_FITS(profile_ext);

#define PROF_DEFAULT "resnet50"

static const profile_net *find_net(const char *name) {
    if (!name || !*name)
        name = PROF_DEFAULT;
    for (const profile_net *n = profile_nets; n->name; n++)
        if (strcmp(n->name, name) == 0)
            return n;
    return NULL;
}

static void valid_nets(char *buf, size_t len) {
    size_t off = 0;
    buf[0] = '\0';
    for (const profile_net *n = profile_nets; n->name && off < len; n++)
        off +=
            (size_t)snprintf(buf + off, len - off, "%s%s", n == profile_nets ? "" : ", ", n->name);
}

/* The check of the name= option row: 0 if name is a known network, else -1 with the valid
 * names in valid[len] (name NULL: -1 with them, for the help). */
static int check_name(const char *name, char *valid, size_t len) {
    if (name && find_net(name))
        return 0;
    if (valid && len)
        valid_nets(valid, len);
    return -1;
}

/* ---- the model ------------------------------------------------------------------------- */
typedef struct profile {
    const profile_net *net;
    double macs; /* forward MACs per sample */
    float *pool; /* [2 * PROF_POOL] N(0, 0.01^2) draws, then the same negated */
    uint64_t seed;
    uint64_t calls; /* loss_grad calls so far */
    double last_loss;
} profile;

static void fill_pool(profile *s, uint64_t seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) /* keep the last pool; seeds differ only in offsets then */
        return;
    gsl_rng_set(r, (unsigned long)(seed * 0x9E3779B97F4A7C15ull + 0x5DEECE66Dull));
    for (size_t i = 0; i < PROF_POOL; i++) {
        s->pool[i] = (float)gsl_ran_gaussian_ziggurat(r, PROF_GRAD_STD);
        s->pool[PROF_POOL + i] = -s->pool[i];
    }
    gsl_rng_free(r);
    s->seed = seed;
}

static int profile_init(model *m, const data_shape *shape, size_t max_batch, qsgd_err *err) {
    (void)shape;
    (void)max_batch;
    const profile_net *net = find_net(m->params.profile);
    if (!net) {
        char names[300];
        valid_nets(names, sizeof names);
        return QSGD_FAIL(err, QSGD_EINVAL, "model profile: unknown name '%s' (valid: %s)",
                         m->params.profile, names);
    }
    const profile_ext *ext = MODEL_EXT_CONST(&m->params, profile_ext);
    if (ext->stride != PROF_STRIDE_V15 && !net->strided)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "model profile: stride= applies to the bottleneck ResNets (resnet50, "
                         "resnet152), not '%s'",
                         net->name);
    if (!m->params.profile[0])
        snprintf(m->params.profile, sizeof m->params.profile, "%s", PROF_DEFAULT);
    profile *s = calloc(1, sizeof *s);
    if (!s)
        return QSGD_FAIL(err, QSGD_ENOMEM, "model profile: out of memory");
    m->impl = s;
    s->net = net;
    s->pool = nn_falloc(2 * PROF_POOL);
    if (!s->pool)
        return QSGD_FAIL(err, QSGD_ENOMEM, "model profile: out of memory");
    if (ext->frames && net->steps == 1)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "model profile: frames= applies to the sequence models (lstm-an4), "
                         "not '%s' (one sample is one image)",
                         net->name);
    prof_build count = {.stride_v1 = ext->stride == PROF_STRIDE_V1};
    net->build(&count);
    int rc = nn_tensors_begin(m, count.ntensors, err);
    if (rc)
        return rc;
    prof_build b = {.m = m, .stride_v1 = count.stride_v1};
    net->build(&b);
    s->macs = b.macs * (ext->frames ? (double)ext->frames : net->steps);
    fill_pool(s, 0);
    s->last_loss = NAN;
    return QSGD_OK;
}

static void profile_fini(model *m) {
    profile *s = m->impl;
    if (s)
        free(s->pool);
    free(s);
    m->impl = NULL;
}

static void profile_init_params(const model *m, float *theta, uint64_t seed) {
    profile *s = m->impl;
    memset(theta, 0, m->nparams * sizeof(float));
    fill_pool(s, seed);
    s->calls = 0;
}

static uint64_t mix64(uint64_t x) { /* splitmix64 finalizer */
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static int profile_loss_grad(model *m, const float *theta, const dataset *d, const size_t *idx,
                             size_t batch, double *loss, float *grad, qsgd_err *err) {
    (void)theta;
    (void)d;
    profile *s = m->impl;
    if (batch == 0)
        return QSGD_FAIL(err, QSGD_EINVAL, "model profile: batch 0");
    uint64_t h = mix64(s->seed ^ mix64(s->calls ^ mix64((uint64_t)idx[0])));
    /* per tensor: a rotated run of the pool, sign flipped per tensor, so tensors differ */
    for (size_t t = 0; t < m->ntensors; t++) {
        const model_tensor *tt = &m->tensors[t];
        h = mix64(h + t);
        size_t off = (size_t)(h & (PROF_POOL - 1));
        const float *src = s->pool + ((h >> 63) ? PROF_POOL : 0); /* sign per tensor */
        float *g = grad + tt->offset;
        size_t done = 0;
        while (done < tt->numel) { /* memcpy runs of the (cache-resident) pool */
            size_t run = PROF_POOL - off;
            if (run > tt->numel - done)
                run = tt->numel - done;
            memcpy(g + done, src + off, run * sizeof(float));
            done += run;
            off = 0;
        }
    }
    s->calls++;
    s->last_loss = 2.3 / sqrt(1.0 + (double)s->calls / 100.0);
    *loss = s->last_loss;
    return QSGD_OK;
}

static int profile_evaluate(model *m, const float *theta, const dataset *d, double *loss,
                            double *accuracy, qsgd_err *err) {
    (void)theta;
    (void)d;
    (void)err;
    profile *s = m->impl;
    *loss = s->calls ? s->last_loss : 2.3;
    if (accuracy)
        *accuracy = NAN;
    return QSGD_OK;
}

static double profile_flops(const model *m) {
    const profile *s = m->impl;
    return 3.0 * 2.0 * s->macs;
}

/* The compute model "throughput" (sim/sim_core.c): each network names the measured network
 * it is scaled from by forward MACs (the measured ones are TensorFlow's May 2017 K80/P100
 * benchmarks: alexnet, vgg16, resnet50, resnet152, inception-v3; docs/platforms.md). A
 * variant without its own measurement takes its closest measured relative: the AlexNets
 * the TF AlexNet, VGG19 VGG16, the CIFAR ResNet-110s ResNet-50, BN-Inception InceptionV3.
 * The LSTM names itself: no throughput is published for it, so the model refuses it. */
static const struct {
    const char *net, *measured;
} profile_tput[] = {
    {"alexnet", "alexnet"},         {"alexnet-owt", "alexnet"},       {"alexnet-cntk", "alexnet"},
    {"resnet50", "resnet50"},       {"resnet152", "resnet152"},       {"resnet110", "resnet50"},
    {"resnet110-cntk", "resnet50"}, {"bn-inception", "inception-v3"}, {"vgg19", "vgg16"},
    {"lstm-an4", "lstm-an4"},
};

static int profile_throughput_ref(const model_params *p, const char **net, double *macs,
                                  qsgd_err *err) {
    const profile_net *n = find_net(p->profile);
    if (!n)
        return QSGD_FAIL(err, QSGD_EINVAL, "model profile: unknown name '%s'", p->profile);
    prof_build count = {.stride_v1 = MODEL_EXT_CONST(p, profile_ext)->stride == PROF_STRIDE_V1};
    n->build(&count);
    unsigned frames = MODEL_EXT_CONST(p, profile_ext)->frames;
    *macs = count.macs * (frames ? (double)frames : n->steps);
    for (size_t i = 0; i < sizeof profile_tput / sizeof profile_tput[0]; i++)
        if (strcmp(profile_tput[i].net, n->name) == 0) {
            *net = profile_tput[i].measured;
            return QSGD_OK;
        }
    *net = n->name; /* a network added without a line above: itself, refused unless measured */
    return QSGD_OK;
}

static const qsgd_opt_choice stride_choices[] = {
    {"v1.5", PROF_STRIDE_V15},
    {"v1", PROF_STRIDE_V1},
    {NULL, 0},
};

/* stride= is described only when not the default, so that the names of the existing
 * studies' models ("profile:name=resnet50") do not change. */
static int stride_shown(const void *params) {
    return MODEL_EXT_CONST((const model_params *)params, profile_ext)->stride != PROF_STRIDE_V15;
}

static int frames_shown(const void *params) {
    return MODEL_EXT_CONST((const model_params *)params, profile_ext)->frames != 0;
}

static const qsgd_opt profile_opts[] = {
    {.name = "name",
     .kind = QSGD_OPT_STRING,
     .offset = offsetof(model_params, profile),
     .len = sizeof(((model_params *)0)->profile),
     .check = check_name,
     .meta = "NET",
     .help = "network whose layer shapes and FLOPs are simulated (\"\" = resnet50)"},
    {.name = "stride",
     .kind = QSGD_OPT_ENUM,
     .offset = MODEL_EXT_OFFSET(profile_ext, stride),
     .choices = stride_choices,
     .def = "v1.5",
     .shown = stride_shown,
     .help = "bottleneck ResNets: stride of a stage's first block on its 3x3 conv (v1.5, "
             "torchvision) or its first 1x1 conv (v1, He et al. and CNTK: fewer MACs, same "
             "parameters); described only when v1"},
    {.name = "frames",
     .kind = QSGD_OPT_UINT,
     .offset = MODEL_EXT_OFFSET(profile_ext, frames),
     .min = 0,
     .max = 100000,
     .def = "0",
     .shown = frames_shown,
     .help = "sequence models (lstm-an4): frames per sample, so that batch counts frames with "
             "frames=1 as CNTK's minibatchSize does (0: the network's own, a 20-frame "
             "segment); described only when given"},
    {.name = NULL},
};

const model_type model_type_profile = {
    .name = "profile",
    .summary = "timing stand-in: real layer shapes and FLOPs of a published network, "
               "pseudo-random gradients (alexnet, alexnet-owt, alexnet-cntk, resnet50, "
               "resnet152, resnet110, resnet110-cntk, bn-inception, vgg19, lstm-an4)",
    .init = profile_init,
    .fini = profile_fini,
    .init_params = profile_init_params,
    .loss_grad = profile_loss_grad,
    .evaluate = profile_evaluate,
    .flops_per_sample = profile_flops,
    .opts = profile_opts,
    .throughput_ref = profile_throughput_ref,
    .label_opt = "name", /* figures say "resnet50", not "profile:name=resnet50" */
    .timing_only = 1,    /* pseudo-random gradients, synthetic loss, NaN accuracy */
};
