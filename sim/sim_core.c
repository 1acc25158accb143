/* sim_core.c — device profiles, the exchange list, the compute and codec time models, the
 * real clock and result tables (see sim.h; the run settings are sim_settings.c). */
#define _GNU_SOURCE
#include "sim.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "optim.h"
#include "qsgd_file.h"

/* Device profiles. peak: vendor fp32 peak (one GPU; the K80 board holds two). efficiency:
 * the sustained fraction of peak a training step's GEMM/conv mix reaches (assumed 0.5 for
 * all, a round figure from cuDNN/cuBLAS training benchmarks; change it with --device-eff).
 * codec: encode/decode input bandwidth, assumed 25% of the GPU's memory bandwidth (a
 * quantizer reads the gradient and writes ~1/8 of it; CGX-class kernels reach this). */
static const sim_device devices[] = {
    {"K80", "NVIDIA Tesla K80, one GK210 (4.37 TFLOP/s fp32 boost, 240 GB/s)", 4.37e12, 0.5, 60e9},
    {"P100", "NVIDIA Tesla P100 SXM2 (10.6 TFLOP/s fp32, 732 GB/s)", 10.6e12, 0.5, 183e9},
    {"V100", "NVIDIA Tesla V100 SXM2 (15.7 TFLOP/s fp32, 900 GB/s)", 15.7e12, 0.5, 225e9},
    {"A100", "NVIDIA A100 SXM4 (19.5 TFLOP/s fp32 without TF32, 1555 GB/s)", 19.5e12, 0.5, 389e9},
    {"H100", "NVIDIA H100 SXM5 (67 TFLOP/s fp32, 3350 GB/s)", 67e12, 0.5, 838e9},
};
static const sim_device *const device_list[] = {&devices[0], &devices[1], &devices[2],
                                                &devices[3], &devices[4], NULL};

const sim_device *const *sim_devices(void) {
    return device_list;
}

const sim_device *sim_device_find(const char *name) {
    for (size_t i = 0; device_list[i]; i++)
        if (strcasecmp(device_list[i]->name, name) == 0)
            return device_list[i];
    return NULL;
}

/* The exchange registry (sim.h): generated from sim/exchanges.def, in sim_exchange order; the
 * implementation of each is the trainer's sim/ex_NAME.c (sim/exchange.h). */
static const sim_exchange_info exchanges[] = {
#define SIM_EXCHANGE(id, name, flags, summary) [SIM_EX_##id] = {#name, summary, flags},
#include "exchanges.def"
#undef SIM_EXCHANGE
};
#define NEXCHANGES (sizeof exchanges / sizeof exchanges[0])

const sim_exchange_info *sim_exchange_list(size_t *count) {
    *count = NEXCHANGES;
    return exchanges;
}

const sim_exchange_info *sim_exchange_get(sim_exchange ex) {
    return (size_t)ex < NEXCHANGES ? &exchanges[ex] : NULL;
}

int sim_exchange_find(const char *name, sim_exchange *ex) {
    for (size_t i = 0; i < NEXCHANGES; i++)
        if (strcmp(exchanges[i].name, name) == 0) {
            *ex = (sim_exchange)i;
            return 0;
        }
    return -1;
}

int sim_exchange_min_ranks(sim_exchange ex) {
    const sim_exchange_info *x = sim_exchange_get(ex);
    return x && (x->flags & SIM_EXF_SERVER_RANK0) ? 2 : 1;
}

/* ---- the compute and codec time models ------------------------------------------------- */
static int tm_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int tm_fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A finite number, all of s. */
static int tm_number(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (*end || s[0] == '\0' || v != v || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static void device_names(char *buf, size_t len) {
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; device_list[i] && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", device_list[i]->name);
}

/* measured[:FACTOR], both registries: the factor into *factor. */
static int measured_factor(const char *arg, double *factor, char *err, size_t errlen) {
    *factor = 1.0;
    if (arg && (tm_number(arg, factor) || *factor <= 0))
        return tm_fail(err, errlen, "measured:FACTOR needs a factor > 0");
    return 0;
}

static int compute_measured_parse(sim_config *c, const char *arg, char *err, size_t errlen) {
    return measured_factor(arg, &c->compute_factor, err, errlen);
}
static void compute_measured_format(const sim_config *c, char *buf, size_t len) {
    snprintf(buf, len, "measured:%g", c->compute_factor);
}
static double compute_measured_seconds(const sim_config *c, double measured_s, double flops) {
    (void)flops;
    return measured_s * c->compute_factor;
}

/* MODEL:DEVICE[:FACTOR] (flops, throughput): DEVICE into arg, FACTOR (> 0, default 1) into
 * *scale: the modelled compute time is multiplied by it (0.75 = 25% faster). */
static int scale_suffix(const char *spec, char *arg, size_t len, double *scale, const char *what,
                        char *err, size_t errlen) {
    snprintf(arg, len, "%s", spec ? spec : "");
    char *colon = strchr(arg, ':');
    *scale = 1.0;
    if (colon) {
        *colon = '\0';
        if (tm_number(colon + 1, scale) || !(*scale > 0))
            return tm_fail(err, errlen,
                           "%s:DEVICE:FACTOR needs a factor > 0 on the compute time, got '%s'",
                           what, colon + 1);
    }
    return 0;
}
static double scale_of(const sim_config *c) {
    return c->compute_scale > 0 ? c->compute_scale : 1.0;
}
static void scale_text(const sim_config *c, char *buf, size_t len) {
    if (scale_of(c) != 1.0)
        snprintf(buf, len, ":%g", scale_of(c));
    else if (len)
        buf[0] = '\0';
}

static int compute_flops_parse(sim_config *c, const char *spec, char *err, size_t errlen) {
    char arg[64];
    if (scale_suffix(spec, arg, sizeof arg, &c->compute_scale, "flops", err, errlen))
        return -1;
    c->device = sim_device_find(arg);
    if (!c->device) {
        char devs[128];
        device_names(devs, sizeof devs);
        return tm_fail(err, errlen, "flops: unknown device '%s' (valid: %s)", arg, devs);
    }
    return 0;
}
static void compute_flops_format(const sim_config *c, char *buf, size_t len) {
    char f[32];
    scale_text(c, f, sizeof f);
    snprintf(buf, len, "flops:%s%s (%.3g FLOP/s peak x %.3g sustained%s)", c->device->name, f,
             c->device->peak_flops, c->device->efficiency * c->compute_factor,
             *f ? ", time x the factor" : "");
}
static double compute_flops_seconds(const sim_config *c, double measured_s, double flops) {
    (void)measured_s;
    return flops / (c->device->peak_flops * c->device->efficiency * c->compute_factor) *
           scale_of(c);
}

static int compute_fixed_parse(sim_config *c, const char *arg, char *err, size_t errlen) {
    if (tm_number(arg, &c->compute_fixed))
        return tm_fail(err, errlen, "fixed:SECONDS: '%s' is not a number", arg);
    if (c->compute_fixed < 0)
        return tm_fail(err, errlen, "fixed:SECONDS must be >= 0");
    return 0;
}
static void compute_fixed_format(const sim_config *c, char *buf, size_t len) {
    snprintf(buf, len, "fixed:%g", c->compute_fixed);
}
static double compute_fixed_seconds(const sim_config *c, double measured_s, double flops) {
    (void)measured_s;
    (void)flops;
    return c->compute_fixed;
}

static const sim_time_model compute_measured = {
    "measured",
    "the real gradient time on this machine x FACTOR (default 1)",
    "FACTOR",
    1,
    compute_measured_parse,
    compute_measured_format,
    compute_measured_seconds};
static const sim_time_model compute_flops = {
    "flops",
    "the model's FLOPs / the device profile's sustained rate (peak x efficiency, --device-eff), "
    "x FACTOR on the time (default 1)",
    "DEVICE[:FACTOR]",
    0,
    compute_flops_parse,
    compute_flops_format,
    compute_flops_seconds};
static const sim_time_model compute_fixed = {"fixed",
                                             "SECONDS per iteration",
                                             "SECONDS",
                                             0,
                                             compute_fixed_parse,
                                             compute_fixed_format,
                                             compute_fixed_seconds};
/* Measured training throughput, one device, synthetic ImageNet data (no input pipeline):
 * TensorFlow's benchmarks page (tensorflow/tensorflow tensorflow/docs_src/performance/
 * benchmarks.md, https://www.tensorflow.org/performance/benchmarks, test date May 2017;
 * CUDA 8.0, cuDNN 5.1, TensorFlow b1e174e, tf_cnn_benchmarks 9165a70, sgd, 1 GPU rows).
 * K80: "Details for Amazon EC2 (NVIDIA Tesla K80)", p2.8xlarge; one "GPU" is one GK210 die;
 * the batch-32 figures of "Other Results" where given (InceptionV3, ResNet-50), else the
 * main table at its batch. P100: "Details for NVIDIA DGX-1 (NVIDIA Tesla P100)", P100
 * SXM2, "Other Results" (batch 32), AlexNet from the main table (batch 512).
 * ref_macs: forward MACs per image of tf_cnn_benchmarks' network (1001 classes):
 *   alexnet       0.8388e9: its alexnet_model.py, 64-192-384-384-256, 227x227 input
 *                 (70.28M + 223.95M + 112.14M + 224.28M + 149.52M conv, 58.63M fc)
 *   vgg16         15.47e9: configuration D at 224x224 (torchvision vgg16: 15.47 GMACs)
 *   resnet50      3.858e9: v1 (stride on the first 1x1, as tf_cnn_benchmarks of May 2017),
 *                 = profile:name=resnet50,stride=v1 (He et al. 2016: 3.8 "GFLOPs")
 *   resnet152     11.28e9: v1, = profile:name=resnet152,stride=v1 (He et al.: 11.3)
 *   inception-v3  5.713e9: at 299x299 (torchvision inception_v3: 5.71 GMACs)
 * No number is published for the AN4 LSTM (the paper's speech model): it is refused. */
#define TF_BENCH "TensorFlow benchmarks, May 2017 (tensorflow.org/performance/benchmarks)"
static const sim_throughput throughputs[] = {
    {"K80", "alexnet", "AlexNet (TF, 64-192-384-384-256, 227x227)", 684, 512, 0.8388e9,
     TF_BENCH ", EC2 p2.8xlarge, synthetic, 1 GPU"},
    {"K80", "vgg16", "VGG16 (224x224)", 36.3, 32, 15.47e9,
     TF_BENCH ", EC2 p2.8xlarge, synthetic, 1 GPU"},
    {"K80", "resnet50", "ResNet-50 v1 (224x224)", 49.0, 32, 3.858e9,
     TF_BENCH ", EC2 p2.8xlarge, synthetic, 1 GPU, batch-32 results"},
    {"K80", "resnet152", "ResNet-152 v1 (224x224)", 19.7, 32, 11.28e9,
     TF_BENCH ", EC2 p2.8xlarge, synthetic, 1 GPU"},
    {"K80", "inception-v3", "InceptionV3 (299x299)", 29.9, 32, 5.713e9,
     TF_BENCH ", EC2 p2.8xlarge, synthetic, 1 GPU, batch-32 results"},
    {"P100", "alexnet", "AlexNet (TF, 64-192-384-384-256, 227x227)", 2987, 512, 0.8388e9,
     TF_BENCH ", DGX-1, synthetic, 1 GPU"},
    {"P100", "vgg16", "VGG16 (224x224)", 144, 32, 15.47e9,
     TF_BENCH ", DGX-1, synthetic, 1 GPU, batch-32 results"},
    {"P100", "resnet50", "ResNet-50 v1 (224x224)", 195, 32, 3.858e9,
     TF_BENCH ", DGX-1, synthetic, 1 GPU, batch-32 results"},
    {"P100", "resnet152", "ResNet-152 v1 (224x224)", 82.7, 32, 11.28e9,
     TF_BENCH ", DGX-1, synthetic, 1 GPU, batch-32 results"},
    {"P100", "inception-v3", "InceptionV3 (299x299)", 128, 32, 5.713e9,
     TF_BENCH ", DGX-1, synthetic, 1 GPU, batch-32 results"},
};
#define NTHROUGHPUTS (sizeof throughputs / sizeof throughputs[0])

const sim_throughput *sim_throughputs(size_t *count) {
    *count = NTHROUGHPUTS;
    return throughputs;
}

const sim_throughput *sim_throughput_find(const char *device, const char *net) {
    for (size_t i = 0; i < NTHROUGHPUTS; i++)
        if (strcasecmp(throughputs[i].device, device) == 0 && strcmp(throughputs[i].net, net) == 0)
            return &throughputs[i];
    return NULL;
}

void sim_throughputs_print(FILE *f, const char *indent) {
    fprintf(f, "%s%-6s %-13s %9s %6s %9s  %s\n", indent, "device", "network", "images/s", "batch",
            "GMAC/img", "measured network; source");
    for (size_t i = 0; i < NTHROUGHPUTS; i++) {
        const sim_throughput *e = &throughputs[i];
        fprintf(f, "%s%-6s %-13s %9.4g %6u %9.4g  %s; %s\n", indent, e->device, e->net,
                e->images_per_s, e->batch, e->ref_macs / 1e9, e->what, e->source);
    }
    fprintf(f,
            "%sa variant is scaled by forward MACs from the network its profile names "
            "(vgg19 <- vgg16, bn-inception <- inception-v3, resnet110 <- resnet50, alexnet-* "
            "<- alexnet); others (lstm-an4) are refused: use flops:DEVICE\n",
            indent);
}

/* The networks measured on device, "a, b, c". */
static void throughput_nets(const char *device, char *buf, size_t len) {
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NTHROUGHPUTS && off < len; i++)
        if (strcasecmp(throughputs[i].device, device) == 0)
            off +=
                (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", throughputs[i].net);
}

/* c->model's entry on c->device and its seconds per sample. */
static int throughput_resolve(sim_config *c, char *err, size_t errlen) {
    c->throughput = NULL;
    c->compute_sample_s = 0;
    model_spec ms;
    qsgd_err me = {0};
    if (model_spec_parse(c->model, &ms, &me) != QSGD_OK)
        return tm_fail(err, errlen, "throughput: model '%s': %s", c->model, me.msg);
    const model_type *t = model_type_find(ms.name);
    if (!t || !t->throughput_ref)
        return tm_fail(err, errlen,
                       "throughput: the model '%s' names no measured network (the profiles "
                       "do); use flops:%s (the FLOPs model) or measured",
                       ms.name, c->device->name);
    const char *net = NULL;
    double macs = 0;
    if (t->throughput_ref(&ms.params, &net, &macs, &me) != QSGD_OK)
        return tm_fail(err, errlen, "throughput: %s", me.msg);
    const sim_throughput *e = sim_throughput_find(c->device->name, net);
    if (!e) {
        char nets[160];
        throughput_nets(c->device->name, nets, sizeof nets);
        return tm_fail(err, errlen,
                       "throughput: the throughput of '%s' on %s is unknown (measured: %s); use "
                       "flops:%s, the FLOPs model (peak x efficiency), as the fallback",
                       net, c->device->name, nets, c->device->name);
    }
    if (!(macs > 0))
        return tm_fail(err, errlen, "throughput: the model reports %g MACs per sample", macs);
    c->throughput = e;
    c->compute_sample_s = macs / (e->images_per_s * e->ref_macs);
    return 0;
}

static int compute_throughput_parse(sim_config *c, const char *spec, char *err, size_t errlen) {
    char arg[64];
    if (scale_suffix(spec, arg, sizeof arg, &c->compute_scale, "throughput", err, errlen))
        return -1;
    const sim_device *d = sim_device_find(arg);
    char nets[160] = "";
    if (d)
        throughput_nets(d->name, nets, sizeof nets);
    if (!d || !nets[0]) {
        size_t off = 0;
        char devs[128] = "";
        for (size_t i = 0; i < NTHROUGHPUTS && off < sizeof devs; i++)
            if (!strstr(devs, throughputs[i].device))
                off += (size_t)snprintf(devs + off, sizeof devs - off, "%s%s", off ? ", " : "",
                                        throughputs[i].device);
        return tm_fail(err, errlen, "throughput: no measured throughputs for device '%s' (%s)", arg,
                       devs);
    }
    c->device = d;
    /* the model may come later on a command line: sim_compute_resolve settles it */
    char ignored[8];
    throughput_resolve(c, ignored, sizeof ignored);
    return 0;
}
static void compute_throughput_format(const sim_config *c, char *buf, size_t len) {
    char f[32] = "";
    scale_text(c, f, sizeof f);
    if (!c->throughput)
        snprintf(buf, len, "throughput:%s%s (unresolved)", c->device->name, f);
    else
        snprintf(buf, len, "throughput:%s%s (%s %.4g img/s at batch %u, %.4g s/sample%s)",
                 c->device->name, f, c->throughput->net, c->throughput->images_per_s,
                 c->throughput->batch, c->compute_sample_s, *f ? " before the factor" : "");
}
static double compute_throughput_seconds(const sim_config *c, double measured_s, double flops) {
    (void)measured_s;
    (void)flops;
    return c->throughput ? (double)c->batch * c->compute_sample_s * scale_of(c) : NAN;
}

static const sim_time_model compute_throughput = {
    "throughput",
    "batch / the device's measured images/s on the model's network, scaled by forward MACs "
    "for a variant, x FACTOR on the time (default 1; profiles; qsgdsim list compute shows the "
    "table; fallback: flops)",
    "DEVICE[:FACTOR]",
    0,
    compute_throughput_parse,
    compute_throughput_format,
    compute_throughput_seconds};
static const sim_time_model *const compute_models[] = {
    [SIM_COMPUTE_MEASURED] = &compute_measured,
    [SIM_COMPUTE_FLOPS] = &compute_flops,
    [SIM_COMPUTE_FIXED] = &compute_fixed,
    [SIM_COMPUTE_THROUGHPUT] = &compute_throughput,
    NULL,
};

int sim_compute_resolve(sim_config *c, char *err, size_t errlen) {
    if (c->compute != SIM_COMPUTE_THROUGHPUT)
        return 0;
    return throughput_resolve(c, err, errlen);
}

static int codec_measured_parse(sim_config *c, const char *arg, char *err, size_t errlen) {
    return measured_factor(arg, &c->codec_factor, err, errlen);
}
static void codec_measured_format(const sim_config *c, char *buf, size_t len) {
    snprintf(buf, len, "measured:%g", c->codec_factor);
}
static double codec_measured_seconds(const sim_config *c, double measured_s, double bytes) {
    (void)bytes;
    return measured_s * c->codec_factor;
}

static int codec_device_parse(sim_config *c, const char *arg, char *err, size_t errlen) {
    const sim_device *d = sim_device_find(arg);
    if (!d) {
        char devs[128];
        device_names(devs, sizeof devs);
        return tm_fail(err, errlen, "device: unknown device '%s' (valid: %s)", arg, devs);
    }
    if (c->device && c->device != d)
        return tm_fail(err, errlen, "device:%s differs from --compute flops:%s", d->name,
                       c->device->name);
    c->device = d;
    return 0;
}
static void codec_device_format(const sim_config *c, char *buf, size_t len) {
    snprintf(buf, len, "device:%s (%.3g B/s)", c->device->name, c->device->codec_bytes_per_s);
}
static double codec_device_seconds(const sim_config *c, double measured_s, double bytes) {
    (void)measured_s;
    return bytes / c->device->codec_bytes_per_s;
}

static int codec_none_parse(sim_config *c, const char *arg, char *err, size_t errlen) {
    (void)c, (void)arg, (void)err, (void)errlen;
    return 0;
}
static void codec_none_format(const sim_config *c, char *buf, size_t len) {
    (void)c;
    snprintf(buf, len, "none");
}
static double codec_none_seconds(const sim_config *c, double measured_s, double bytes) {
    (void)c, (void)measured_s, (void)bytes;
    return 0.0;
}

static const sim_time_model codec_measured = {"measured",
                                              "the real encode/decode time x FACTOR (default 1)",
                                              "FACTOR",
                                              1,
                                              codec_measured_parse,
                                              codec_measured_format,
                                              codec_measured_seconds};
static const sim_time_model codec_device = {
    "device",
    "bytes / the device profile's codec bandwidth (the compute device, if any)",
    "DEVICE",
    0,
    codec_device_parse,
    codec_device_format,
    codec_device_seconds};
static const sim_time_model codec_none = {"none",
                                          "free: encoding and decoding take no simulated time",
                                          NULL,
                                          0,
                                          codec_none_parse,
                                          codec_none_format,
                                          codec_none_seconds};
static const sim_time_model *const codec_models[] = {
    [SIM_CODEC_MEASURED] = &codec_measured,
    [SIM_CODEC_DEVICE] = &codec_device,
    [SIM_CODEC_NONE] = &codec_none,
    NULL,
};

const sim_time_model *const *sim_compute_models(void) {
    return compute_models;
}

const sim_time_model *const *sim_codec_models(void) {
    return codec_models;
}

void sim_time_models_usage(const sim_time_model *const *reg, const char *sep, char *buf,
                           size_t len) {
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; reg[i] && off < len; i++) {
        const sim_time_model *m = reg[i];
        int n = snprintf(buf + off, len - off, "%s%s%s%s%s%s", i ? sep : "", m->name,
                         m->arg && m->arg_optional ? "[" : "", m->arg ? ":" : "",
                         m->arg ? m->arg : "", m->arg && m->arg_optional ? "]" : "");
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

double sim_compute_seconds(const sim_config *c, double measured_s, double flops) {
    return compute_models[c->compute]->seconds(c, measured_s, flops);
}

double sim_codec_seconds(const sim_config *c, double measured_s, double bytes) {
    return codec_models[c->codec]->seconds(c, measured_s, bytes);
}

double sim_wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

size_t sim_peak_rss(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024;
}

void sim_rss_kinds(size_t *anon, size_t *file, size_t *shmem) {
    *anon = *file = *shmem = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned long kb;
        if (sscanf(line, "RssAnon: %lu", &kb) == 1)
            *anon = (size_t)kb * 1024;
        else if (sscanf(line, "RssFile: %lu", &kb) == 1)
            *file = (size_t)kb * 1024;
        else if (sscanf(line, "RssShmem: %lu", &kb) == 1)
            *shmem = (size_t)kb * 1024;
    }
    fclose(f);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return 1;
}

int sim_table_open(sim_table *t, const char *dir, const char *name, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return fail(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
    snprintf(t->path, sizeof t->path, "%s/%s", dir, name);
    t->f = qsgd_file_open(t->path, ".partial", t->partial, sizeof t->partial, err, errlen);
    return t->f ? 0 : 1;
}

int sim_table_printf(sim_table *t, const char *fmt, ...) {
    if (!t->f)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    errno = 0;
    int w = vfprintf(t->f, fmt, ap);
    va_end(ap);
    return w < 0 ? qsgd_file_check(w, &t->errnum) : 0;
}

int sim_table_flush(sim_table *t) {
    return t->f ? qsgd_file_flush(t->f, &t->errnum) : 0;
}

void sim_table_error(const sim_table *t, char *err, size_t errlen) {
    qsgd_file_error(t->partial, t->errnum, err, errlen);
}

int sim_table_close(sim_table *t, const char *status, char *err, size_t errlen) {
    if (!t->f)
        return 0;
    sim_table_printf(t, "# status: %s\n", status);
    FILE *f = t->f;
    t->f = NULL;
    /* a failed table stays PATH.partial, never renamed to look complete */
    int rc = qsgd_file_commit(f, &t->errnum, t->partial, t->path, QSGD_FILE_KEEP, err, errlen);
    return rc ? 1 : 0;
}

void sim_table_abandon(sim_table *t, const char *status) {
    if (!t->f)
        return;
    fprintf(t->f, "# status: %s\n", status);
    qsgd_file_abandon(t->f, t->partial, QSGD_FILE_KEEP);
    t->f = NULL;
}

int sim_status_write(const char *dir, int tag, const char *line, char *err, size_t errlen) {
    char path[600], tmp[640], suffix[32];
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return fail(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/status", dir);
    snprintf(suffix, sizeof suffix, ".partial.%d", tag);
    FILE *f = qsgd_file_open(path, suffix, tmp, sizeof tmp, err, errlen);
    if (!f)
        return 1;
    int errnum = 0;
    errno = 0;
    qsgd_file_check(fprintf(f, "%s\n", line), &errnum);
    return qsgd_file_commit(f, &errnum, tmp, path, 0, err, errlen) ? 1 : 0;
}

int sim_status_clear(const char *dir, char *err, size_t errlen) {
    char path[600];
    snprintf(path, sizeof path, "%s/status", dir);
    if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR)
        return fail(err, errlen, "cannot remove the stale %s: %s", path, strerror(errno));
    return 0;
}
