/* exp_runner.c — the runner of `qsgdsim run`: one `qsgdsim sim` child process (its own
 * process group) per point, up to -j at a time, resume from status files, a progress line on
 * a terminal, Ctrl-C handling, the summary table and the plot step (exp_runner.h). */
#define _GNU_SOURCE
#include "exp_runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "quant.h"
#include "sim.h"

#define PROG "qsgdsim run"
#define LOG_TAIL_LINES 12 /* lines of a failed point's log shown */
#define KILL_GRACE_S 3.0  /* SIGTERM -> SIGKILL */

enum pstate { P_PENDING, P_RUNNING, P_COMPLETE, P_DIVERGED, P_FAILED, P_STOPPED };
static const char *const state_names[] = {"not-run", "running", "complete", "diverged", "failed",
                                          "interrupted"};

typedef struct pt {
    enum pstate state;
    int skipped;    /* complete from an earlier run */
    pid_t pid;
    double t0, wall; /* real seconds */
    int status;     /* waitpid status */
    char path[PATH_MAX];
} pt;

/* Metrics of a finished point, from its files (NaN = not available). */
typedef struct metrics {
    double acc;      /* last test accuracy in eval.tsv */
    double sim_time; /* final simulated time (summary.txt) */
    double ttt;      /* time_to_target (summary.txt), NaN if not reached / not set */
    double tpe;      /* simulated time per epoch: last sim_time / last epoch (iterations.tsv) */
    double bits;     /* mean bits_sent per iteration */
    double speedup;
} metrics;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted++;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL); /* a signal cuts it short: fine */
}

/* ---- progress output ------------------------------------------------------------------------ */
static int tty;           /* stderr is a terminal */
static int progress_shown; /* a progress line is on screen */

static void clear_progress(void) {
    if (progress_shown) {
        fputs("\r\033[K", stderr);
        progress_shown = 0;
    }
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    clear_progress();
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

static void fmt_duration(double s, char *buf, size_t len) {
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

/* ---- files ------------------------------------------------------------------------------------ */
static int read_file(const char *path, char *buf, size_t len) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
    return 0;
}

/* The last `want` bytes of a file (whole lines after the first newline). */
static int read_tail(const char *path, char *buf, size_t len) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long start = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        start = size > (long)len - 1 ? size - ((long)len - 1) : 0;
    }
    fseek(f, start, SEEK_SET);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
    if (start > 0) {
        char *nl = strchr(buf, '\n');
        if (nl)
            memmove(buf, nl + 1, strlen(nl + 1) + 1);
    }
    return 0;
}

/* The last data line (not '#', not the header starting with a letter) of text; its fields
 * split on tabs into f[max]. Returns the number of fields, 0 if none. */
static int last_row(char *text, char **f, int max) {
    char *last = NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (line[0] != '#' && ((line[0] >= '0' && line[0] <= '9') || line[0] == '-'))
            last = line;
    if (!last)
        return 0;
    int n = 0;
    for (char *save = NULL, *t = strtok_r(last, "\t", &save); t && n < max; t = strtok_r(NULL, "\t", &save))
        f[n++] = t;
    return n;
}

/* Split one line (its newline dropped) on tabs into f[max]; returns the field count. */
static int split_tabs(char *line, char **f, int max) {
    line[strcspn(line, "\n")] = '\0';
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, "\t", &save); t && n < max; t = strtok_r(NULL, "\t", &save))
        f[n++] = t;
    return n;
}

/* A TSV file or, failing that, its .partial. */
static FILE *open_table(const char *dir, const char *name) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    if (!f) {
        snprintf(p, sizeof p, "%s/%s.partial", dir, name);
        f = fopen(p, "r");
    }
    return f;
}

static double kv_number(const char *text, const char *key) {
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, key, kl) == 0 && strncmp(l + kl, " = ", 3) == 0)
            return strtod(l + kl + 3, NULL);
    return NAN;
}

static void read_metrics(const char *dir, metrics *m) {
    m->acc = m->sim_time = m->ttt = m->tpe = m->bits = m->speedup = NAN;
    char buf[8192], p[PATH_MAX + 64];
    /* eval.tsv: iteration epoch sim_time test_loss test_accuracy */
    FILE *f = open_table(dir, "eval.tsv");
    if (f) {
        char line[1024], *fld[8];
        while (fgets(line, sizeof line, f))
            if (line[0] >= '0' && line[0] <= '9' && split_tabs(line, fld, 8) >= 5)
                m->acc = strtod(fld[4], NULL);
        fclose(f);
    }
    /* iterations.tsv: iteration epoch sim_time compute encode comm decode bits_sent loss lr */
    f = open_table(dir, "iterations.tsv");
    if (f) {
        char line[1024], *fld[12];
        double bits = 0, epoch = NAN, t = NAN;
        size_t rows = 0;
        while (fgets(line, sizeof line, f)) {
            if (line[0] < '0' || line[0] > '9' || split_tabs(line, fld, 12) < 8)
                continue;
            epoch = strtod(fld[1], NULL);
            t = strtod(fld[2], NULL);
            bits += strtod(fld[7], NULL);
            rows++;
        }
        fclose(f);
        if (rows) {
            m->bits = bits / (double)rows;
            if (epoch > 0)
                m->tpe = t / epoch;
            m->sim_time = t;
        }
    }
    snprintf(p, sizeof p, "%s/summary.txt", dir);
    if (read_file(p, buf, sizeof buf) == 0) {
        double st = kv_number(buf, "sim_time");
        if (isfinite(st))
            m->sim_time = st;
        double target = kv_number(buf, "target_accuracy"), ttt = kv_number(buf, "time_to_target");
        if (target > 0 && isfinite(ttt))
            m->ttt = ttt;
    }
}

/* Remove the regular files of a point directory (an incomplete or forced point). */
static void clean_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[PATH_MAX + 300];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && !S_ISDIR(st.st_mode))
            unlink(p);
    }
    closedir(d);
}

/* Shell-quoted command line of argv, without the "--out DIR" pair when skip_out. */
static void join_argv(char *const *argv, int skip_out, char *buf, size_t len) {
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; argv[i] && off + 4 < len; i++) {
        if (skip_out && strcmp(argv[i], "--out") == 0 && argv[i + 1]) {
            i++;
            continue;
        }
        const char *a = argv[i];
        int plain = *a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789-_=+.,/:@%") == strlen(a);
        if (off)
            buf[off++] = ' ';
        if (!plain)
            buf[off++] = '\'';
        for (; *a && off + 6 < len; a++) {
            if (*a == '\'' && !plain) {
                memcpy(buf + off, "'\\''", 4);
                off += 4;
            } else {
                buf[off++] = *a == '\n' ? ' ' : *a;
            }
        }
        if (!plain && off + 1 < len)
            buf[off++] = '\'';
        buf[off] = '\0';
    }
}

static int write_atomic(const char *path, const char *data, size_t n) {
    char tmp[PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s.partial", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int bad = fwrite(data, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int copy_file(const char *from, const char *to) {
    FILE *f = fopen(from, "rb");
    if (!f)
        return -1;
    char *data = NULL;
    size_t n = 0, cap = 0;
    char chunk[8192];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n + k > cap) {
            cap = 2 * (n + k);
            char *d = realloc(data, cap);
            if (!d) {
                free(data);
                fclose(f);
                return -1;
            }
            data = d;
        }
        memcpy(data + n, chunk, k);
        n += k;
    }
    fclose(f);
    int rc = write_atomic(to, data ? data : "", n);
    free(data);
    return rc;
}

static void provenance(FILE *f, const exp_experiment *e, const char *what) {
    time_t t = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", localtime(&t));
    fprintf(f, "# qsgdsim run: %s of experiment '%s'%s%s\n", what, e->name,
            *e->description ? ": " : "", e->description);
    fprintf(f, "# version: qsgdsim %s\n# git: %s\n# command: %s\n# experiment: %s\n# date: %s\n",
            exp_version(), exp_git(), exp_command_line(), e->path, date);
}

static int write_points(const exp_experiment *e, const char *dir) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/points.tsv", dir);
    char *data = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&data, &n);
    if (!f)
        return -1;
    provenance(f, e, "the points (one per directory)");
    fprintf(f, "point\tdir");
    for (size_t a = 0; a < e->naxes; a++)
        fprintf(f, "\t%s", exp_key_info(e->axes[a])->name);
    fputc('\n', f);
    for (size_t i = 0; i < e->npoints; i++) {
        fprintf(f, "%zu\t%s", i + 1, e->points[i].dir);
        for (size_t a = 0; a < e->naxes; a++)
            fprintf(f, "\t%s", exp_point_value(e, &e->points[i], e->axes[a])->text);
        fputc('\n', f);
    }
    fclose(f);
    int rc = write_atomic(p, data, n);
    free(data);
    return rc;
}

/* ---- children -------------------------------------------------------------------------------- */
static int launch(const exp_experiment *e, size_t i, pt *s) {
    char **argv = exp_point_argv(e, &e->points[i], s->path);
    if (!argv)
        return -1;
    char log[PATH_MAX + 16], cmd[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/log.txt", s->path);
    snprintf(cmd, sizeof cmd, "%s/point.txt", s->path);
    /* point.txt: what this point is; its last line, the command without --out, decides
     * whether a complete point can be reused on the next run */
    char line[8192];
    join_argv(argv, 1, line, sizeof line);
    FILE *f = fopen(cmd, "w");
    if (f) {
        fprintf(f, "# point %zu of %zu of experiment '%s' (%s)\n", i + 1, e->npoints, e->name, e->path);
        for (size_t a = 0; a < e->naxes; a++)
            fprintf(f, "# %s = %s\n", exp_key_info(e->axes[a])->name,
                    exp_point_value(e, &e->points[i], e->axes[a])->text);
        fprintf(f, "%s\n", line);
        fclose(f);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        free(argv);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        execv("/proc/self/exe", argv);
        fprintf(stderr, PROG ": cannot run /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also here: no race with the kill below */
    free(argv);
    s->pid = pid;
    s->state = P_RUNNING;
    s->t0 = now();
    return 0;
}

static void show_log_tail(const char *dir) {
    char p[PATH_MAX + 16], buf[4096];
    snprintf(p, sizeof p, "%s/log.txt", dir);
    if (read_tail(p, buf, sizeof buf) != 0) {
        say("    (no log: %s)\n", p);
        return;
    }
    /* last LOG_TAIL_LINES lines */
    size_t len = strlen(buf);
    while (len && buf[len - 1] == '\n')
        buf[--len] = '\0';
    char *start = buf + len;
    int lines = 0;
    while (start > buf && lines < LOG_TAIL_LINES)
        if (*--start == '\n')
            lines++;
    if (*start == '\n')
        start++;
    say("    --- last lines of %s ---\n", p);
    for (char *l = strtok(start, "\n"); l; l = strtok(NULL, "\n"))
        say("    %s\n", l);
}

/* A child ended: classify by its exit status and the status file. */
static void finished(const exp_experiment *e, size_t i, pt *s, int st, size_t n) {
    size_t ndone = i + 1;
    s->status = st;
    s->wall = now() - s->t0;
    char p[PATH_MAX + 16], status[256] = "";
    snprintf(p, sizeof p, "%s/status", s->path);
    read_file(p, status, sizeof status);
    status[strcspn(status, "\n")] = '\0';
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code == 0 && strncmp(status, "complete", 8) == 0)
        s->state = P_COMPLETE;
    else if (code == 3 || strncmp(status, "diverged", 8) == 0)
        s->state = P_DIVERGED;
    else
        s->state = P_FAILED;
    char dur[32];
    fmt_duration(s->wall, dur, sizeof dur);
    const char *dir = e->points[i].dir;
    if (s->state == P_COMPLETE) {
        say("[%zu/%zu] %s: complete in %s\n", ndone, n, dir, dur);
    } else if (s->state == P_DIVERGED) {
        say("[%zu/%zu] %s: DIVERGED (%s) after %s\n", ndone, n, dir,
            *status ? status : "exit status 3", dur);
    } else {
        if (WIFSIGNALED(st))
            say("[%zu/%zu] %s: FAILED (killed by signal %d, %s) after %s\n", ndone, n, dir,
                WTERMSIG(st), strsignal(WTERMSIG(st)), dur);
        else
            say("[%zu/%zu] %s: FAILED (exit status %d) after %s\n", ndone, n, dir, code, dur);
        show_log_tail(s->path);
    }
}

/* Latest epoch, simulated time and loss of a running point (its iterations.tsv.partial). */
static int running_stats(const char *dir, double *epoch, double *t, double *loss) {
    char p[PATH_MAX + 32], buf[2048], *f[12];
    snprintf(p, sizeof p, "%s/iterations.tsv.partial", dir);
    if (read_tail(p, buf, sizeof buf) != 0)
        return -1;
    int n = last_row(buf, f, 12);
    if (n < 9)
        return -1;
    *epoch = strtod(f[1], NULL);
    *t = strtod(f[2], NULL);
    *loss = strtod(f[8], NULL);
    return 0;
}

static void show_progress(const exp_experiment *e, const pt *s, size_t n, size_t done,
                          size_t nrun, double avg_wall, int jobs, size_t remaining) {
    struct winsize ws;
    int width = 100;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        width = ws.ws_col;
    char line[1024];
    size_t off = (size_t)snprintf(line, sizeof line, "[%zu/%zu]", done, n);
    /* the oldest running point */
    long first = -1;
    for (size_t i = 0; i < n; i++)
        if (s[i].state == P_RUNNING && (first < 0 || s[i].t0 < s[first].t0))
            first = (long)i;
    if (first >= 0) {
        double ep, t, loss;
        off += (size_t)snprintf(line + off, sizeof line - off, " %s", e->points[first].dir);
        if (running_stats(s[first].path, &ep, &t, &loss) == 0)
            off += (size_t)snprintf(line + off, sizeof line - off, ": epoch %.3f, sim %.4g s, loss %.4g",
                                    ep, t, loss);
        else
            off += (size_t)snprintf(line + off, sizeof line - off, ": starting");
        if (nrun > 1 && off < sizeof line)
            off += (size_t)snprintf(line + off, sizeof line - off, " (+%zu running)", nrun - 1);
    }
    char eta[32];
    fmt_duration(avg_wall > 0 ? avg_wall * (double)remaining / jobs : NAN, eta, sizeof eta);
    char tail[64];
    snprintf(tail, sizeof tail, " | ETA %s", eta);
    /* fit the terminal: shorten the middle, keep the ETA */
    size_t tl = strlen(tail), max = (size_t)width - 1;
    if (off + tl > max && max > tl + 4) {
        off = max - tl - 3;
        memcpy(line + off, "...", 3);
        off += 3;
    }
    snprintf(line + off, sizeof line - off, "%s", tail);
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    progress_shown = 1;
}

static void kill_running(pt *s, size_t n) {
    size_t nrun = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].state == P_RUNNING) {
            kill(-s[i].pid, SIGTERM);
            nrun++;
        }
    double t0 = now();
    while (nrun) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid > 0) {
            for (size_t i = 0; i < n; i++)
                if (s[i].state == P_RUNNING && s[i].pid == pid) {
                    s[i].state = P_STOPPED;
                    kill(-pid, SIGKILL); /* anything left in its group */
                    nrun--;
                }
            continue;
        }
        if (pid < 0 && errno == ECHILD)
            break;
        if (now() - t0 > KILL_GRACE_S) {
            for (size_t i = 0; i < n; i++)
                if (s[i].state == P_RUNNING)
                    kill(-s[i].pid, SIGKILL);
        }
        sleep_s(0.05);
    }
    for (size_t i = 0; i < n; i++)
        if (s[i].state == P_RUNNING)
            s[i].state = P_STOPPED;
}

/* ---- summary --------------------------------------------------------------------------------- */
static void fmt_num(double x, const char *fmt, char *buf, size_t len, const char *nan) {
    if (isnan(x))
        snprintf(buf, len, "%s", nan);
    else
        snprintf(buf, len, fmt, x);
}

static int write_summary(const exp_experiment *e, const char *dir, const pt *s, const metrics *m) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/summary.tsv", dir);
    char *data = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&data, &n);
    if (!f)
        return -1;
    provenance(f, e, "summary");
    fprintf(f, "# columns: status complete|diverged|failed|interrupted|not-run; accuracy = last "
               "test accuracy (eval.tsv); sim_time = final simulated s; time_to_target = simulated s "
               "to target_accuracy (NaN: not set or not reached); time_per_epoch = simulated s per "
               "epoch; bits_per_iter = mean bits sent per iteration by one worker; speedup = fp32 "
               "point with the same other values / this point (time_per_epoch, or time_to_target "
               "when target_accuracy > 0); ref_* = a matching reference of the experiment file\n");
    fprintf(f, "point\tdir");
    for (size_t a = 0; a < e->naxes; a++)
        fprintf(f, "\t%s", exp_key_info(e->axes[a])->name);
    fprintf(f, "\tstatus\taccuracy\tsim_time\ttime_to_target\ttime_per_epoch\tbits_per_iter\tspeedup"
               "\tref_speedup\tref_accuracy\tref_source\n");
    for (size_t i = 0; i < e->npoints; i++) {
        const exp_point *q = &e->points[i];
        fprintf(f, "%zu\t%s", i + 1, q->dir);
        for (size_t a = 0; a < e->naxes; a++)
            fprintf(f, "\t%s", exp_point_value(e, q, e->axes[a])->text);
        char b[7][64];
        fmt_num(m[i].acc, "%.6g", b[0], 64, "NaN");
        fmt_num(m[i].sim_time, "%.9g", b[1], 64, "NaN");
        fmt_num(m[i].ttt, "%.9g", b[2], 64, "NaN");
        fmt_num(m[i].tpe, "%.9g", b[3], 64, "NaN");
        fmt_num(m[i].bits, "%.9g", b[4], 64, "NaN");
        fmt_num(m[i].speedup, "%.6g", b[5], 64, "NaN");
        const exp_reference *r = exp_point_reference(e, q);
        char rs[64], ra[64];
        fmt_num(r ? r->speedup : NAN, "%.6g", rs, sizeof rs, "NaN");
        fmt_num(r ? r->accuracy : NAN, "%.6g", ra, sizeof ra, "NaN");
        char src[256];
        snprintf(src, sizeof src, "%s", r && *r->source ? r->source : "-");
        for (char *c = src; *c; c++)
            if (*c == '\t' || *c == '\n')
                *c = ' ';
        fprintf(f, "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", state_names[s[i].state], b[0], b[1],
                b[2], b[3], b[4], b[5], rs, ra, src);
    }
    fclose(f);
    int rc = write_atomic(p, data, n);
    free(data);
    return rc;
}

/* The table on stdout: one row per point, columns padded to their widest cell. */
static void print_summary(const exp_experiment *e, const pt *s, const metrics *m) {
    int any_target = 0, any_ref = e->nrefs > 0;
    for (size_t i = 0; i < e->npoints; i++)
        any_target |= !isnan(m[i].ttt) || exp_point_value(e, &e->points[i], EXP_TARGET_ACCURACY)->num > 0;
    enum { MAXC = EXP_NKEYS + 12 };
    const char *head[MAXC];
    size_t nc = 0;
    head[nc++] = "#";
    for (size_t a = 0; a < e->naxes; a++)
        head[nc++] = exp_key_info(e->axes[a])->name;
    head[nc++] = "status";
    head[nc++] = "accuracy";
    head[nc++] = "sim_s";
    if (any_target)
        head[nc++] = "to_target_s";
    head[nc++] = "s/epoch";
    head[nc++] = "bits/iter";
    head[nc++] = "speedup";
    if (any_ref)
        head[nc++] = "paper";
    size_t rows = e->npoints + 1;
    char **cell = calloc(rows * nc, sizeof *cell);
    if (!cell)
        return;
    for (size_t c = 0; c < nc; c++)
        cell[c] = strdup(head[c]);
    for (size_t i = 0; i < e->npoints; i++) {
        char **row = cell + (i + 1) * nc, b[300];
        size_t c = 0;
        snprintf(b, sizeof b, "%zu", i + 1);
        row[c++] = strdup(b);
        for (size_t a = 0; a < e->naxes; a++)
            row[c++] = strdup(exp_point_value(e, &e->points[i], e->axes[a])->text);
        row[c++] = strdup(state_names[s[i].state]);
        fmt_num(m[i].acc, "%.4f", b, sizeof b, "-");
        row[c++] = strdup(b);
        fmt_num(m[i].sim_time, "%.4g", b, sizeof b, "-");
        row[c++] = strdup(b);
        if (any_target) {
            fmt_num(m[i].ttt, "%.4g", b, sizeof b, "-");
            row[c++] = strdup(b);
        }
        fmt_num(m[i].tpe, "%.4g", b, sizeof b, "-");
        row[c++] = strdup(b);
        fmt_num(m[i].bits, "%.4g", b, sizeof b, "-");
        row[c++] = strdup(b);
        fmt_num(m[i].speedup, "%.3f", b, sizeof b, "-");
        row[c++] = strdup(b);
        if (any_ref) {
            const exp_reference *r = exp_point_reference(e, &e->points[i]);
            if (!r)
                snprintf(b, sizeof b, "-");
            else if (!isnan(r->speedup))
                snprintf(b, sizeof b, "%.3g%s%s%s", r->speedup, *r->source ? " (" : "", r->source,
                         *r->source ? ")" : "");
            else
                snprintf(b, sizeof b, "acc %.4g%s%s%s", r->accuracy, *r->source ? " (" : "",
                         r->source, *r->source ? ")" : "");
            row[c++] = strdup(b);
        }
    }
    size_t w[MAXC] = {0};
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < nc; c++)
            if (cell[r * nc + c] && strlen(cell[r * nc + c]) > w[c])
                w[c] = strlen(cell[r * nc + c]);
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < nc; c++) {
            const char *x = cell[r * nc + c] ? cell[r * nc + c] : "";
            if (c + 1 == nc)
                printf("%s\n", x);
            else
                printf("%-*s  ", (int)w[c], x);
        }
    }
    for (size_t r = 0; r < rows * nc; r++)
        free(cell[r]);
    free(cell);
}

/* ---- the plot step --------------------------------------------------------------------------- */
static int run_self(char *const argv[], int quiet) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (quiet) {
            int nul = open("/dev/null", O_WRONLY);
            if (nul >= 0) {
                dup2(nul, 1);
                dup2(nul, 2);
            }
        }
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void plot_step(const char *dir) {
    /* `qsgdsim help plot` succeeds only when the subcommand is in the table */
    char *probe[] = {"qsgdsim", "help", "plot", NULL};
    if (run_self(probe, 1) != 0)
        return;
    char *argv[] = {"qsgdsim", "plot", (char *)dir, NULL};
    say("plotting: qsgdsim plot %s\n", dir);
    int rc = run_self(argv, 0);
    if (rc != 0)
        say(PROG ": warning: `qsgdsim plot %s` failed (status %d); the results are complete\n", dir, rc);
}

/* ---- the run --------------------------------------------------------------------------------- */
static void print_dry(const exp_experiment *e, const char *dir) {
    printf("experiment '%s' (%s): %zu point%s, output %s\n", e->name, e->path, e->npoints,
           e->npoints == 1 ? "" : "s", dir);
    if (*e->description)
        printf("  %s\n", e->description);
    printf("axes:");
    if (!e->naxes)
        printf(" none");
    for (size_t a = 0; a < e->naxes; a++)
        printf(" %s (%zu)", exp_key_info(e->axes[a])->name, e->set[e->axes[a]].n);
    printf("\n");
    char line[8192], path[PATH_MAX];
    for (size_t i = 0; i < e->npoints; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, e->points[i].dir);
        char **argv = exp_point_argv(e, &e->points[i], path);
        if (!argv)
            continue;
        join_argv(argv, 0, line, sizeof line);
        const exp_reference *r = exp_point_reference(e, &e->points[i]);
        printf("[%zu/%zu] %s%s\n  %s\n", i + 1, e->npoints, e->points[i].dir,
               r ? "  (has a reference value)" : "", line);
        free(argv);
    }
}

int exp_run(const exp_experiment *e, const exp_run_opts *o) {
    char dir[PATH_MAX];
    if (o->out)
        snprintf(dir, sizeof dir, "%s", o->out);
    else
        snprintf(dir, sizeof dir, "results/%s", e->name);
    while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/')
        dir[strlen(dir) - 1] = '\0';
    if (o->dry_run) {
        print_dry(e, dir);
        return CMD_OK;
    }
    tty = isatty(2);
    if (exp_mkdir_p(dir) != 0) {
        fprintf(stderr, PROG ": cannot create %s: %s\n", dir, strerror(errno));
        return CMD_FAIL;
    }
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/experiment.cfg", dir); /* dir < PATH_MAX */
    if (copy_file(e->path, p) != 0 || write_points(e, dir) != 0) {
        fprintf(stderr, PROG ": cannot write %s/experiment.cfg or points.tsv: %s\n", dir, strerror(errno));
        return CMD_FAIL;
    }
    size_t n = e->npoints;
    pt *s = calloc(n, sizeof *s);
    metrics *m = calloc(n, sizeof *m);
    if (!s || !m) {
        free(s);
        free(m);
        fprintf(stderr, PROG ": out of memory\n");
        return CMD_FAIL;
    }
    /* resume: complete points whose command is unchanged are kept */
    size_t nskip = 0, nchanged = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(s[i].path, sizeof s[i].path, "%s/%s", dir, e->points[i].dir);
        char status[64] = "", st_path[PATH_MAX + 16], cmd_path[PATH_MAX + 16];
        snprintf(st_path, sizeof st_path, "%s/status", s[i].path);
        snprintf(cmd_path, sizeof cmd_path, "%s/point.txt", s[i].path);
        if (o->force || read_file(st_path, status, sizeof status) != 0 ||
            strncmp(status, "complete", 8) != 0)
            continue;
        char **argv = exp_point_argv(e, &e->points[i], s[i].path);
        char want[8192], have[16384];
        if (!argv)
            continue;
        join_argv(argv, 1, want, sizeof want);
        free(argv);
        if (read_file(cmd_path, have, sizeof have) == 0) {
            char *last = have + strlen(have);
            while (last > have && last[-1] == '\n')
                *--last = '\0';
            char *nl = strrchr(have, '\n');
            if (strcmp(nl ? nl + 1 : have, want) == 0) {
                s[i].state = P_COMPLETE;
                s[i].skipped = 1;
                nskip++;
                continue;
            }
        }
        nchanged++;
        say("%s: complete, but its settings changed since it ran (%s); running it again\n",
            e->points[i].dir, cmd_path);
    }
    printf("experiment '%s': %zu point%s, %zu to run, %d at a time; results in %s\n", e->name, n,
           n == 1 ? "" : "s", n - nskip, o->jobs, dir);
    if (nskip)
        printf("resume: %zu point%s already complete, skipped (--force reruns them)\n", nskip,
               nskip == 1 ? "" : "s");
    fflush(stdout);

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: sleeps and waits return early */
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    size_t next = 0, nrun = 0, ndone = nskip, nran = 0;
    double wall_sum = 0, last_progress = 0;
    int launch_failed = 0;
    while (!interrupted) {
        while (nrun < (size_t)o->jobs && next < n && !interrupted) {
            if (s[next].state != P_PENDING) {
                next++;
                continue;
            }
            if (exp_mkdir_p(s[next].path) != 0) {
                say(PROG ": cannot create %s: %s\n", s[next].path, strerror(errno));
                s[next].state = P_FAILED;
                ndone++;
                next++;
                continue;
            }
            clean_dir(s[next].path); /* an incomplete earlier attempt, or --force */
            if (launch(e, next, &s[next]) != 0) {
                say(PROG ": cannot start %s: %s\n", e->points[next].dir, strerror(errno));
                s[next].state = P_FAILED;
                ndone++;
                launch_failed = 1;
            } else {
                nrun++;
                if (!tty)
                    say("[%zu/%zu] %s: started\n", next + 1, n, e->points[next].dir);
            }
            next++;
        }
        if (nrun == 0 && next >= n)
            break;
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid > 0) {
            for (size_t i = 0; i < n; i++)
                if (s[i].state == P_RUNNING && s[i].pid == pid) {
                    nrun--;
                    ndone++;
                    finished(e, i, &s[i], st, n);
                    wall_sum += s[i].wall;
                    nran++;
                    kill(-pid, SIGKILL); /* strays of its group, if any */
                }
            continue;
        }
        if (pid < 0 && errno == ECHILD && nrun) { /* cannot happen; do not spin */
            for (size_t i = 0; i < n; i++)
                if (s[i].state == P_RUNNING)
                    s[i].state = P_FAILED;
            nrun = 0;
        }
        if (tty && now() - last_progress > 0.5) {
            size_t remaining = n - ndone;
            show_progress(e, s, n, ndone, nrun, nran ? wall_sum / (double)nran : NAN, o->jobs,
                          remaining);
            last_progress = now();
        }
        sleep_s(0.1);
    }
    clear_progress();
    int was_interrupted = interrupted != 0;
    if (was_interrupted) {
        fprintf(stderr, PROG ": interrupted: stopping %zu running point%s\n", nrun, nrun == 1 ? "" : "s");
        kill_running(s, n);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);

    /* the summary */
    size_t counts[6] = {0};
    for (size_t i = 0; i < n; i++) {
        counts[s[i].state]++;
        if (s[i].state == P_COMPLETE || s[i].state == P_DIVERGED || s[i].state == P_FAILED)
            read_metrics(s[i].path, &m[i]);
        else
            m[i].acc = m[i].sim_time = m[i].ttt = m[i].tpe = m[i].bits = m[i].speedup = NAN;
        if (s[i].state == P_FAILED) /* a failed run's partial numbers are not results */
            m[i].acc = m[i].sim_time = m[i].ttt = m[i].tpe = m[i].bits = NAN;
    }
    for (size_t i = 0; i < n; i++) {
        long b = exp_point_baseline(e, i);
        if (b < 0 || s[i].state != P_COMPLETE || s[b].state != P_COMPLETE)
            continue;
        if (exp_point_value(e, &e->points[i], EXP_TARGET_ACCURACY)->num > 0)
            m[i].speedup = m[b].ttt / m[i].ttt; /* NaN when either missed the target */
        else
            m[i].speedup = m[b].tpe / m[i].tpe;
    }
    printf("\n");
    print_summary(e, s, m);
    int wrote = write_summary(e, dir, s, m) == 0;
    if (!wrote)
        fprintf(stderr, PROG ": cannot write %s/summary.tsv: %s\n", dir, strerror(errno));
    printf("\n%zu complete (%zu from an earlier run), %zu diverged, %zu failed", counts[P_COMPLETE],
           nskip, counts[P_DIVERGED], counts[P_FAILED]);
    if (counts[P_STOPPED] || counts[P_PENDING])
        printf(", %zu interrupted, %zu not run", counts[P_STOPPED], counts[P_PENDING]);
    printf("; summary in %s/summary.tsv\n", dir);
    if (counts[P_FAILED]) {
        printf("failed:");
        for (size_t i = 0; i < n; i++)
            if (s[i].state == P_FAILED)
                printf(" %s", e->points[i].dir);
        printf("  (logs: DIR/log.txt; rerun the same command to retry them)\n");
    }
    fflush(stdout);
    (void)nchanged;
    (void)launch_failed;
    free(s);
    free(m);
    if (was_interrupted) {
        fprintf(stderr, PROG ": interrupted; complete points are kept: rerun the same command to "
                        "resume\n");
        return EXP_RUN_INTERRUPTED;
    }
    if (!o->no_plot && wrote)
        plot_step(dir);
    if (counts[P_FAILED] || !wrote)
        return CMD_FAIL;
    if (counts[P_DIVERGED])
        return EXP_RUN_DIVERGED;
    return CMD_OK;
}
