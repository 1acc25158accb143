/* sim_core.c — run configuration of the trainer, device profiles, the compute and codec
 * time models, the real clock and result tables (see sim.h). */
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

/* The exchange registry (sim.h): one line per strategy, in sim_exchange order; the
 * implementation of each is the trainer's sim/ex_NAME.c (sim/exchange.h). */
static const sim_exchange_info exchanges[] = {
    [SIM_EX_ALLGATHER] = {"allgather",
                          "QSGD's Algorithm 1: every worker's encoded message reaches every worker "
                          "(MPI_Allgatherv), each decodes and averages all",
                          SIM_EXF_OVERLAP | SIM_EXF_SHARED_DECODE},
    [SIM_EX_ALLREDUCE] = {"allreduce",
                          "dense fp32 sum (ring reduce-scatter + all-gather; --allreduce mpi uses "
                          "the MPI library's MPI_Allreduce); fp32 only",
                          SIM_EXF_FP32_ONLY | SIM_EXF_ALLREDUCE_ALGO},
    [SIM_EX_PS] = {"ps",
                   "parameter server on rank 0: workers send encoded gradients (MPI_Gatherv), the "
                   "server decodes, averages and broadcasts the fp32 update",
                   SIM_EXF_SERVER_RANK0},
    [SIM_EX_STRIPES] = {"stripes",
                        "1-bit SGD's CNTK scheme: rank j owns column stripe j of every tensor, "
                        "receives it quantized from all (MPI_Alltoallv), sums, re-quantizes with a "
                        "second residual and all-gathers it",
                        0},
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

/* The exchanges' names joined by sep ("allgather | allreduce | ..."). */
static void exchange_names(char *buf, size_t len, const char *sep) {
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NEXCHANGES && k < len; i++) {
        int n = snprintf(buf + k, len - k, "%s%s", i ? sep : "", exchanges[i].name);
        if (n < 0)
            break;
        k += (size_t)n;
    }
}

void sim_config_default(sim_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->model, sizeof c->model, "mlp:hidden=256x128");
    snprintf(c->data, sizeof c->data, "fmnist");
    snprintf(c->quant, sizeof c->quant, "fp32");
    snprintf(c->optim, sizeof c->optim, "sgd:lr=0.05,momentum=0.9");
    c->exchange = SIM_EX_ALLGATHER;
    c->quant_min_numel = 10000;
    c->batch = 64;
    c->epochs = 1;
    c->seed = 1;
    c->compute = SIM_COMPUTE_MEASURED;
    c->compute_factor = 1.0;
    c->codec = SIM_CODEC_MEASURED;
    c->codec_factor = 1.0;
    c->threads = 1;
    c->backend = MODEL_DEVICE_AUTO;
    c->shared_decode = 1;
}

void sim_config_usage(FILE *f, const char *prog) {
    char names[256];
    exchange_names(names, sizeof names, " | ");
    fprintf(f,
            "usage: %s [options]   (an MPI program: run it under smpirun or mpirun)\n"
            "  --model SPEC         model spec (default mlp:hidden=256x128)\n"
            "  --data SPEC          data spec: fmnist[:n=..], libsvm:PATH, synth-leastsq:.., "
            "synth-logreg:..\n"
            "  --quant SPEC         quantizer spec (fp32, qsgd:bits=4,bucket=512, onebit, ...)\n"
            "  --quant-min-numel N  tensors with fewer elements are sent fp32 (default 10000;\n"
            "                       0 = quantize every tensor)\n"
            "  --optim SPEC         optimizer, e.g. sgd:lr=0.05,momentum=0.9,schedule=cosine\n"
            "  --exchange NAME      %s (default %s)\n"
            "  --allreduce ALG      ring (qsgdsim's own, reproducible bits) | mpi (default ring)\n"
            "  --batch B            minibatch per worker (default 64)\n"
            "  --epochs E           global epochs, may be fractional, > 0 (default 1)\n"
            "  --max-steps N        stop after N iterations (default: no limit); a run has at\n"
            "                       most 4294967295 iterations (the quantizers' step counter)\n"
            "  --seed S             experiment seed (default 1)\n"
            "  --compute MODEL      measured[:FACTOR] | flops:DEVICE | fixed:SECONDS (default "
            "measured)\n"
            "  --codec MODEL        measured[:FACTOR] | device:DEVICE | none (default measured)\n"
            "  --device-eff F       sustained fraction of the device's peak (default per profile)\n"
            "  --eval-every N       evaluate every N iterations (default: once per epoch)\n"
            "  --target-accuracy A  stop at the first evaluation with test accuracy >= A (0..1)\n"
            "  --threads T          OpenBLAS threads per rank (default 1)\n"
            "  --device D           where gradients are computed: auto (a CUDA GPU when present\n"
            "                       and the model has a CUDA version, else the CPU), cpu, cuda\n"
            "                       (default auto; the results name the device used)\n"
            "  --overlap            overlap communication with backprop: the backward pass is\n"
            "                       charged tensor by tensor (last layer first, in proportion to\n"
            "                       tensor size) and each tensor's all-gather starts as soon as\n"
            "                       its gradient is encoded; 'comm' is then the exposed wait\n"
            "                       (allgather with fixed-size formats: fp32, qsgd dense, onebit)\n"
            "  --no-shared-decode   SMPI: every virtual rank decodes all messages itself (slower;\n"
            "                       by default one decode per step serves all ranks: same bits)\n"
            "  --out DIR            write iterations.tsv, eval.tsv, summary.txt, status there\n"
            "  --quiet              no progress lines\n"
            "The status file, written last, is the completion marker: 'complete',\n"
            "'diverged at iteration N (...)' or 'failed (CLASS): MESSAGE'. Exit status:\n"
            "0 complete, 1 internal, 2 config, 3 diverged (tables kept), 4 data,\n"
            "5 io (results could not be written), 6 resources (out of memory).\n",
            prog, names, exchanges[SIM_EX_ALLGATHER].name);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return 1;
}

/* A count: decimal digits only (no sign, no blanks), at most SIZE_MAX ("too large" beyond,
 * never a wrapped value). */
static int parse_size(const char *opt, const char *s, size_t *out, char *err, size_t errlen) {
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return fail(err, errlen, "%s: '%s' is not a non-negative integer", opt, s);
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return fail(err, errlen, "%s: '%s' is not a non-negative integer", opt, s);
    if (errno == ERANGE || v > SIZE_MAX)
        return fail(err, errlen, "%s: '%s' is too large (at most %zu)", opt, s, (size_t)SIZE_MAX);
    *out = (size_t)v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double *out, char *err, size_t errlen) {
    char *end;
    double v = strtod(s, &end);
    if (*end || s[0] == '\0' || v != v)
        return fail(err, errlen, "%s: '%s' is not a number", opt, s);
    if (!isfinite(v))
        return fail(err, errlen, "%s: '%s' is too large (not a finite double)", opt, s);
    *out = v;
    return 0;
}

static int copy_str(const char *opt, char *dst, size_t cap, const char *s, char *err,
                    size_t errlen) {
    if (strlen(s) >= cap)
        return fail(err, errlen, "%s: value too long (max %zu characters)", opt, cap - 1);
    strcpy(dst, s);
    return 0;
}

static void device_names(char *buf, size_t len) {
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; device_list[i] && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", device_list[i]->name);
}

int sim_config_parse(int argc, char **argv, sim_config *c, int *help, char *err, size_t errlen) {
    enum {
        O_MODEL = 256,
        O_DATA,
        O_QUANT,
        O_QMIN,
        O_OPTIM,
        O_EXCH,
        O_ALLRED,
        O_BATCH,
        O_EPOCHS,
        O_MAXSTEPS,
        O_SEED,
        O_COMPUTE,
        O_CODEC,
        O_DEVEFF,
        O_EVAL,
        O_THREADS,
        O_OUT,
        O_QUIET,
        O_HELP,
        O_NOSHARED,
        O_OVERLAP,
        O_TARGET,
        O_BACKEND
    };
    static const struct option opts[] = {{"model", required_argument, 0, O_MODEL},
                                         {"data", required_argument, 0, O_DATA},
                                         {"quant", required_argument, 0, O_QUANT},
                                         {"quant-min-numel", required_argument, 0, O_QMIN},
                                         {"optim", required_argument, 0, O_OPTIM},
                                         {"exchange", required_argument, 0, O_EXCH},
                                         {"allreduce", required_argument, 0, O_ALLRED},
                                         {"batch", required_argument, 0, O_BATCH},
                                         {"epochs", required_argument, 0, O_EPOCHS},
                                         {"max-steps", required_argument, 0, O_MAXSTEPS},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"compute", required_argument, 0, O_COMPUTE},
                                         {"codec", required_argument, 0, O_CODEC},
                                         {"device-eff", required_argument, 0, O_DEVEFF},
                                         {"eval-every", required_argument, 0, O_EVAL},
                                         {"threads", required_argument, 0, O_THREADS},
                                         {"out", required_argument, 0, O_OUT},
                                         {"quiet", no_argument, 0, O_QUIET},
                                         {"help", no_argument, 0, O_HELP},
                                         {"no-shared-decode", no_argument, 0, O_NOSHARED},
                                         {"overlap", no_argument, 0, O_OVERLAP},
                                         {"target-accuracy", required_argument, 0, O_TARGET},
                                         {"device", required_argument, 0, O_BACKEND},
                                         {0, 0, 0, 0}};
    *help = 0;
    double device_eff = 0;
    char devs[128];
    device_names(devs, sizeof devs);
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *a = optarg;
        size_t z = 0;
        switch (o) {
        case O_MODEL:
            if (copy_str("--model", c->model, sizeof c->model, a, err, errlen))
                return 1;
            break;
        case O_DATA:
            if (copy_str("--data", c->data, sizeof c->data, a, err, errlen))
                return 1;
            break;
        case O_QUANT:
            if (copy_str("--quant", c->quant, sizeof c->quant, a, err, errlen))
                return 1;
            break;
        case O_OPTIM:
            if (copy_str("--optim", c->optim, sizeof c->optim, a, err, errlen))
                return 1;
            break;
        case O_QMIN:
            if (parse_size("--quant-min-numel", a, &c->quant_min_numel, err, errlen))
                return 1;
            break;
        case O_EXCH:
            if (sim_exchange_find(a, &c->exchange)) {
                char names[256];
                exchange_names(names, sizeof names, ", ");
                return fail(err, errlen, "--exchange: unknown '%s' (valid: %s)", a, names);
            }
            break;
        case O_ALLRED:
            if (strcmp(a, "ring") == 0)
                c->allreduce_mpi = 0;
            else if (strcmp(a, "mpi") == 0)
                c->allreduce_mpi = 1;
            else
                return fail(err, errlen, "--allreduce: unknown '%s' (valid: ring, mpi)", a);
            break;
        case O_BATCH:
            if (parse_size("--batch", a, &c->batch, err, errlen))
                return 1;
            if (c->batch == 0)
                return fail(err, errlen, "--batch must be >= 1");
            break;
        case O_EPOCHS:
            if (parse_double("--epochs", a, &c->epochs, err, errlen))
                return 1;
            if (!(c->epochs > 0))
                return fail(err, errlen, "--epochs: '%s' must be > 0", a);
            break;
        case O_MAXSTEPS:
            if (parse_size("--max-steps", a, &c->max_steps, err, errlen))
                return 1;
            break;
        case O_SEED:
            if (parse_size("--seed", a, &z, err, errlen))
                return 1;
            c->seed = (uint64_t)z;
            break;
        case O_COMPUTE:
            if (strncmp(a, "measured", 8) == 0 && (a[8] == 0 || a[8] == ':')) {
                c->compute = SIM_COMPUTE_MEASURED;
                c->compute_factor = 1.0;
                if (a[8] == ':' && (parse_double("--compute measured:FACTOR", a + 9,
                                                 &c->compute_factor, err, errlen) ||
                                    c->compute_factor <= 0))
                    return fail(err, errlen, "--compute measured:FACTOR needs a factor > 0");
            } else if (strncmp(a, "flops:", 6) == 0) {
                c->compute = SIM_COMPUTE_FLOPS;
                c->device = sim_device_find(a + 6);
                if (!c->device)
                    return fail(err, errlen, "--compute flops: unknown device '%s' (valid: %s)",
                                a + 6, devs);
            } else if (strncmp(a, "fixed:", 6) == 0) {
                c->compute = SIM_COMPUTE_FIXED;
                if (parse_double("--compute fixed:SECONDS", a + 6, &c->compute_fixed, err, errlen))
                    return 1;
                if (c->compute_fixed < 0)
                    return fail(err, errlen, "--compute fixed:SECONDS must be >= 0");
            } else {
                return fail(
                    err, errlen,
                    "--compute: '%s' (valid: measured[:FACTOR], flops:DEVICE, fixed:SECONDS)", a);
            }
            break;
        case O_CODEC:
            if (strncmp(a, "measured", 8) == 0 && (a[8] == 0 || a[8] == ':')) {
                c->codec = SIM_CODEC_MEASURED;
                c->codec_factor = 1.0;
                if (a[8] == ':' && (parse_double("--codec measured:FACTOR", a + 9, &c->codec_factor,
                                                 err, errlen) ||
                                    c->codec_factor <= 0))
                    return fail(err, errlen, "--codec measured:FACTOR needs a factor > 0");
            } else if (strncmp(a, "device:", 7) == 0) {
                c->codec = SIM_CODEC_DEVICE;
                const sim_device *d = sim_device_find(a + 7);
                if (!d)
                    return fail(err, errlen, "--codec device: unknown device '%s' (valid: %s)",
                                a + 7, devs);
                if (c->device && c->device != d)
                    return fail(err, errlen, "--codec device:%s differs from --compute flops:%s",
                                d->name, c->device->name);
                c->device = d;
            } else if (strcmp(a, "none") == 0) {
                c->codec = SIM_CODEC_NONE;
            } else {
                return fail(err, errlen,
                            "--codec: '%s' (valid: measured[:FACTOR], device:DEVICE, none)", a);
            }
            break;
        case O_DEVEFF:
            if (parse_double("--device-eff", a, &device_eff, err, errlen))
                return 1;
            if (device_eff <= 0 || device_eff > 1)
                return fail(err, errlen, "--device-eff must be in (0, 1]");
            break;
        case O_EVAL:
            if (parse_size("--eval-every", a, &c->eval_every, err, errlen))
                return 1;
            break;
        case O_THREADS:
            if (parse_size("--threads", a, &z, err, errlen))
                return 1;
            if (z < 1 || z > 256)
                return fail(err, errlen, "--threads must be in 1..256");
            c->threads = (int)z;
            break;
        case O_BACKEND: {
            model_err me = {0};
            if (model_device_parse(a, &c->backend, &me) != MODEL_OK)
                return fail(err, errlen, "--device: %s", me.msg);
            break;
        }
        case O_OUT:
            if (copy_str("--out", c->out_dir, sizeof c->out_dir, a, err, errlen))
                return 1;
            break;
        case O_QUIET:
            c->quiet = 1;
            break;
        case O_NOSHARED:
            c->shared_decode = 0;
            break;
        case O_OVERLAP:
            c->overlap = 1;
            break;
        case O_TARGET:
            if (parse_double("--target-accuracy", a, &c->target_accuracy, err, errlen))
                return 1;
            if (c->target_accuracy < 0 || c->target_accuracy > 1)
                return fail(err, errlen, "--target-accuracy must be in [0, 1] (a fraction)");
            break;
        case O_HELP:
            *help = 1;
            return 0;
        default:
            return fail(err, errlen, "unknown or incomplete option '%s' (see --help)",
                        argv[optind - 1]);
        }
    }
    if (optind < argc)
        return fail(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
    if (device_eff > 0) {
        if (!c->device)
            return fail(err, errlen, "--device-eff needs --compute flops:DEVICE");
        /* the profile table is const: the override lives in compute_factor for flops */
        c->compute_factor = device_eff / c->device->efficiency;
    } else if (c->compute == SIM_COMPUTE_FLOPS) {
        c->compute_factor = 1.0;
    }
    /* every spec is parsed now, before any work: a bad one is a config error even when it
     * would never be used (a quantizer on a model whose tensors are all below
     * --quant-min-numel); the quantizer is built once on a 1 x 1 tensor, which checks the
     * values of its options too (qsgd:bits=1 has no level) */
    quant_err qe = {0};
    quant_spec qs;
    quant *q = NULL;
    if (quant_spec_parse(c->quant, &qs, &qe) != QUANT_OK ||
        !(q = quant_alloc(qs.name, &qs.params, 1, 1, &qe)))
        return fail(err, errlen, "--quant: %s (spec '%s')", qe.msg, c->quant);
    quant_free(q);
    model_spec ms;
    model_err me = {0};
    if (model_spec_parse(c->model, &ms, &me) != MODEL_OK)
        return fail(err, errlen, "--model: %s (spec '%s')", me.msg, c->model);
    optim_params op;
    memset(&op, 0, sizeof op);
    optim_err oe = {0};
    if (optim_params_parse(c->optim, &op, &oe) != OPTIM_OK)
        return fail(err, errlen, "--optim: %s (spec '%s')", oe.msg, c->optim);
    unsigned xf = sim_exchange_get(c->exchange)->flags;
    if (c->overlap && !(xf & SIM_EXF_OVERLAP))
        return fail(err, errlen, "--overlap is implemented for --exchange allgather only");
    if ((xf & SIM_EXF_FP32_ONLY) && !quant_spec_lossless(&qs)) /* qs: parsed above */
        return fail(err, errlen,
                    "--exchange allreduce sums dense fp32 gradients: use --quant fp32, or "
                    "--exchange allgather/ps for '%s' (a sum of quantized messages is not a "
                    "quantized message)",
                    c->quant);
    return 0;
}

void sim_config_write(FILE *f, const sim_config *c, const char *prefix) {
    const sim_exchange_info *x = sim_exchange_get(c->exchange);
    fprintf(f, "%smodel = %s\n", prefix, c->model);
    fprintf(f, "%sdata = %s\n", prefix, c->data);
    fprintf(f, "%squant = %s\n", prefix, c->quant);
    fprintf(f, "%squant_min_numel = %zu\n", prefix, c->quant_min_numel);
    fprintf(f, "%soptim = %s\n", prefix, c->optim);
    fprintf(f, "%sexchange = %s\n", prefix, x->name);
    if (x->flags & SIM_EXF_ALLREDUCE_ALGO)
        fprintf(f, "%sallreduce = %s\n", prefix, c->allreduce_mpi ? "mpi" : "ring");
    fprintf(f, "%sbatch = %zu\n", prefix, c->batch);
    fprintf(f, "%sepochs = %g\n", prefix, c->epochs);
    fprintf(f, "%smax_steps = %zu\n", prefix, c->max_steps);
    fprintf(f, "%sseed = %llu\n", prefix, (unsigned long long)c->seed);
    if (c->compute == SIM_COMPUTE_MEASURED)
        fprintf(f, "%scompute = measured:%g\n", prefix, c->compute_factor);
    else if (c->compute == SIM_COMPUTE_FLOPS)
        fprintf(f, "%scompute = flops:%s (%.3g FLOP/s peak x %.3g sustained)\n", prefix,
                c->device->name, c->device->peak_flops, c->device->efficiency * c->compute_factor);
    else
        fprintf(f, "%scompute = fixed:%g\n", prefix, c->compute_fixed);
    if (c->codec == SIM_CODEC_MEASURED)
        fprintf(f, "%scodec = measured:%g\n", prefix, c->codec_factor);
    else if (c->codec == SIM_CODEC_DEVICE)
        fprintf(f, "%scodec = device:%s (%.3g B/s)\n", prefix, c->device->name,
                c->device->codec_bytes_per_s);
    else
        fprintf(f, "%scodec = none\n", prefix);
    fprintf(f, "%seval_every = %zu\n", prefix, c->eval_every);
    fprintf(f, "%starget_accuracy = %g\n", prefix, c->target_accuracy);
    fprintf(f, "%sthreads = %d\n", prefix, c->threads);
    fprintf(f, "%sdevice = %s\n", prefix,
            c->backend == MODEL_DEVICE_CPU    ? "cpu"
            : c->backend == MODEL_DEVICE_CUDA ? "cuda"
                                              : "auto");
    fprintf(f, "%soverlap = %d\n", prefix, c->overlap);
    fprintf(f, "%sshared_decode = %d\n", prefix, c->shared_decode);
}

double sim_compute_seconds(const sim_config *c, double measured_s, double flops) {
    switch (c->compute) {
    case SIM_COMPUTE_FLOPS:
        return flops / (c->device->peak_flops * c->device->efficiency * c->compute_factor);
    case SIM_COMPUTE_FIXED:
        return c->compute_fixed;
    case SIM_COMPUTE_MEASURED:
    default:
        return measured_s * c->compute_factor;
    }
}

double sim_codec_seconds(const sim_config *c, double measured_s, double bytes) {
    switch (c->codec) {
    case SIM_CODEC_DEVICE:
        return bytes / c->device->codec_bytes_per_s;
    case SIM_CODEC_NONE:
        return 0.0;
    case SIM_CODEC_MEASURED:
    default:
        return measured_s * c->codec_factor;
    }
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
