/* bench_models.c — training throughput of the models (samples/s of loss_grad + plain SGD
 * step) on synthetic data of Fashion-MNIST's shape (1x28x28, 10 classes), per model, batch
 * size and OpenBLAS thread count, with the peak RSS of each run; side by side with the same
 * models in PyTorch (bench/torch_peer.py, run as a co-process when python3 can import
 * torch), measured alternately in the same run so that both see the same machine load.
 *
 * usage: bench_models [--secs S] [--rounds R] [--models a,b,..] [--batches 64,256]
 *                     [--threads 1,2] [--no-peer] [--device cpu|cuda]
 * --device cuda: the CUDA models (model.h "Devices"; theta and the SGD step stay on the host,
 * so every step uploads theta and downloads the gradient, as in the trainer) against
 * PyTorch on the same GPU (QSGDSIM_TORCH_DEVICE=cuda for the peer); without a GPU it says so
 * and exits 0.
 * env:   QSGDSIM_PYTHON (default: python3, then /usr/bin/python3), QSGDSIM_TORCH_PEER
 *        (path of torch_peer.py), OMP_WAIT_POLICY for the peer (default here: PASSIVE)
 * Each cell is the median over R rounds of S seconds each; rounds alternate which side runs
 * first. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gpu_device.h"
#include "model.h"

#define NSAMPLES 4096 /* synthetic training set; torch_peer.py uses the same */
#define MAXV 16

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t xs_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Peak RSS: reset VmHWM where Linux allows it (clear_refs 5), read it from /proc. */
static void reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static long peak_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    if (v < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        v = ru.ru_maxrss;
    }
    return v;
}

/* ---- the C side ----------------------------------------------------------------------- */

typedef struct synth {
    float *x;       /* [NSAMPLES][784] in [0,1) */
    int32_t *lab10; /* [NSAMPLES] in 0..9 */
    int32_t *lab2;  /* [NSAMPLES] in 0..1 */
    float *target;  /* [NSAMPLES] */
} synth;

static void synth_make(synth *s) {
    uint64_t st = 0x9e3779b97f4a7c15ull;
    s->x = malloc((size_t)NSAMPLES * 784 * sizeof(float));
    s->lab10 = malloc(NSAMPLES * sizeof(int32_t));
    s->lab2 = malloc(NSAMPLES * sizeof(int32_t));
    s->target = malloc(NSAMPLES * sizeof(float));
    for (size_t i = 0; i < (size_t)NSAMPLES * 784; i++)
        s->x[i] = (float)((xs_next(&st) >> 40) * (1.0 / 16777216.0));
    for (size_t i = 0; i < NSAMPLES; i++) {
        s->lab10[i] = (int32_t)(xs_next(&st) % 10);
        s->lab2[i] = (int32_t)(xs_next(&st) % 2);
        s->target[i] = (float)((xs_next(&st) >> 40) * (2.0 / 16777216.0) - 1.0);
    }
}

static dataset synth_view(const synth *s, const char *model) {
    dataset d;
    memset(&d, 0, sizeof d);
    d.shape.dim = 784;
    d.shape.channels = 1;
    d.shape.height = 28;
    d.shape.width = 28;
    d.n = NSAMPLES;
    d.layout = DATA_DENSE;
    d.x = s->x;
    if (strcmp(model, "leastsq") == 0) {
        d.shape.nclass = 0;
        d.target = s->target;
    } else if (strcmp(model, "logreg") == 0) {
        d.shape.nclass = 2;
        d.label = s->lab2;
    } else {
        d.shape.nclass = 10;
        d.label = s->lab10;
    }
    snprintf(d.source, sizeof d.source, "synthetic %d x 1x28x28", NSAMPLES);
    return d;
}

/* samples/s of loss_grad + SGD over `secs` seconds (after 3 warm-up steps); -1 on error. */
static model_device g_device = MODEL_DEVICE_CPU;

static double run_c(const synth *sy, const char *name, size_t batch, int threads, double secs,
                    long *rss_kib, double *flops) {
    model_set_threads(threads);
    reset_peak_rss();
    dataset d = synth_view(sy, name);
    qsgd_err err = {0};
    model *m = model_alloc_spec_on(name, &d.shape, batch, g_device, &err);
    if (!m) {
        fprintf(stderr, "bench_models: %s\n", err.msg);
        return -1;
    }
    float *theta = malloc(m->nparams * sizeof(float)), *g = malloc(m->nparams * sizeof(float));
    size_t *idx = malloc(batch * sizeof(size_t));
    m->type->init_params(m, theta, 1);
    uint64_t st = 12345;
    const float lr = 0.01f;
    long steps = 0;
    double t0 = 0, el = 0, loss;
    for (int w = -3;; w++) {
        if (w == 0)
            t0 = now();
        for (size_t i = 0; i < batch; i++)
            idx[i] = xs_next(&st) % NSAMPLES;
        if (m->type->loss_grad(m, theta, &d, idx, batch, &loss, g, &err) != QSGD_OK) {
            fprintf(stderr, "bench_models: %s\n", err.msg);
            steps = -1;
            break;
        }
        for (size_t j = 0; j < m->nparams; j++)
            theta[j] -= lr * g[j];
        if (w >= 0) {
            steps++;
            el = now() - t0;
            if (el >= secs && steps >= 3)
                break;
        }
    }
    *rss_kib = peak_rss_kib();
    *flops = m->type->flops_per_sample(m);
    free(theta);
    free(g);
    free(idx);
    model_free(m);
    return steps < 0 ? -1 : (double)steps * (double)batch / el;
}

/* ---- the PyTorch co-process ------------------------------------------------------------ */

typedef struct peer {
    pid_t pid;
    FILE *to, *from;
    char version[96];
} peer;

/* Start `py script --serve`; 0 when it answers "ready". *why gets its answer otherwise. */
static int peer_try(peer *p, const char *py, const char *script, char *why, size_t wlen) {
    int in[2], out[2];
    if (pipe(in) || pipe(out)) {
        snprintf(why, wlen, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, wlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execlp(py, py, script, "--serve", (char *)NULL);
        printf("unavailable cannot run %s: %s\n", py, strerror(errno));
        fflush(stdout);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->pid = pid;
    p->to = fdopen(in[1], "w");
    p->from = fdopen(out[0], "r");
    char line[512] = "";
    if (!fgets(line, sizeof line, p->from) || strncmp(line, "ready torch=", 12) != 0) {
        line[strcspn(line, "\n")] = 0;
        snprintf(why, wlen, "%s: %s", py, *line ? line : "no answer");
        fclose(p->to);
        fclose(p->from);
        waitpid(pid, NULL, 0);
        p->pid = 0;
        return -1;
    }
    line[strcspn(line, "\n")] = 0;
    snprintf(p->version, sizeof p->version, "torch %.40s (%.20s)", line + 12, py);
    return 0;
}

/* Interpreters tried in order: $QSGDSIM_PYTHON alone if set, else python3 then
 * /usr/bin/python3 (Debian's python3-torch lives there; a pyenv python3 first on PATH
 * would not see it). */
static int peer_start(peer *p) {
    memset(p, 0, sizeof *p);
    char script[1024];
    const char *env = getenv("QSGDSIM_TORCH_PEER");
    if (env && *env) {
        snprintf(script, sizeof script, "%s", env);
    } else { /* next to this source file (CMake compiles it by absolute path) */
        snprintf(script, sizeof script, "%s", __FILE__);
        char *slash = strrchr(script, '/');
        if (slash)
            snprintf(slash + 1, sizeof script - (size_t)(slash + 1 - script), "torch_peer.py");
        else
            snprintf(script, sizeof script, "torch_peer.py");
    }
    if (access(script, R_OK) != 0) {
        printf("# torch peer: %s not found (set QSGDSIM_TORCH_PEER); C side only\n", script);
        return -1;
    }
    /* libgomp's default active spin-waiting collapses torch's multi-threaded throughput
     * (~10x at 2 threads) as soon as the cores are shared with other work; passive waiting
     * is torch's better setting there, so the peer gets it unless the caller chose. */
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    const char *py = getenv("QSGDSIM_PYTHON");
    const char *cands[3] = {py, NULL, NULL};
    if (!py || !*py) {
        cands[0] = "python3";
        cands[1] = "/usr/bin/python3";
    }
    char why[600] = "";
    for (int i = 0; i < 3 && cands[i]; i++) {
        if (peer_try(p, cands[i], script, why, sizeof why) == 0)
            return 0;
        printf("# torch peer: %s\n", why);
    }
    printf("# torch peer unavailable; C side only\n");
    return -1;
}

static double peer_run(peer *p, const char *name, size_t batch, int threads, double secs,
                       long *rss_kib) {
    char line[512];
    fprintf(p->to, "run %s %zu %d %g\n", name, batch, threads, secs);
    fflush(p->to);
    if (!fgets(line, sizeof line, p->from))
        return -1;
    double sps;
    long rss, steps;
    if (sscanf(line, "ok %lf %ld %ld", &sps, &rss, &steps) != 3) {
        line[strcspn(line, "\n")] = 0;
        fprintf(stderr, "bench_models: torch peer: %s\n", line);
        return -1;
    }
    *rss_kib = rss;
    return sps;
}

static void peer_stop(peer *p) {
    if (!p->pid)
        return;
    fprintf(p->to, "quit\n");
    fclose(p->to);
    fclose(p->from);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

/* ---- driver ------------------------------------------------------------------------------ */

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int split(char *s, char **out, int cap) {
    int n = 0;
    for (char *t = strtok(s, ","); t && n < cap; t = strtok(NULL, ","))
        out[n++] = t;
    return n;
}

static void loadavg(char *buf, size_t len) {
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = 0;
    if (f) {
        if (fgets(buf, (int)len, f))
            buf[strcspn(buf, "\n")] = 0;
        fclose(f);
    }
}

int main(int argc, char **argv) {
    double secs = 1.0;
    int rounds = 3, use_peer = 1;
    char models_s[256] = "mlp,cnn,softmax,logreg,leastsq", batches_s[128] = "64,256",
         threads_s[64] = "1,2";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--secs") && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--models") && i + 1 < argc)
            snprintf(models_s, sizeof models_s, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--batches") && i + 1 < argc)
            snprintf(batches_s, sizeof batches_s, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            snprintf(threads_s, sizeof threads_s, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--no-peer"))
            use_peer = 0;
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            qsgd_err me = {0};
            if (model_device_parse(argv[++i], &g_device, &me) != QSGD_OK ||
                g_device == MODEL_DEVICE_AUTO) {
                fprintf(stderr, "bench_models: --device: expected cpu or cuda\n");
                return 2;
            }
        } else {
            fprintf(stderr,
                    "usage: %s [--secs S] [--rounds R] [--models a,b] [--batches 64,256] "
                    "[--threads 1,2] [--no-peer] [--device cpu|cuda]\n",
                    argv[0]);
            return 2;
        }
    }
    if (rounds < 1 || rounds > 64 || secs <= 0) {
        fprintf(stderr, "bench_models: need 1 <= rounds <= 64 and secs > 0\n");
        return 2;
    }
    char *models[MAXV], *bs[MAXV], *ts[MAXV];
    int nm = split(models_s, models, MAXV), nb = split(batches_s, bs, MAXV),
        nt = split(threads_s, ts, MAXV);
    signal(SIGPIPE, SIG_IGN);

    char devdesc[160] = "cpu (OpenBLAS)";
    if (g_device == MODEL_DEVICE_CUDA) {
        char why[160] = "";
        if (gpu_device_count(why, sizeof why) <= 0) {
            printf("# bench_models --device cuda: no usable CUDA GPU (%s): nothing to measure\n",
                   why);
            return 0;
        }
        char gd[128] = "";
        gpu_device_describe(0, gd, sizeof gd);
        snprintf(devdesc, sizeof devdesc, "cuda:0 %s (cuBLAS)", gd);
        setenv("QSGDSIM_TORCH_DEVICE", "cuda", 1);
    }
    synth sy;
    synth_make(&sy);
    peer p;
    int have_peer = use_peer && peer_start(&p) == 0;
    char la[128];
    loadavg(la, sizeof la);
    printf("# bench_models: synthetic %d samples of 1x28x28 (Fashion-MNIST shape), float32, "
           "loss_grad + plain SGD step per minibatch\n",
           NSAMPLES);
    printf("# %d rounds x %.2g s per cell, median; sides alternate first/second per round; "
           "cpus online %ld; loadavg at start %s\n",
           rounds, secs, sysconf(_SC_NPROCESSORS_ONLN), la);
    printf("# qsgdsim models on %s\n", devdesc);
    printf("# peer: %s, OMP_WAIT_POLICY=%s\n", have_peer ? p.version : "none",
           getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(unset)");
    printf("# RSS = peak resident set of the process during the cell (VmHWM, reset per cell); "
           "the torch process includes libtorch itself\n");
    printf("%-8s %5s %3s %14s %14s %7s %9s %10s %10s\n", "model", "batch", "thr", "qsgdsim/s",
           "torch/s", "ratio", "GFLOP/s", "RSS_C_MiB", "RSS_T_MiB");
    fflush(stdout);
    for (int im = 0; im < nm; im++)
        for (int ib = 0; ib < nb; ib++)
            for (int it = 0; it < nt; it++) {
                size_t batch = (size_t)atol(bs[ib]);
                int thr = atoi(ts[it]);
                double c[64], t[64], fl = 0;
                long rc = 0, rt = 0;
                int ok = 1, tok = have_peer;
                for (int r = 0; r < rounds && ok; r++) {
                    long k;
                    for (int side = 0; side < 2; side++) {
                        int torch_now = (side == 0) == (r % 2 == 1);
                        if (torch_now) {
                            if (!tok)
                                continue;
                            t[r] = peer_run(&p, models[im], batch, thr, secs, &k);
                            if (t[r] < 0)
                                tok = 0;
                            else if (k > rt)
                                rt = k;
                        } else {
                            c[r] = run_c(&sy, models[im], batch, thr, secs, &k, &fl);
                            if (c[r] < 0)
                                ok = 0;
                            else if (k > rc)
                                rc = k;
                        }
                    }
                }
                if (!ok) {
                    printf("%-8s %5zu %3d  (failed)\n", models[im], batch, thr);
                    continue;
                }
                double mc = median(c, rounds);
                printf("%-8s %5zu %3d %14.1f", models[im], batch, thr, mc);
                if (tok) {
                    double mt = median(t, rounds);
                    printf(" %14.1f %7.2f", mt, mc / mt);
                } else {
                    printf(" %14s %7s", "-", "-");
                }
                printf(" %9.2f %10.1f", mc * fl * 1e-9, rc / 1024.0);
                if (tok)
                    printf(" %10.1f", rt / 1024.0);
                printf("\n");
                fflush(stdout);
            }
    loadavg(la, sizeof la);
    printf("# loadavg at end %s (other work on the machine skews both sides alike only on "
           "average; rerun for tighter numbers)\n",
           la);
    if (have_peer)
        peer_stop(&p);
    free(sy.x);
    free(sy.lab10);
    free(sy.lab2);
    free(sy.target);
    return 0;
}
