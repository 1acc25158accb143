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
#include "sim.h"
#include "sim_exit.h"
#include "train.h"

#define PROG "qsgdsim sim"
#define STOP_GRACE_S 3.0 /* SIGTERM -> SIGKILL of the simulation when interrupted */

/* What one SMPI rank costs, measured with SimGrid 3.32 on x86-64 Debian 12 (2 cores) from
 * /proc/PID/maps and smaps_rollup of smpimain. With smpi/privatization:no (one copy of the
 * trainer for all ranks, see run_simulation) a rank costs its context (stack + guard page):
 * 256 ranks 820 maps, 1024 ranks 2447 (2.1 per rank, 277 besides); SMPI's default dlopen
 * privatization cost 8-10 per rank and ended runs near 6,500 ranks. Memory besides the
 * model's buffers: 0.2 MiB per rank measured (ps, logreg, K = 4096: 1,242 MiB private with
 * 450 MiB of data); the constants are rounded up, and the estimate as a whole came out at
 * 1.4-2x the measured private memory of the MLP runs (docs/scale.md). */
#define MAPS_BASE 400                /* maps of smpimain besides the ranks */
#define MAPS_PER_RANK 3              /* maps per rank */
#define MEM_BASE (256.0 * 1048576)   /* bytes besides the ranks */
#define MEM_PER_RANK (0.5 * 1048576) /* bytes per rank besides the model's buffers (context) */
/* SimGrid's own message rate here: the bare SMPI ring all-gatherv (network_models/
 * collective_probe, bench/bench_sim_scale.sh) moved 65k messages in 0.6 s at 256 ranks and
 * 262k in 2.7 s at 512 ranks on this 2-core machine: ~100k messages per real second at 512
 * ranks, each message costing more as K grows (~K^0.3: the engine's per-event work grows with
 * the number of concurrent flows). Used for the wall-time warning only. */
#define MSG_RATE_512 1.0e5
#define MSG_RATE_EXP 0.3
#define WARN_STEP_S 10.0 /* warn when a step should take longer than this */
/* The memory estimate is an upper bound: 1.4-2.3x the measured private memory (docs/scale.md;
 * VGG19 on the stripes exchange: 22.6 GiB estimated, 13.9 GB measured). A point is refused
 * only when even the estimate over this factor does not fit; between the two it is warned
 * about, and the runner runs it alone. */
#define MEM_EST_OVER 2.0
/* qsgdsim's own ring all-reduce is 2(K-1) MPI_Sendrecv hops issued by the trainer, not one
 * SimGrid collective: each message costs more. Measured (bench_sim_scale.sh, its bare peer
 * `collective_probe ringsr`, load ~5 on 2 cores): 2.1M messages in 151 s at K = 1024, ~14k
 * per second, 7x slower than the all-gatherv's rate predicts there. */
#define RING_SENDRECV_COST 7.0
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
    double maxb = codec ? (double)codec->max_bytes : 4.0 * (double)(np + 1);
    /* SMPI's sharing (trainer.c: shares_params, ex_shared_recv): under the shared decode the
     * all-gathers decode once into one average and receive into one buffer; every exchange
     * but stripes and --allreduce mpi keeps one theta and optimizer for all ranks */
    int sd = c->shared_decode, ag = c->exchange == SIM_EX_ALLGATHER;
    int shares = sd && c->exchange != SIM_EX_STRIPES &&
                 !(c->exchange == SIM_EX_ALLREDUCE && c->allreduce_mpi);
    double g = 4.0 * (double)(np + 1);
    double rank = MEM_PER_RANK + model_b + codec_b + g + maxb;
    rank += shares ? 0 : 4.0 * (double)np + opt_b; /* theta, momentum */
    rank += ag && sd ? 0 : g;                      /* the decode accumulator */
    if (ag && !sd)
        rank += maxb * K; /* every rank's K messages */
    double plan = 0;      /* the requantizing ring's plan: a quantizer per chunk piece */
    if (c->exchange == SIM_EX_ALLREDUCE && !c->allreduce_mpi && codec && codec->nquantized) {
        rank += 2.0 * maxb + g / K; /* the ring's send, all-gather area and chunk */
        quant_spec qs;
        size_t chunk = (size_t)((double)(np + 1) / K) + 1;
        if (quant_spec_parse(c->quant, &qs, &err) == QSGD_OK) {
            h0 = heap_bytes();
            quant *q = quant_alloc(qs.name, &qs.params, 1, chunk, &err);
            plan = (heap_bytes() - h0 + 32.0) * (K + (double)codec->ntensors + 1.0);
            quant_free(q);
        }
    }
    if (c->exchange == SIM_EX_STRIPES)
        rank += 3.0 * maxb + g;
    /* the shard (CSR data: every worker loads the whole file, then keeps its rows) */
    double row = d->n ? d->bytes / (double)(d->n + d->ntest) : 0;
    rank += d->csr ? d->bytes : row * (double)d->n / nw;
    rank += sd ? 0 : plan; /* under SMPI's shared decode one plan serves all ranks */
    e->mem_per_rank += rank - MEM_PER_RANK;
    e->mem_fixed += (sd ? plan : 0) + d->bytes + (shares ? 4.0 * (double)np + opt_b : 0) +
                    (ag && sd ? g : 0) + (c->exchange == SIM_EX_PS ? maxb * K : 0);
    /* wall time: every worker's gradient and encode; the decodes as each exchange does them */
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
    e->mem_per_rank = MEM_PER_RANK;
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
        e->simgrid_step_s *= RING_SENDRECV_COST;
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
    e->mem = e->mem_fixed + e->mem_per_rank * k;
    e->step_s = e->simgrid_step_s + e->numerics_step_s;
    e->total_s = e->step_s * (double)e->steps;
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
    double need = e->mem;
    if (e->avail > 0 && need / MEM_EST_OVER > e->avail) {
        long fit = (long)((e->avail * MEM_EST_OVER - e->mem_fixed) / e->mem_per_rank);
        char model[160] = "";
        if (e->model_known)
            snprintf(model, sizeof model, " with the model's %zu parameters", e->nparams);
        snprintf(msg, len,
                 "--ranks %ld needs about %.1f GiB of memory%s (%.0f MiB fixed + %.2f MiB per "
                 "rank%s%s), more than is available (MemAvailable = %.1f GiB): use at most %ld "
                 "ranks%s, a smaller model or batch, or a machine with more memory",
                 ranks, need / 1073741824.0,
                 " (an upper bound: refused when half of it does not fit)",
                 e->mem_fixed / 1048576.0, e->mem_per_rank / 1048576.0, model,
                 e->model_known ? "" : ", before the model's buffers", e->avail / 1073741824.0,
                 fit > 0 ? fit : 0, "");
        return -1;
    }
    if (warn && e->avail > 0 && need > e->avail) {
        snprintf(warn, wlen,
                 "--ranks %ld may not fit in memory: about %.1f GiB estimated (an upper bound, "
                 "1.4-2.3x the measured private memory), %.1f GiB available; it runs alone "
                 "(qsgdsim run starts no other point beside it), and if the system kills it the "
                 "point fails with that reason",
                 ranks, need / 1073741824.0, e->avail / 1073741824.0);
        return 0;
    }
    if (warn && e->step_s > WARN_STEP_S) {
        char total[80] = "";
        if (e->steps)
            snprintf(total, sizeof total, ", about %.1f h for its %zu steps", e->total_s / 3600.0,
                     e->steps);
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
    const char *agv, *ag, *ar; /* SMPI collective algorithms */
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
    FILE *f = fopen(cmdf, "w");
    if (!f)
        return fail_with(r->dry ? NULL : out, QSGD_EXIT_IO, "cannot write %s: %s", cmdf,
                         strerror(errno));
    char desc[1024] = "";
    net_describe(r->nc, desc, sizeof desc, &ne);
    fprintf(f, "# qsgdsim %s (git %s)\n# invoked as: %s\n# network: %s\n# smpi model: %s (%s)\n",
            exp_version(), exp_git(), exp_command_line(), desc, net_smpi_model_name(r->sm), flags);
    for (size_t i = 0; i < ac; i++)
        fprintf(f, "%s%s", av[i], i + 1 < ac ? " " : "\n");
    if (fclose(f) != 0)
        return fail_with(r->dry ? NULL : out, QSGD_EXIT_IO, "cannot write %s: %s", cmdf,
                         strerror(errno));
    if (r->dry) {
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
    if (dry)
        printf("# estimate: %.0f MiB private (%.0f fixed + %.2f per rank%s), %.0f memory maps, "
               "%.3g s of wall time per step (SimGrid %.3g, gradients and codec %.3g)\n",
               est.mem / 1048576.0, est.mem_fixed / 1048576.0, est.mem_per_rank / 1048576.0,
               est.model_known ? "" : ", model unknown", est.maps, est.step_s, est.simgrid_step_s,
               est.numerics_step_s);
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
