/* cmd_sim.c — `qsgdsim sim`: one simulated distributed training run. Locks the output
 * directory, checks that this machine can hold the ranks (memory maps, memory), writes the
 * SimGrid platform and hostfile for the requested network (network_models/), records the
 * exact smpirun command, and runs the SMPI trainer (sim/trainer.c) under smpirun in its own
 * process group, which it stops when it is interrupted or its parent dies. Its exit status
 * comes from the status file the trainer writes, not from smpirun (which exits 0 after an
 * MPI_Abort). Everything after "--" goes to the trainer unchanged (see
 * qsgdsim-trainer-smpi --help). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "exp_runner.h"
#include "net.h"
#include "qsgd_file.h"
#include "quant_powersgd.h"
#include "sim.h"
#include "sim_exit.h"
#include "train.h"

#define PROG "qsgdsim sim"
#define STOP_GRACE_S 3.0 /* SIGTERM -> SIGKILL of the simulation when interrupted */

/* What one SMPI rank costs, measured with SimGrid 3.32 on x86-64 Debian 12 (2 cores) from
 * /proc/PID/maps and smaps_rollup of smpimain. With smpi/privatization:no (one copy of the
 * trainer for all ranks, see run_simulation) a rank costs its context (stack + guard page):
 * 256 ranks 820 maps, 1024 ranks 2447 (2.1 per rank, 277 besides); SMPI's default dlopen
 * privatization cost 8-10 per rank and ended runs near 6,500 ranks. Memory (private): this
 * command ~95 MiB (it stays while the simulation runs) and smpimain ~100 MiB before any
 * rank; a rank's context (its stack's touched pages, SimGrid's actor, small allocations)
 * 0.06-0.1 MiB (logreg on tiny data, the parameter server and rings, K = 256..4096); the
 * model's buffers are estimate_memory's. */
#define MAPS_BASE 400                /* maps of smpimain besides the ranks */
#define MAPS_PER_RANK 3              /* maps per rank */
#define MEM_BASE (200.0 * 1048576)   /* bytes besides the ranks */
#define MEM_PER_RANK (0.1 * 1048576) /* bytes per rank besides the model's buffers (context) */
/* Bytes per rank and peer while every rank is inside one of SMPI's collectives (K^2 in all,
 * transient but at once; measured with logreg on tiny data, K = 64..1024): the ring
 * MPI_Allgatherv ~180, MPI_Alltoallv (2 K requests per rank) ~1,800. The others here (ring
 * all-reduces of MPI_Sendrecv, MPI_Iallgather, the gather to one root) have none. */
#define COLL_PER_PEER 180.0
#define ALLTOALL_PER_PEER 1800.0
/* SimGrid's own message rate here: the bare SMPI ring all-gatherv (network_models/
 * collective_probe, bench/bench_sim_scale.sh) moved 65k messages in 0.6 s at 256 ranks and
 * 262k in 2.7 s at 512 ranks on this 2-core machine: ~100k messages per real second at 512
 * ranks, each message costing more as K grows (~K^0.3: the engine's per-event work grows with
 * the number of concurrent flows). Used for the wall-time warning only. */
#define MSG_RATE_512 1.0e5
#define MSG_RATE_EXP 0.3
#define WARN_STEP_S 10.0 /* warn when a step should take longer than this */
/* The memory estimate counts what the trainer writes (estimate_memory): it came out at
 * 1.00-1.17x the measured private memory of 15 points (docs/scale.md: MLP, VGG19, logreg;
 * every exchange; K = 8..4096), up to 1.23x where the 0.2 s sampling missed the setup peak.
 * A point is refused only when the estimate exceeds MemAvailable by more than this factor
 * (even its largest measured overcount would not fit); between the two it is warned about,
 * and the runner runs it alone. */
#define MEM_EST_OVER 1.2
/* qsgdsim's own ring all-reduce is 2(K-1) MPI_Sendrecv hops issued by the trainer, each
 * with a simulated computation between hops, not one SimGrid collective: each message costs
 * more, and more so as K grows. Measured on the trainer itself (bench_sim_scale.sh, MLP,
 * wall per step less gradients and codec, load 2-3 on 2 cores): 57k messages per second at
 * K = 256, 43k at 512, 27.5k at 1024, i.e. 2.2, 2.3 and 2.9x slower than the all-gatherv's
 * rate predicts; fitted as RING_COST_512 x (K / 512)^RING_COST_EXP (within 25% of those and
 * of the K = 4096 logreg run, docs/scale.md). */
#define RING_COST_512 2.3
#define RING_COST_EXP 0.5
/* The launcher's settings are the SIM_SF_LAUNCHER rows of the run-settings table
 * (sim/sim_settings.def): their options, --help lines and checks come from there. */
static void usage(FILE *f) {
    fprintf(f, "usage: qsgdsim sim --ranks K --out DIR [options] [-- TRAINER OPTIONS]\n"
               "Simulate data-parallel training on K MPI ranks over a modelled network.\n");
    for (int i = 0; i < SIM_NSETTINGS; i++) {
        const sim_setting *s = sim_setting_get(i);
        if (!(s->flags & SIM_SF_LAUNCHER))
            continue;
        char head[64];
        snprintf(head, sizeof head, "--%s %s", s->option, s->meta);
        fprintf(f, "  %-19s", head);
        for (const char *l = s->usage, *nl; l; l = nl ? nl + 1 : NULL) {
            nl = strchr(l, '\n');
            fprintf(f, "%s%.*s\n", l == s->usage ? "  " : "                       ",
                    nl ? (int)(nl - l) : (int)strlen(l), l);
        }
    }
    fprintf(f,
            "  --trainer PATH       the SMPI trainer (default: next to this program, or\n"
            "                       $QSGDSIM_TRAINER)\n"
            "  --dry-run            write the platform and print the command, run nothing\n"
            "  --out DIR            results: platform.xml, hostfile, command.txt and the\n"
            "                       trainer's iterations.tsv, eval.tsv, status\n"
            "Example:\n"
            "  qsgdsim sim --ranks 8 --network star:link=1GbE --out results/r1 -- \\\n"
            "      --model mlp --data fmnist --quant qsgd:bits=4,bucket=512 --epochs 1\n"
            "The output directory is locked while the run lasts (DIR/.lock); a second run on it\n"
            "is refused. Before starting, the memory maps (vm.max_map_count) and memory the\n"
            "ranks need are estimated; a run this machine cannot hold is refused.\n"
            "exit status (from the status file the trainer writes): 0 complete, 1 internal\n"
            "failure (or no status written), 2 bad options or settings, 3 the training diverged\n"
            "(results kept), 4 data, 5 I/O (or DIR in use), 6 resources, 130 interrupted\n");
}

/* --allocator: the malloc of smpimain (LD_PRELOAD). SimGrid 3.32 keeps every eager (detached)
 * send in one std::list of its maestro and removes each by walking the list (about K/2 nodes
 * a message on a ring of K ranks); with glibc's malloc the list's nodes end up scattered
 * between the trainer's and SimGrid's other small objects, and the walk runs from L3 (docs/
 * scale.md: "Where the time goes"). A size-class allocator keeps them together. Nothing the
 * trainer computes depends on it (tested: test_sim.sh repro). A sanitizer build keeps glibc's
 * (ASan replaces malloc itself). */
static const struct {
    const char *name, *file, *package;
} allocators[] = {{"jemalloc", "libjemalloc.so.2", "libjemalloc2"},
                  {"tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"}};

#ifndef QSGDSIM_MULTIARCH
#define QSGDSIM_MULTIARCH "x86_64-linux-gnu"
#endif

/* The library of allocator i in the usual directories: 0 and its path, or -1. */
static int allocator_find(size_t i, char *path, size_t len) {
    static const char *const dirs[] = {"/usr/lib/" QSGDSIM_MULTIARCH, "/lib/" QSGDSIM_MULTIARCH,
                                       "/usr/lib64", "/usr/lib", "/usr/local/lib"};
    for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++) {
        snprintf(path, len, "%s/%s", dirs[d], allocators[i].file);
        if (access(path, R_OK) == 0)
            return 0;
    }
    return -1;
}

/* SPEC (auto | glibc | jemalloc | tcmalloc | /path) into name and path ("" for glibc's
 * malloc): 0, or -1 with the reason in msg. */
static int allocator_resolve(const char *spec, char *name, size_t nlen, char *path, size_t plen,
                             char *msg, size_t mlen) {
    path[0] = 0;
    snprintf(name, nlen, "glibc");
    if (!strcmp(spec, "glibc"))
        return 0;
    int known = spec[0] == '/' || !strcmp(spec, "auto");
    for (size_t i = 0; i < sizeof allocators / sizeof *allocators; i++)
        known |= !strcmp(spec, allocators[i].name);
    if (!known) {
        snprintf(msg, mlen, "--allocator %s: unknown (auto, glibc, jemalloc, tcmalloc, /path)",
                 spec);
        return -1;
    }
#ifdef QSGDSIM_SANITIZED
    /* ASan's own malloc: its smpirun (cmake/smpirun-sanitize.in) sets LD_PRELOAD itself */
    if (!strcmp(spec, "auto")) {
        snprintf(name, nlen, "asan (the sanitizer build's)");
        return 0;
    }
    snprintf(msg, mlen,
             "--allocator %s: this build runs the simulation under the sanitizers, whose malloc "
             "it keeps (QSGDSIM_SANITIZE=ON); use --allocator auto or glibc",
             spec);
    return -1;
#endif
    if (spec[0] == '/') {
        if (access(spec, R_OK) != 0) {
            snprintf(msg, mlen, "--allocator %s: %s", spec, strerror(errno));
            return -1;
        }
        snprintf(name, nlen, "%s", spec);
        snprintf(path, plen, "%s", spec);
        return 0;
    }
    for (size_t i = 0; i < sizeof allocators / sizeof *allocators; i++) {
        int want = !strcmp(spec, allocators[i].name);
        if (!want && strcmp(spec, "auto"))
            continue;
        if (allocator_find(i, path, plen) == 0) {
            snprintf(name, nlen, "%s", allocators[i].name);
            return 0;
        }
        path[0] = 0;
        if (want) {
            snprintf(msg, mlen,
                     "--allocator %s: %s not found in /usr/lib/%s, /usr/lib64, /usr/lib, "
                     "/usr/local/lib (apt-get install %s; or --allocator glibc)",
                     spec, allocators[i].file, QSGDSIM_MULTIARCH, allocators[i].package);
            return -1;
        }
    }
    return 0; /* auto, none installed: glibc's */
}

static int find_trainer(const char *given, char *buf, size_t len) {
    const char *env = getenv("QSGDSIM_TRAINER");
    if (given) {
        snprintf(buf, len, "%s", given);
        return access(buf, X_OK) == 0 ? 0 : -1;
    }
    if (env && *env) {
        snprintf(buf, len, "%s", env);
        return access(buf, X_OK) == 0 ? 0 : -1;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            snprintf(buf, len, "%s/qsgdsim-trainer-smpi", self);
            if (access(buf, X_OK) == 0)
                return 0;
            snprintf(buf, len, "%s/../libexec/qsgdsim/qsgdsim-trainer-smpi", self);
            if (access(buf, X_OK) == 0)
                return 0;
        }
    }
    snprintf(buf, len, "qsgdsim-trainer-smpi (not found next to qsgdsim; set QSGDSIM_TRAINER)");
    return -1;
}

/* Write OUT/status atomically (status.partial, then rename): "failed (CLASS): MESSAGE" for
 * a failure of this command, which the runner shows as the point's reason. */
static void write_status(const char *out, int code, const char *msg) {
    char p[PATH_MAX + 16], tmp[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/status", out);
    FILE *f = qsgd_file_open(p, ".partial", tmp, sizeof tmp, NULL, 0);
    if (!f)
        return;
    int errnum = 0;
    errno = 0;
    qsgd_file_check(fprintf(f, "failed (%s): %s\n", qsgd_exit_name(code), msg), &errnum);
    qsgd_file_commit(f, &errnum, tmp, p, 0, NULL, 0); /* best effort: stderr has the message */
}

/* Report a failure: the message on stderr and, once OUT is ours, in OUT/status. */
static int fail_with(const char *out, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_with(const char *out, int code, const char *fmt, ...) {
    char msg[2 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, PROG ": %s\n", msg);
    if (out)
        write_status(out, code, msg);
    return code;
}

/* A limit of this machine: the environment variable (for tests) or the first number of a
 * line starting with key in path ("" key: the file's first number). -1 if unknown. */
static double machine_limit(const char *env, const char *path, const char *key, double scale) {
    const char *v = getenv(env);
    if (v && *v)
        return strtod(v, NULL);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    double x = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0) {
            x = strtod(line + kl, NULL) * scale;
            break;
        }
    fclose(f);
    return x;
}

/* Simulated messages of one training step on K ranks: all-gather K(K-1) (ring); ring
 * all-reduce 2K(K-1) (reduce-scatter + all-gather, K messages per hop); parameter server
 * about 2K (gather, binomial broadcast); stripes K(K-1) (all-to-all) + K(K-1) (all-gather). */
static double step_messages(const char *exchange, double k) {
    if (strcmp(exchange, "ps") == 0)
        return 2.0 * k;
    if (strcmp(exchange, "allreduce") == 0 || strcmp(exchange, "stripes") == 0)
        return 2.0 * k * (k - 1);
    return k * (k - 1);
}

/* Bytes malloc holds now (in use, heap and mmapped chunks). */
static double heap_bytes(void) {
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
}

/* The data set's shape and sizes, loaded once per data spec (cache). 0 or -1. */
static int data_info(const sim_config *c, sim_estimate_cache *cache) {
    if (cache->data[0] && strcmp(cache->data, c->data) == 0)
        return cache->ok ? 0 : -1;
    memset(cache, 0, sizeof *cache);
    snprintf(cache->data, sizeof cache->data, "%s", c->data);
    dataset *train = NULL, *test = NULL;
    qsgd_err de = {0};
    if (data_load_spec(c->data, c->seed, &train, &test, &de) != QSGD_OK)
        return -1; /* the trainer says why */
    cache->ok = 1;
    cache->dim = train->shape.dim;
    cache->channels = train->shape.channels;
    cache->height = train->shape.height;
    cache->width = train->shape.width;
    cache->nclass = train->shape.nclass;
    cache->n = train->n;
    cache->ntest = test && test != train ? test->n : 0;
    cache->csr = train->layout == DATA_CSR;
    /* a row: its features (dense fp32, or CSR's column + value per non-zero) and its label */
    double row = cache->csr ? 12.0 * (double)dataset_nnz(train) / (double)(train->n ? train->n : 1)
                            : 4.0 * (double)cache->dim;
    cache->bytes = (row + 4.0) * (double)(cache->n + cache->ntest);
    if (test != train)
        dataset_free(test);
    dataset_free(train);
    return 0;
}

/* Real seconds of one call, the second of two (the first faults the buffers in). */
#define TIME2(expr, out)                                                                           \
    do {                                                                                           \
        for (int rep_ = 0; rep_ < 2; rep_++) {                                                     \
            double t0_ = sim_wall();                                                               \
            expr;                                                                                  \
            (out) = sim_wall() - t0_;                                                              \
        }                                                                                          \
    } while (0)

/* MiB, for the breakdown */
static double mib(double bytes) {
    return bytes / 1048576.0;
}

/* The largest chunk message of the requantizing ring on K ranks (ex_allreduce.c, plan_build):
 * chunk c is [n c / K, n (c + 1) / K) of the n = nparams + 1 values, a piece per tensor it
 * overlaps (the loss one more fp32 piece); a piece costs `rate` bytes a value where the codec
 * quantizes the tensor, 4 on the others, 8 bytes of slack, and 4 of header when headers. */
static double ring_chunk_cap(const grad_codec *codec, size_t K, double rate, int headers) {
    size_t n = 1, T = codec->ntensors;
    for (size_t t = 0; t < T; t++)
        n += codec->numel[t];
    double cap = 0;
    for (size_t ch = 0, t = 0; ch < K; ch++) {
        size_t lo = n * ch / K, hi = n * (ch + 1) / K;
        double bytes = 0;
        while (t < T && codec->offset[t] + codec->numel[t] <= lo)
            t++;
        for (size_t u = t; u <= T; u++) {
            size_t s0 = u < T ? codec->offset[u] : n - 1, s1 = u < T ? s0 + codec->numel[u] : n;
            if (s0 >= hi)
                break;
            size_t a = s0 > lo ? s0 : lo, b = s1 < hi ? s1 : hi;
            if (a >= b)
                continue;
            int lossy = u < T && !codec->q[u]->type->lossless;
            bytes += (lossy ? rate : 4.0) * (double)(b - a) + 8.0 + (headers ? 4.0 : 0);
        }
        cap = bytes > cap ? bytes : cap;
    }
    return cap;
}

/* The memory part of the estimate: what the trainer (sim/trainer.c) and the exchange
 * (sim/ex_*.c) allocate AND write, per rank and once, under SMPI. A buffer that is allocated
 * but never written costs address space, not memory (its pages are never faulted in), so it
 * is not counted: the accumulator of the ranks that do not decode (stripes, the rings, the
 * parameter server's workers), the codec's decode scratch of the ranks that do not decode
 * through the codec. The inputs are the heap bytes of the model (work memory at the batch),
 * codec and optimizer built here. Fills e->mem_fixed, e->mem_per_rank (added to what
 * sim_estimate_run put there), e->mem_setup and e->mem_detail. */
static void estimate_memory(const sim_config *c, const sim_estimate_cache *d, double K,
                            const model *m, const grad_codec *codec, double model_b, double codec_b,
                            double opt_b, sim_estimate *e) {
    double np = (double)m->nparams, g = 4.0 * (np + 1), maxb = (double)codec->max_bytes;
    size_t largest = 1; /* numel of the largest tensor */
    int power = 0;      /* PowerSGD's all-reduces (ex_allreduce_powersgd.c) */
    double n1 = 1, n2 = 0;
    for (size_t t = 0; t < codec->ntensors; t++) {
        largest = codec->numel[t] > largest ? codec->numel[t] : largest;
        const quant *q = codec->q[t];
        size_t rk = q->type->allreduce == QUANT_AR_POWER ? quant_powersgd_rank(q) : 0;
        power |= rk > 0;
        n1 += rk ? (double)(q->rows * rk) : (double)codec->numel[t];
        n2 += (double)(rk * q->cols);
    }
    double tmp = 4.0 * (double)largest;     /* the codec's decode scratch (grad_codec.tmp) */
    double cstate = fmax(0, codec_b - tmp); /* its quantizers' state (residuals, scratch) */
    sim_exchange x = c->exchange;
    int sd = c->shared_decode, mpi = x == SIM_EX_ALLREDUCE && c->allreduce_mpi;
    power = power && x == SIM_EX_ALLREDUCE && !mpi;
    /* SMPI's sharing (trainer.c: shares_params): one theta and optimizer for all ranks under
     * the shared decode, for every exchange but stripes and --allreduce mpi */
    int shares = sd && x != SIM_EX_STRIPES && !mpi;
    /* every rank: its gradient and message (faulted in at setup), the model's work memory and
     * the codec's state; lens, displs, plens, pdispls ([K] ints each) are in the context */
    double own = g + maxb + model_b + cstate, params = 4.0 * np + opt_b;
    double xch = 0, once = 0, plan = 0;
    if (x == SIM_EX_ALLGATHER) {
        if (sd) /* receive buffer: SMPI shared memory (not private); one decode into one average */
            once += g + tmp;
        else /* every rank: K messages, its accumulator, its decode */
            xch += K * maxb + g + tmp;
        if (!c->overlap) /* inside SMPI's MPI_Allgatherv */
            xch += COLL_PER_PEER * K;
    } else if (x == SIM_EX_PS) {
        if (!sd)         /* rank 0 receives the K messages (per rank: K of them); under the */
            xch += maxb; /* shared decode into SMPI shared memory, as the workers the update */
        once += g + tmp; /* rank 0's accumulator and decode; the workers only encode */
    } else if (x == SIM_EX_STRIPES) {
        /* ex_stripes.c: its own message (K stripes), the K stripes it owns, every owner's
         * re-quantized stripe, its own; sim_stripes.c: buf, sum, dec hold one stripe of the
         * largest tensor each, the second quantizer one stripe's state; rlens, rdispls */
        xch += 3.0 * maxb + maxb / K + 3.0 * tmp / K + cstate / K + 8.0 * K;
        /* a first-stage quantizer per tensor and stripe: tensors x K objects per rank; SMPI's
         * MPI_Alltoallv and MPI_Allgatherv */
        quant_spec qs;
        qsgd_err err = {0};
        double qobj = 1024; /* bytes of one quantizer object, if it cannot be built here */
        if (quant_spec_parse(c->quant, &qs, &err) == QSGD_OK) {
            double h0 = heap_bytes();
            quant *q = quant_alloc(qs.name, &qs.params, 1, 1, &err);
            if (q)
                qobj = heap_bytes() - h0 + 32.0;
            quant_free(q);
        }
        xch += (qobj * (double)codec->ntensors + ALLTOALL_PER_PEER + COLL_PER_PEER) * K;
    } else if (mpi) {
        xch += g; /* MPI_Allreduce into the accumulator */
    } else if (power) {
        xch += 4.0 * (n1 + n2 + fmax(n1, n2) / K); /* its two factors' rings (b1, b2, tmp) */
    } else if (codec->nquantized && K >= 2) {
        /* the requantizing ring (ex_allreduce.c): send (one chunk's message), the all-gather
         * area (K x the largest chunk message: a chunk of fp32 tensors is 4 bytes a value), the
         * decoded chunk; a plan of K + tensors + 1 quantizers of a chunk each, once under the
         * shared decode; with *-measure the exact ring's vector and its chunk of the
         * accumulator */
        double chunk = (np + 1) / K + 1, cap = 4.0 * chunk + 64;
        quant_spec qs;
        qsgd_err err = {0};
        if (quant_spec_parse(c->quant, &qs, &err) == QSGD_OK) {
            double h0 = heap_bytes();
            quant *q = quant_alloc(qs.name, &qs.params, 1, (size_t)chunk, &err);
            if (q)
                plan = (heap_bytes() - h0 + 32.0) * (K + (double)codec->ntensors + 1.0);
            double rate = q ? (double)quant_max_bytes(q) / chunk : 4.0; /* lossy bytes a value */
            cap = ring_chunk_cap(codec, (size_t)K, rate, !quant_spec_fixed_size(&qs));
            quant_free(q);
        }
        xch += (K + 1) * cap + 4.0 * chunk + 4.0 * K;
        if (c->allreduce_sum & SIM_ARSUM_MEASURE)
            xch += g + g / K;
    } else {
        xch += g / K; /* the fp32 ring (ex_allreduce.c): its chunk of the accumulator */
    }
    if (shares)
        once += params;
    else
        own += params;
    if (sd)
        once += plan;
    else
        xch += plan;
    /* the data (trainer.c: setup_data): rank 0 loads the training and test sets, every worker
     * keeps its shard (all shards: the training set once more); rank 0 then frees the
     * training set when there is a test set, before any buffer above is allocated, so it
     * counts only at setup; CSR data: each worker loads the whole file too, one at a time */
    double row = d->n ? d->bytes / (double)(d->n + d->ntest) : 0;
    double train = row * (double)d->n, test = row * (double)d->ntest;
    double data = train + (d->ntest ? test : train);
    e->mem_setup = (d->ntest ? train : 0) + (d->csr && K > 1 ? d->bytes : 0);
    e->mem_fixed += data + once;
    e->mem_per_rank += own + xch;
    char par[40] = "shared";
    if (!shares)
        snprintf(par, sizeof par, "%.3g MiB", mib(params));
    snprintf(e->mem_detail, sizeof e->mem_detail,
             "per rank: gradient + message %.3g MiB, parameters + optimizer %s, exchange %.3g "
             "MiB, model + codec %.3g MiB; once: data %.0f MiB, shared %.3g MiB",
             mib(g + maxb), par, mib(xch), mib(model_b + cstate), mib(data), mib(once));
}

/* The model part of the estimate: builds the model and codec on one batch of zeros (the
 * data's shape), measures their memory and times one gradient, encode and decode. */
static void estimate_model(const sim_config *c, const sim_estimate_cache *d, long ranks,
                           sim_estimate *e) {
    data_shape shape = {d->dim, d->channels, d->height, d->width, d->nclass};
    qsgd_err err = {0};
    double h0 = heap_bytes();
    model *m = model_alloc_spec_on(c->model, &shape, c->batch, MODEL_DEVICE_CPU, &err);
    if (!m)
        return;
    double model_b = heap_bytes() - h0;
    h0 = heap_bytes();
    grad_codec *codec = grad_codec_alloc(m, c->quant, c->quant_min_numel, &err);
    double codec_b = heap_bytes() - h0;
    optim_params op;
    memset(&op, 0, sizeof op);
    optim *opt = NULL;
    h0 = heap_bytes();
    if (optim_params_parse(c->optim, &op, &err) == QSGD_OK) {
        train_schedule_resolve(&op, 1000, 1000, 0);
        opt = optim_alloc(m->nparams, &op, &err);
    }
    double opt_b = opt ? heap_bytes() - h0 : 0;
    size_t np = m->nparams, b = c->batch ? c->batch : 1;
    dataset *batch = NULL;
    float *theta = malloc(np * sizeof(float)), *grad = calloc(np + 1, sizeof(float));
    size_t *idx = malloc(b * sizeof *idx);
    uint8_t *msg = codec ? malloc(codec->max_bytes) : NULL;
    double t_grad = 0, t_enc = 0, t_dec = 0;
    if (codec && theta && grad && idx && msg &&
        dataset_alloc_dense(&shape, b, &batch, &err) == QSGD_OK) {
        for (size_t i = 0; i < b; i++)
            idx[i] = i;
        m->type->init_params(m, theta, c->seed);
        double loss = 0, l2 = 0;
        size_t len = 0;
        uint64_t bits = 0;
        TIME2(m->type->loss_grad(m, theta, batch, idx, b, &loss, grad, &err), t_grad);
        TIME2(grad_codec_encode(codec, grad, loss, c->seed, 0, 0, msg, codec->max_bytes, &len,
                                &bits, &err),
              t_enc);
        TIME2(grad_codec_decode_add(codec, msg, len, grad, &l2, &err), t_dec);
    }
    e->model_known = codec != NULL;
    e->nparams = np;
    double K = (double)ranks, nw = strcmp(e->exchange, "ps") == 0 ? K - 1 : K;
    if (codec)
        estimate_memory(c, d, K, m, codec, model_b, codec_b, opt_b, e);
    /* wall time: every worker's gradient and encode; the decodes as each exchange does them */
    int ag = c->exchange == SIM_EX_ALLGATHER, sd = c->shared_decode;
    double dec = ag ? (sd ? nw : nw * K) : c->exchange == SIM_EX_PS ? nw : 2.0 * K;
    e->numerics_step_s = nw * (t_grad + t_enc) + dec * t_dec;
    size_t ipe = (size_t)((double)d->n / nw) / b;
    qsgd_err te = {0};
    if (ipe < 1 || train_plan_steps(c->epochs, ipe, c->max_steps, &e->steps, &te))
        e->steps = 0;
    dataset_free(batch);
    free(theta);
    free(grad);
    free(idx);
    free(msg);
    optim_free(opt);
    grad_codec_free(codec);
    model_free(m);
}

void sim_estimate_run(long ranks, char **targs, int ntargs, sim_estimate_cache *cache,
                      sim_estimate *e) {
    memset(e, 0, sizeof *e);
    e->ranks = ranks;
    double k = (double)ranks;
    e->maps = MAPS_BASE + (double)MAPS_PER_RANK * k;
    e->max_maps = machine_limit("QSGDSIM_MAX_MAP_COUNT", "/proc/sys/vm/max_map_count", "", 1);
    e->avail = machine_limit("QSGDSIM_MEM_AVAILABLE", "/proc/meminfo", "MemAvailable:", 1024);
    e->mem_fixed = MEM_BASE;
    double ctx = MEM_PER_RANK + 16.0 * k; /* context; lens, displs, plens, pdispls */
    e->mem_per_rank = ctx;
    snprintf(e->exchange, sizeof e->exchange, "allgather");
    /* the trainer's own parser: what it will run (argv[0] is the program) */
    char **av = calloc((size_t)ntargs + 2, sizeof *av);
    sim_config c;
    sim_config_default(&c);
    int help = 0, parsed = 0;
    char err[800];
    if (av) {
        av[0] = "qsgdsim-trainer-smpi";
        for (int i = 0; i < ntargs; i++)
            av[i + 1] = targs[i];
        int saved = optind; /* getopt's state: the caller's parse goes on after this */
        optind = 0;
        parsed = sim_config_parse(ntargs + 1, av, &c, &help, err, sizeof err) == 0 && !help;
        optind = saved;
        free(av);
    }
    if (parsed)
        snprintf(e->exchange, sizeof e->exchange, "%s", sim_exchange_get(c.exchange)->name);
    e->msgs = step_messages(e->exchange, k);
    e->simgrid_step_s = e->msgs / (MSG_RATE_512 * pow(512.0 / k, MSG_RATE_EXP));
    if (strcmp(e->exchange, "allreduce") == 0 && !(parsed && c.allreduce_mpi))
        e->simgrid_step_s *= RING_COST_512 * pow(k / 512.0, RING_COST_EXP);
    /* the server's gather waits on K requests at once, which SimGrid 3.32 pays ~K^2 for:
     * measured 27 s per step at K = 4096 (logreg, 2 steps), ~1.5 s at K = 1024 (MLP) */
    if (strcmp(e->exchange, "ps") == 0)
        e->simgrid_step_s = fmax(e->simgrid_step_s, 26.0 * (k / 4096.0) * (k / 4096.0));
    sim_estimate_cache local;
    if (!cache) {
        memset(&local, 0, sizeof local);
        cache = &local;
    }
    if (parsed && data_info(&c, cache) == 0)
        estimate_model(&c, cache, ranks, e);
    /* the larger of the two peaks: training, or the end of setup_data (no buffers yet) */
    e->mem = fmax(e->mem_fixed + e->mem_per_rank * k, e->mem_fixed + e->mem_setup + ctx * k);
    e->step_s = e->simgrid_step_s + e->numerics_step_s;
    e->total_s = e->step_s * (double)e->steps;
}

void cli_fmt_duration(double s, char *buf, size_t len) {
    if (!(s >= 0) || !isfinite(s))
        snprintf(buf, len, "?");
    else if (s < 10)
        snprintf(buf, len, "%.1fs", s);
    else if (s < 60)
        snprintf(buf, len, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

void sim_estimate_describe(const sim_estimate *e, char *buf, size_t len) {
    char total[80] = "";
    if (e->steps)
        snprintf(total, sizeof total, "; %.3g s for its %zu step%s", e->total_s, e->steps,
                 e->steps == 1 ? "" : "s");
    snprintf(buf, len,
             "%.0f MiB private (%.0f fixed + %.2f per rank%s), %.0f memory maps, %.3g s of wall "
             "time per step (SimGrid %.3g, gradients and codec %.3g)%s",
             e->mem / 1048576.0, e->mem_fixed / 1048576.0, e->mem_per_rank / 1048576.0,
             e->model_known ? "" : ", model unknown", e->maps, e->step_s, e->simgrid_step_s,
             e->numerics_step_s, total);
}

int sim_estimate_check(const sim_estimate *e, char *msg, size_t len, char *warn, size_t wlen) {
    long ranks = e->ranks;
    if (warn && wlen)
        warn[0] = '\0';
    if (e->max_maps > 0 && e->maps > e->max_maps) {
        long fit = (long)((e->max_maps - MAPS_BASE) / MAPS_PER_RANK);
        snprintf(msg, len,
                 "--ranks %ld needs about %.0f memory maps (%d per rank under SMPI), more than "
                 "this machine allows (vm.max_map_count = %.0f): use at most %ld ranks, or raise "
                 "the limit as root: sysctl -w vm.max_map_count=%.0f",
                 ranks, e->maps, MAPS_PER_RANK, e->max_maps, fit > 0 ? fit : 0,
                 65536.0 * ceil(e->maps * 1.25 / 65536.0));
        return -1;
    }
    double need = e->mem, room = e->avail * MEM_EST_OVER;
    if (e->avail > 0 && need > room) {
        /* the ranks that fit while it trains; none if the data alone does not (setup) */
        long fit = (long)((room - e->mem_fixed) / e->mem_per_rank);
        if (e->mem_fixed + e->mem_setup > room)
            fit = 0;
        char model[160] = "", setup[96] = "";
        if (e->model_known)
            snprintf(model, sizeof model, " with the model's %zu parameters", e->nparams);
        if (e->mem_setup >= 1048576.0)
            snprintf(setup, sizeof setup, "; %.0f MiB more while the data is sharded",
                     e->mem_setup / 1048576.0);
        snprintf(msg, len,
                 "--ranks %ld needs about %.1f GiB of memory (%.0f MiB fixed + %.2f MiB per "
                 "rank%s%s%s), more than is available (MemAvailable = %.1f GiB, and the estimate "
                 "is at most %.0f%% high): use at most %ld ranks, a smaller model, batch or "
                 "data set, or a machine with more memory",
                 ranks, need / 1073741824.0, e->mem_fixed / 1048576.0, e->mem_per_rank / 1048576.0,
                 model, e->model_known ? "" : ", before the model's buffers", setup,
                 e->avail / 1073741824.0, 100.0 * (MEM_EST_OVER - 1.0), fit > 0 ? fit : 0);
        return -1;
    }
    if (warn && e->avail > 0 && need > e->avail) {
        snprintf(warn, wlen,
                 "--ranks %ld may not fit in memory: about %.1f GiB estimated (at most %.0f%% "
                 "high), %.1f GiB available; it runs alone (qsgdsim run starts no other point "
                 "beside it), and if the system kills it the point fails with that reason",
                 ranks, need / 1073741824.0, 100.0 * (MEM_EST_OVER - 1.0), e->avail / 1073741824.0);
        return 0;
    }
    if (warn && e->step_s > WARN_STEP_S) {
        char total[80] = "";
        if (e->steps) {
            char t[32];
            cli_fmt_duration(e->total_s, t, sizeof t);
            snprintf(total, sizeof total, ", about %s for its %zu step%s", t, e->steps,
                     e->steps == 1 ? "" : "s");
        }
        snprintf(warn, wlen,
                 "--ranks %ld with --exchange %s: about %.0f s of wall time per training step%s "
                 "(SimGrid alone %.0f s: %.3g simulated messages at ~%.0fk per real second on a "
                 "2-core machine, docs/scale.md; real gradients and codec %.0f s): limit the run "
                 "with --max-steps, use fewer ranks%s",
                 ranks, e->exchange, e->step_s, total, e->simgrid_step_s, e->msgs,
                 e->msgs / e->simgrid_step_s / 1000.0, e->numerics_step_s,
                 strcmp(e->exchange, "ps") == 0 ? ""
                                                : ", or --exchange ps (O(K) messages per step)");
    }
    return 0;
}

static volatile sig_atomic_t stop_sig; /* SIGINT/SIGTERM/SIGHUP received (or parent died) */

static void on_stop(int sig) {
    stop_sig = sig;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Wait for pid (the leader of the simulation's process group). On SIGINT/SIGTERM/SIGHUP
 * (also the parent's death: PR_SET_PDEATHSIG) stop the whole group: SIGTERM, then SIGKILL
 * after STOP_GRACE_S. Every stray of the group is killed at the end. Returns the wait
 * status; *stopped = 1 if it was stopped. */
static int wait_simulation(pid_t pid, int *stopped) {
    int st = 0;
    double waited = -1;
    *stopped = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, stop_sig ? WNOHANG : 0);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            break;
        if (stop_sig) {
            if (!*stopped) {
                *stopped = 1;
                kill(-pid, SIGTERM);
                waited = 0;
            } else if (waited >= STOP_GRACE_S) {
                kill(-pid, SIGKILL);
            }
            sleep_s(0.05);
            waited += 0.05;
        }
    }
    kill(-pid, SIGKILL); /* anything left of the simulation (smpirun runs smpimain in the
                            background) */
    return st;
}

/* The first number after "iteration " in a status line, or "?" */
static void divergence_iteration(const char *status, char *buf, size_t len) {
    const char *p = strstr(status, "iteration ");
    size_t n = p ? strspn(p + 10, "0123456789") : 0;
    if (n)
        snprintf(buf, len, "%.*s", (int)n, p + 10);
    else
        snprintf(buf, len, "?");
}

/* One simulation: what cmd_sim parsed. */
typedef struct sim_run {
    const net_config *nc;
    net_smpi_model sm;
    const char *agv, *ag, *ar;   /* SMPI collective algorithms */
    const char *alloc, *preload; /* --allocator: its name, its library ("": glibc's malloc) */
    const char *trainer, *out;
    long ranks;
    char **targs; /* [ntargs] the trainer's own arguments (after "--") */
    int ntargs;
    int dry;
} sim_run;

/* Record the command in cmdf, run smpirun (unless a dry run) and turn what the trainer wrote
 * into the exit status. */
static int run_smpirun(const sim_run *r, char **av, size_t ac, const char *flags,
                       const char *cmdf) {
    const char *out = r->out;
    qsgd_err ne = {0};
    /* the allocator is part of the command: the line runs as written (before any user's
     * LD_PRELOAD, which it keeps) */
    const char *pre = getenv("LD_PRELOAD");
    char preload[PATH_MAX + 4096] = "";
    if (r->preload[0] &&
        (size_t)snprintf(preload, sizeof preload, "%s%s%s", r->preload, pre && *pre ? " " : "",
                         pre && *pre ? pre : "") >= sizeof preload)
        return fail_with(r->dry ? NULL : out, QSGD_EXIT_CONFIG,
                         "--allocator %s: LD_PRELOAD with it would exceed %zu characters", r->alloc,
                         sizeof preload - 1);
    FILE *f = fopen(cmdf, "w");
    if (!f)
        return fail_with(r->dry ? NULL : out, QSGD_EXIT_IO, "cannot write %s: %s", cmdf,
                         strerror(errno));
    char desc[1024] = "";
    net_describe(r->nc, desc, sizeof desc, &ne);
    fprintf(f, "# qsgdsim %s (git %s)\n# invoked as: %s\n# network: %s\n# smpi model: %s (%s)\n",
            exp_version(), exp_git(), exp_command_line(), desc, net_smpi_model_name(r->sm), flags);
    fprintf(f, "# allocator: %s%s%s\n", r->alloc, r->preload[0] ? " " : "", r->preload);
    if (preload[0])
        fprintf(f, "env 'LD_PRELOAD=%s' ", preload);
    for (size_t i = 0; i < ac; i++)
        fprintf(f, "%s%s", av[i], i + 1 < ac ? " " : "\n");
    if (fclose(f) != 0)
        return fail_with(r->dry ? NULL : out, QSGD_EXIT_IO, "cannot write %s: %s", cmdf,
                         strerror(errno));
    if (r->dry) {
        if (preload[0])
            printf("env 'LD_PRELOAD=%s' ", preload);
        for (size_t i = 0; i < ac; i++)
            printf("%s%s", av[i], i + 1 < ac ? " " : "\n");
        return QSGD_EXIT_OK;
    }
    /* stop the simulation on SIGINT/SIGTERM/SIGHUP; no SA_RESTART: waitpid returns */
    struct sigaction sa, old[3];
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    stop_sig = 0;
    for (int k = 0; k < 3; k++)
        sigaction(sigs[k], &sa, &old[k]);
    fflush(stdout);
    fflush(stderr);
    pid_t self = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        for (int k = 0; k < 3; k++)
            sigaction(sigs[k], &old[k], NULL);
        return fail_with(out, QSGD_EXIT_RESOURCES, "cannot start smpirun: fork: %s", strerror(e));
    }
    if (pid == 0) {
        for (int k = 0; k < 3; k++)
            signal(sigs[k], SIG_DFL);
        setpgid(0, 0); /* its own group: stopped as a whole */
        /* smpirun forwards SIGTERM to the simulation: it dies with this process */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != self)
            _exit(QSGD_EXIT_INTERRUPTED);
        if (preload[0] && setenv("LD_PRELOAD", preload, 1) != 0) {
            fprintf(stderr, PROG ": --allocator %s: cannot set LD_PRELOAD: %s\n", r->alloc,
                    strerror(errno));
            _exit(QSGD_EXIT_RESOURCES);
        }
        execvp("smpirun", av);
        fprintf(stderr, PROG ": cannot run smpirun: %s (install libsimgrid-dev)\n",
                strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also here: no race with a kill of the group */
    int stopped, st = wait_simulation(pid, &stopped);
    for (int k = 0; k < 3; k++)
        sigaction(sigs[k], &old[k], NULL);
    char how[80];
    if (WIFSIGNALED(st))
        snprintf(how, sizeof how, "smpirun killed by signal %d (%s)", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    else if (WEXITSTATUS(st) > 128)
        snprintf(how, sizeof how, "smpirun exit status %d: the simulation was killed by signal %d",
                 WEXITSTATUS(st), WEXITSTATUS(st) - 128);
    else
        snprintf(how, sizeof how, "smpirun exit status %d", WEXITSTATUS(st));
    if (stopped) {
        fprintf(stderr,
                PROG ": interrupted (signal %d): the simulation was stopped; %s has no "
                     "status\n",
                (int)stop_sig, out);
        return QSGD_EXIT_INTERRUPTED;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return fail_with(out, QSGD_EXIT_CONFIG, "cannot run smpirun (install libsimgrid-dev)");
    /* the result is what the trainer wrote: OUT/status, written last */
    char status[512] = "", st_path[PATH_MAX + 16];
    snprintf(st_path, sizeof st_path, "%s/status", out);
    f = fopen(st_path, "r");
    if (f) {
        if (!fgets(status, sizeof status, f))
            status[0] = '\0';
        fclose(f);
        status[strcspn(status, "\r\n")] = '\0';
    }
    if (!f) {
        /* The trainer exits with its class when it cannot write the status file itself
         * (a full disk): keep that class. smpirun's 0 after an MPI_Abort, a signal or any
         * other status stays internal. */
        int code = QSGD_EXIT_INTERNAL;
        if (WIFEXITED(st)) {
            int e = WEXITSTATUS(st);
            if (e == QSGD_EXIT_CONFIG || e == QSGD_EXIT_DATA || e == QSGD_EXIT_IO ||
                e == QSGD_EXIT_RESOURCES)
                code = e;
        }
        return fail_with(out, code, "the trainer ended without writing its status (%s: %s)", how,
                         qsgd_exit_name(code));
    }
    if (strncmp(status, "complete", 8) == 0) {
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fprintf(stderr, PROG ": warning: %s after the trainer wrote status '%s'\n", how,
                    status);
        return QSGD_EXIT_OK;
    }
    if (strncmp(status, "diverged", 8) == 0) {
        char it[32];
        divergence_iteration(status, it, sizeof it);
        fprintf(stderr, PROG ": the training diverged at iteration %s; results kept in %s\n", it,
                out);
        return QSGD_EXIT_DIVERGED;
    }
    if (strncmp(status, "failed (", 8) == 0) {
        char cls[32] = "";
        size_t n = strcspn(status + 8, ")");
        if (n < sizeof cls)
            snprintf(cls, sizeof cls, "%.*s", (int)n, status + 8);
        int code = qsgd_exit_from_name(cls);
        if (code == QSGD_EXIT_OK || code == QSGD_EXIT_DIVERGED) /* not failure classes */
            code = QSGD_EXIT_INTERNAL;
        fprintf(stderr, PROG ": the simulation %s; see %s\n", status, out);
        return code;
    }
    return fail_with(out, QSGD_EXIT_INTERNAL, "the trainer wrote an unknown status '%s' (%s)",
                     status, how);
}

/* One simulation, its output directory locked. */
static int run_simulation(const sim_run *r) {
    const char *out = r->out;
    qsgd_err ne = {0};
    char st_path[PATH_MAX + 16];
    snprintf(st_path, sizeof st_path, "%s/status", out);
    if (!r->dry && unlink(st_path) != 0 && errno != ENOENT) /* a stale status is no result */
        return fail_with(NULL, QSGD_EXIT_IO, "cannot remove the old %s: %s", st_path,
                         strerror(errno));
    char xml[PATH_MAX + 16], hosts[PATH_MAX + 16], cmdf[PATH_MAX + 16];
    snprintf(xml, sizeof xml, "%s/platform.xml", out);
    snprintf(hosts, sizeof hosts, "%s/hostfile", out);
    snprintf(cmdf, sizeof cmdf, "%s/command.txt", out);
    if (net_write_platform(r->nc, xml, hosts, &ne) != QSGD_OK)
        return fail_with(r->dry ? NULL : out, QSGD_EXIT_IO, "%s", ne.msg);
    char flags[4096];
    if (net_smpi_flags(r->nc, r->sm, flags, sizeof flags, &ne) != QSGD_OK)
        return fail_with(r->dry ? NULL : out, QSGD_EXIT_CONFIG, "%s", ne.msg);

    /* argv for smpirun, sized for every flag and trainer argument: nothing is dropped */
    size_t nflags = 1;
    for (const char *c = flags; *c; c++)
        nflags += *c == ' ';
    size_t cap = 24 + nflags + (size_t)r->ntargs + 1;
    char **av = calloc(cap, sizeof *av);
    char *np = NULL, *cagv = NULL, *cag = NULL, *car = NULL, *flagcopy = strdup(flags);
    if (!av || !flagcopy || asprintf(&np, "%ld", r->ranks) < 0 ||
        asprintf(&cagv, "--cfg=smpi/allgatherv:%s", r->agv) < 0 ||
        asprintf(&cag, "--cfg=smpi/allgather:%s", r->ag) < 0 ||
        asprintf(&car, "--cfg=smpi/allreduce:%s", r->ar) < 0) {
        free(av);
        free(flagcopy);
        return fail_with(r->dry ? NULL : out, QSGD_EXIT_RESOURCES, "out of memory");
    }
    size_t ac = 0;
    av[ac++] = "smpirun";
    av[ac++] = "-np";
    av[ac++] = np;
    av[ac++] = "-platform";
    av[ac++] = xml;
    av[ac++] = "-hostfile";
    av[ac++] = hosts;
    char *save = NULL;
    for (char *tok = strtok_r(flagcopy, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        av[ac++] = tok;
    av[ac++] = "--cfg=smpi/simulate-computation:no";
    /* One copy of the trainer for all ranks: SMPI's default privatization dlopens a copy per
     * rank (a file in smpi/tmpdir and ~8 memory maps each: vm.max_map_count ended runs near
     * 6,500 ranks, and the copies' relocations and constructors cost setup time). The trainer
     * has no mutable globals (sim/check_no_globals.sh checks its writable .data/.bss in CTest),
     * so privatization buys nothing. */
    av[ac++] = "--cfg=smpi/privatization:no";
    av[ac++] = "--log=root.thres:warning";
    av[ac++] = cagv;
    av[ac++] = cag;
    av[ac++] = car;
    av[ac++] = (char *)r->trainer;
    av[ac++] = "--out";
    av[ac++] = (char *)out;
    for (int i = 0; i < r->ntargs; i++)
        av[ac++] = r->targs[i];
    av[ac] = NULL;
    int rc = run_smpirun(r, av, ac, flags, cmdf);
    free(av);
    free(flagcopy);
    free(np);
    free(cagv);
    free(cag);
    free(car);
    return rc;
}

int cmd_sim(int argc, char **argv) {
    enum { O_TRAINER = 1, O_OUT, O_DRY, O_HELP, O_SETTING = 256 };
    struct option opts[SIM_NSETTINGS + 5];
    const char *val[SIM_NSETTINGS] = {0}; /* the launcher settings given, else the defaults */
    int nopt = 0;
    for (int i = 0; i < SIM_NSETTINGS; i++) {
        const sim_setting *s = sim_setting_get(i);
        if (!(s->flags & SIM_SF_LAUNCHER))
            continue;
        opts[nopt++] = (struct option){s->option, required_argument, 0, O_SETTING + i};
        val[i] = *s->def ? s->def : NULL;
    }
    opts[nopt++] = (struct option){"trainer", required_argument, 0, O_TRAINER};
    opts[nopt++] = (struct option){"out", required_argument, 0, O_OUT};
    opts[nopt++] = (struct option){"dry-run", no_argument, 0, O_DRY};
    opts[nopt++] = (struct option){"help", no_argument, 0, O_HELP};
    opts[nopt] = (struct option){0, 0, 0, 0};
    long ranks = 0;
    const char *trainer_arg = NULL, *out = NULL;
    int dry = 0, o, given_ranks = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o >= O_SETTING && o < O_SETTING + SIM_NSETTINGS) {
            val[o - O_SETTING] = optarg;
            given_ranks |= o - O_SETTING == SIM_SET_WORKERS;
            continue;
        }
        switch (o) {
        case O_TRAINER:
            trainer_arg = optarg;
            break;
        case O_OUT:
            out = optarg;
            break;
        case O_DRY:
            dry = 1;
            break;
        case 'h':
        case O_HELP:
            usage(stdout);
            return CMD_OK;
        default:
            fprintf(stderr, PROG ": unknown or incomplete option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return QSGD_EXIT_CONFIG;
        }
    }
    if (given_ranks) {
        const sim_setting *w = sim_setting_get(SIM_SET_WORKERS);
        const char *a = val[SIM_SET_WORKERS];
        char *end;
        errno = 0;
        ranks = strtol(a, &end, 10);
        if (errno || *end || ranks < (long)w->min || ranks > (long)w->max) {
            fprintf(stderr, PROG ": --ranks: '%s' is not an integer in %llu..%llu\n", a, w->min,
                    w->max);
            return QSGD_EXIT_CONFIG;
        }
    }
    const char *network = val[SIM_SET_NETWORK], *model = val[SIM_SET_SMPI_MODEL];
    /* SimGrid's collectives when not given: ring all-gathers, lr (ring) all-reduce */
    const char *agv = val[SIM_SET_SMPI_ALLGATHERV] ? val[SIM_SET_SMPI_ALLGATHERV] : "ring";
    const char *ag = val[SIM_SET_SMPI_ALLGATHER];
    const char *ar = val[SIM_SET_SMPI_ALLREDUCE] ? val[SIM_SET_SMPI_ALLREDUCE] : "lr";
    char alloc[PATH_MAX], preload[PATH_MAX], amsg[PATH_MAX + 256];
    if (allocator_resolve(val[SIM_SET_ALLOCATOR] ? val[SIM_SET_ALLOCATOR] : "auto", alloc,
                          sizeof alloc, preload, sizeof preload, amsg, sizeof amsg) != 0) {
        fprintf(stderr, PROG ": %s\n", amsg);
        return QSGD_EXIT_CONFIG;
    }
    if (!ranks || !out || !*out) {
        fprintf(stderr, PROG ": --ranks and --out are required\n");
        usage(stderr);
        return QSGD_EXIT_CONFIG;
    }
    /* network: hosts = ranks unless the spec sizes the platform itself */
    char *spec = NULL;
    int sn;
    if (strstr(network, "hosts=") || strstr(network, "nodes="))
        sn = asprintf(&spec, "%s", network);
    else
        sn = asprintf(&spec, "%s%shosts=%ld", network, strchr(network, ':') ? "," : ":", ranks);
    if (sn < 0) {
        fprintf(stderr, PROG ": out of memory\n");
        return QSGD_EXIT_RESOURCES;
    }
    net_config nc;
    qsgd_err ne = {0};
    int bad = net_config_parse(spec, &nc, &ne) != QSGD_OK;
    free(spec);
    if (bad) {
        fprintf(stderr, PROG ": --network '%s': %s\n", network, ne.msg);
        return QSGD_EXIT_CONFIG;
    }
    if ((long)nc.hosts < ranks) {
        fprintf(stderr, PROG ": --network '%s' has %u hosts, fewer than --ranks %ld\n", network,
                nc.hosts, ranks);
        return QSGD_EXIT_CONFIG;
    }
    net_smpi_model sm;
    if (net_smpi_model_parse(model, &sm, &ne) != QSGD_OK) {
        fprintf(stderr, PROG ": --smpi-model: %s\n", ne.msg);
        return QSGD_EXIT_CONFIG;
    }
    if (!ag)
        ag = net_topology_get(nc.topology)->smpi_allgather; /* the topology's choice */
    char res[1024], warn[1024];
    sim_estimate est;
    sim_estimate_run(ranks, argv + optind, argc - optind, NULL, &est);
    if (sim_estimate_check(&est, res, sizeof res, warn, sizeof warn) != 0) {
        fprintf(stderr, PROG ": %s\n", res);
        return QSGD_EXIT_RESOURCES;
    }
    if (warn[0])
        fprintf(stderr, PROG ": warning: %s\n", warn);
    if (dry) {
        char desc[512];
        sim_estimate_describe(&est, desc, sizeof desc);
        printf("# estimate: %s\n", desc);
    }
    if (dry && est.mem_detail[0])
        printf("# memory: %s\n", est.mem_detail);
    char trainer[PATH_MAX + 64];
    if (find_trainer(trainer_arg, trainer, sizeof trainer) != 0) {
        fprintf(stderr, PROG ": cannot run the SMPI trainer: %s\n", trainer);
        return QSGD_EXIT_CONFIG;
    }
    /* the point is ours while this process (or the simulation it starts) lives */
    exp_lock lock;
    if (exp_lock_dir(&lock, out, PROG, "qsgdsim sim") != 0)
        return QSGD_EXIT_IO;
    sim_run r = {.nc = &nc,
                 .sm = sm,
                 .agv = agv,
                 .ag = ag,
                 .ar = ar,
                 .alloc = alloc,
                 .preload = preload,
                 .trainer = trainer,
                 .out = out,
                 .ranks = ranks,
                 .targs = argv + optind,
                 .ntargs = argc - optind,
                 .dry = dry};
    int rc = run_simulation(&r);
    exp_lock_release(&lock);
    return rc;
}
