/* exp_runner.c — the runner of `qsgdsim run`: one `qsgdsim sim` child process (its own
 * process group, dying with the runner) per point, up to -j at a time, a lock on the output
 * directory, resume from what the points wrote (a point is complete only when its status
 * says so and its tables are complete), a progress line on a terminal, Ctrl-C handling, the
 * summary table with the reason of every point that is not complete, and the plot step
 * (exp_runner.h). */
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
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "qsgd_file.h"
#include "qsgd_tsv.h"
#include "quant.h"
#include "sim.h"
#include "sim_exit.h"

#define PROG "qsgdsim run"
#define LOG_TAIL_LINES 12 /* lines of a failed point's log shown */
#define KILL_GRACE_S                                                                               \
    5.0 /* SIGTERM -> SIGKILL; longer than `qsgdsim sim`'s own grace, so                           \
           that a point stops its simulation before it is killed */

enum pstate { P_PENDING, P_RUNNING, P_COMPLETE, P_DIVERGED, P_FAILED, P_STOPPED };
static const char *const state_names[] = {"not-run",  "running", "complete",
                                          "diverged", "failed",  "interrupted"};

typedef struct pt {
    enum pstate state;
    int skipped; /* complete from an earlier run */
    pid_t pid;
    double t0, wall; /* real seconds */
    int status;      /* waitpid status */
    char path[PATH_MAX];
    char reason[PATH_MAX + 1024]; /* why the point is not complete ("" when it is): its status line
                         or the runner's reason; summary.tsv's reason column */
    double mem;                   /* estimated bytes (sim_estimate_run), 0 when unknown */
    double avail;                 /* MemAvailable when it was estimated, 0 when unknown */
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
static int tty;            /* stderr is a terminal */
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

/* ---- files ------------------------------------------------------------------------------------
 */
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
 * split on tabs into f[max]. Returns the number of fields, 0 if none. Progress only. */
static int last_row(char *text, char **f, int max) {
    char *last = NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (line[0] != '#' && ((line[0] >= '0' && line[0] <= '9') || line[0] == '-'))
            last = line;
    if (!last)
        return 0;
    int n = 0;
    for (char *save = NULL, *t = strtok_r(last, "\t", &save); t && n < max;
         t = strtok_r(NULL, "\t", &save))
        f[n++] = t;
    return n;
}

static double kv_number(const char *text, const char *key) {
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, key, kl) == 0 && strncmp(l + kl, " = ", 3) == 0)
            return strtod(l + kl + 3, NULL);
    return NAN;
}

/* The first line of DIR/status (without its newline) into buf; -1 if there is none. */
static int read_status(const char *dir, char *buf, size_t len) {
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/status", dir);
    if (read_file(p, buf, len) != 0)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* A trainer table of a finished point, DIR/NAME, read only when it is complete: the file
 * itself (not NAME.partial) and closed with a "# status: " line that starts like want
 * ("complete" or "diverged"). Returns 0, or -1 with why (for the reason column). */
static int read_table(const char *dir, const char *name, const char *want, qsgd_tsv *t, char *why,
                      size_t len) {
    char p[PATH_MAX + 64], err[PATH_MAX + 200];
    snprintf(p, sizeof p, "%s/%s.partial", dir, name);
    int partial = access(p, F_OK) == 0;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (qsgd_tsv_read(p, t, err, sizeof err) != 0) {
        if (errno == ENOENT)
            snprintf(why, len, "%s %s", name,
                     partial ? "was not completed (only its .partial exists)" : "is missing");
        else
            snprintf(why, len, "%s", err);
        return -1;
    }
    if (strncmp(t->status, want, strlen(want)) != 0) {
        if (t->status[0])
            snprintf(why, len, "%s ends with '# status: %s', not %s", name, t->status, want);
        else
            snprintf(why, len, "%s has no '# status:' line (it was cut short)", name);
        qsgd_tsv_free(t);
        return -1;
    }
    return 0;
}

/* What a point directory holds, judged from its files alone: P_COMPLETE (status complete,
 * tables complete), P_DIVERGED (status diverged, tables closed as diverged), P_FAILED
 * (status failed, or a status that its tables contradict) or P_PENDING (no status: never
 * run, or interrupted). reason says why the point is not complete. */
static enum pstate judge_point(const char *dir, char *reason, size_t len) {
    char status[256];
    reason[0] = '\0';
    if (read_status(dir, status, sizeof status) != 0) {
        snprintf(reason, len, "no status file: the point was interrupted");
        return P_PENDING;
    }
    const char *want = strncmp(status, "complete", 8) == 0   ? "complete"
                       : strncmp(status, "diverged", 8) == 0 ? "diverged"
                                                             : NULL;
    if (!want) {
        snprintf(reason, len, "%s", *status ? status : "empty status file");
        return P_FAILED;
    }
    static const char *const tables[] = {"iterations.tsv", "eval.tsv"};
    for (size_t k = 0; k < 2; k++) {
        qsgd_tsv t;
        char why[PATH_MAX + 300];
        if (read_table(dir, tables[k], want, &t, why, sizeof why) != 0) {
            snprintf(reason, len, "status says %s but %s", want, why);
            return P_FAILED;
        }
        qsgd_tsv_free(&t);
    }
    if (want[0] == 'd') {
        snprintf(reason, len, "%s", status);
        return P_DIVERGED;
    }
    return P_COMPLETE;
}

/* Metrics of a complete or diverged point from its complete tables, by column name. */
static void read_metrics(const char *dir, enum pstate state, metrics *m) {
    m->acc = m->sim_time = m->ttt = m->tpe = m->bits = m->speedup = NAN;
    const char *want = state == P_COMPLETE ? "complete" : "diverged";
    char why[PATH_MAX + 300];
    qsgd_tsv t;
    if (read_table(dir, "eval.tsv", want, &t, why, sizeof why) == 0) {
        if (t.nrow)
            m->acc = qsgd_tsv_num(&t, t.nrow - 1, qsgd_tsv_col(&t, "test_accuracy"));
        qsgd_tsv_free(&t);
    }
    if (read_table(dir, "iterations.tsv", want, &t, why, sizeof why) == 0) {
        int ce = qsgd_tsv_col(&t, "epoch"), cs = qsgd_tsv_col(&t, "sim_time"),
            cb = qsgd_tsv_col(&t, "bits_sent");
        if (t.nrow && ce >= 0 && cs >= 0) {
            double bits = 0, epoch = qsgd_tsv_num(&t, t.nrow - 1, ce);
            for (size_t r = 0; r < t.nrow; r++)
                bits += qsgd_tsv_num(&t, r, cb);
            m->bits = bits / (double)t.nrow; /* NaN when a row or the column lacks it */
            m->sim_time = qsgd_tsv_num(&t, t.nrow - 1, cs);
            if (epoch > 0)
                m->tpe = m->sim_time / epoch;
        }
        qsgd_tsv_free(&t);
    }
    char buf[8192], p[PATH_MAX + 64];
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

/* Before a point runs again (an incomplete earlier attempt, or --force): the files of its
 * last attempt move to DIR/previous/ (replacing what an older attempt left there), so nothing
 * computed is thrown away — a failed run's .partial tables and log stay readable — while the
 * point's own directory holds only the new attempt. The point's lock stays. Returns 0, or -1
 * (errno set) when a file could not be moved; the point is not run then. */
static int keep_attempt(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    char prev[PATH_MAX + 16], p[PATH_MAX + 300], q[PATH_MAX + 320];
    snprintf(prev, sizeof prev, "%s/previous", dir);
    int rc = 0, made = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, ".lock") == 0) /* the point's lock: never moved */
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) != 0 || S_ISDIR(st.st_mode))
            continue;
        if (!made) { /* the first file of this attempt: empty previous/ of an older one */
            DIR *o = opendir(prev);
            struct dirent *oe;
            while (o && (oe = readdir(o)) != NULL)
                if (strcmp(oe->d_name, ".") != 0 && strcmp(oe->d_name, "..") != 0) {
                    snprintf(q, sizeof q, "%s/%s", prev, oe->d_name);
                    unlink(q);
                }
            if (o)
                closedir(o);
            if (mkdir(prev, 0777) != 0 && errno != EEXIST) {
                rc = -1;
                break;
            }
            made = 1;
        }
        snprintf(q, sizeof q, "%s/%s", prev, de->d_name);
        if (rename(p, q) != 0)
            rc = -1;
    }
    int e = errno;
    closedir(d);
    errno = e;
    return rc;
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
    int rc = qsgd_file_write(to, data ? data : "", n, NULL, 0);
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
    int rc = qsgd_file_write(p, data, n, NULL, 0);
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
        fprintf(f, "# point %zu of %zu of experiment '%s' (%s)\n", i + 1, e->npoints, e->name,
                e->path);
        for (size_t a = 0; a < e->naxes; a++)
            fprintf(f, "# %s = %s\n", exp_key_info(e->axes[a])->name,
                    exp_point_value(e, &e->points[i], e->axes[a])->text);
        fprintf(f, "%s\n", line);
        fclose(f);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        free(argv);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        /* the point dies with the runner (even a SIGKILLed one): `qsgdsim sim` takes SIGTERM
         * as an interruption and stops its simulation */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(QSGD_EXIT_INTERRUPTED);
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

/* How a child ended, for a reason: "exit status N" or "killed by signal N (NAME)". */
static void describe_wait(int st, char *buf, size_t len) {
    if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (WIFEXITED(st) && WEXITSTATUS(st) == QSGD_EXIT_INTERRUPTED)
        snprintf(buf, len, "exit status %d (interrupted)", WEXITSTATUS(st));
    else if (WIFEXITED(st) && WEXITSTATUS(st) > 128)
        snprintf(buf, len, "exit status %d (killed by signal %d)", WEXITSTATUS(st),
                 WEXITSTATUS(st) - 128);
    else
        snprintf(buf, len, "exit status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* A child ended: classify it by what it wrote (judge_point) and its exit status. */
static void finished(const exp_experiment *e, size_t i, pt *s, int st, size_t n) {
    size_t ndone = i + 1;
    s->status = st;
    s->wall = now() - s->t0;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    char how[64];
    describe_wait(st, how, sizeof how);
    s->state = judge_point(s->path, s->reason, sizeof s->reason);
    if (s->state == P_PENDING) { /* it ended without a status */
        s->state = P_FAILED;
        snprintf(s->reason, sizeof s->reason, "no status file (%s; see log.txt)", how);
    } else if (s->state == P_COMPLETE && code != QSGD_EXIT_OK) {
        s->state = P_FAILED;
        snprintf(s->reason, sizeof s->reason, "status complete, but %s", how);
    } else if (s->state == P_DIVERGED && code != QSGD_EXIT_DIVERGED) {
        s->state = P_FAILED;
        snprintf(s->reason, sizeof s->reason, "status diverged, but %s", how);
    }
    char dur[32];
    cli_fmt_duration(s->wall, dur, sizeof dur);
    const char *dir = e->points[i].dir;
    if (s->state == P_COMPLETE) {
        say("[%zu/%zu] %s: complete in %s\n", ndone, n, dir, dur);
    } else if (s->state == P_DIVERGED) {
        say("[%zu/%zu] %s: DIVERGED (%s) after %s\n", ndone, n, dir, s->reason, dur);
    } else {
        say("[%zu/%zu] %s: FAILED (%s) after %s: %s\n", ndone, n, dir, how, dur, s->reason);
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

static void show_progress(const exp_experiment *e, const pt *s, size_t n, size_t done, size_t nrun,
                          double avg_wall, int jobs, size_t remaining) {
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
            off += (size_t)snprintf(line + off, sizeof line - off,
                                    ": epoch %.3f, sim %.4g s, loss %.4g", ep, t, loss);
        else
            off += (size_t)snprintf(line + off, sizeof line - off, ": starting");
        if (nrun > 1 && off < sizeof line)
            off += (size_t)snprintf(line + off, sizeof line - off, " (+%zu running)", nrun - 1);
    }
    char eta[32];
    cli_fmt_duration(avg_wall > 0 ? avg_wall * (double)remaining / jobs : NAN, eta, sizeof eta);
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

/* The residual of point i against the paper: ln(predicted speedup / the paper's), NaN when
 * either is missing. A log residual is symmetric in over- and under-prediction and adds up
 * over factors (compute x communication); 100 x it reads as a percentage for small values. */
static double residual(const exp_experiment *e, const metrics *m, size_t i) {
    const exp_reference *r = exp_point_reference(e, &e->points[i]);
    if (!r || isnan(r->speedup) || !(m[i].speedup > 0))
        return NAN;
    return log(m[i].speedup / r->speedup);
}

/* RMS and largest |residual| over the rows matching references of group `group`. */
typedef struct resid_stats {
    size_t n;
    double rms, worst; /* worst: the signed residual of largest magnitude */
    size_t at;         /* its point index */
} resid_stats;

static resid_stats residual_stats(const exp_experiment *e, const metrics *m, const char *group) {
    resid_stats st = {0, NAN, NAN, 0};
    double ss = 0;
    for (size_t i = 0; i < e->npoints; i++) {
        const exp_reference *r = exp_point_reference(e, &e->points[i]);
        double x = residual(e, m, i);
        if (!r || strcmp(r->group, group) != 0 || isnan(x))
            continue;
        ss += x * x;
        if (!st.n++ || fabs(x) > fabs(st.worst)) {
            st.worst = x;
            st.at = i;
        }
    }
    if (st.n)
        st.rms = sqrt(ss / (double)st.n);
    return st;
}

/* Calls fn(group, arg) once for each reference group, in the order of the file. */
static void each_group(const exp_experiment *e, void (*fn)(const char *, void *), void *arg) {
    for (size_t r = 0; r < e->nrefs; r++) {
        int seen = 0;
        for (size_t q = 0; q < r && !seen; q++)
            seen = strcmp(e->refs[q].group, e->refs[r].group) == 0;
        if (!seen)
            fn(e->refs[r].group, arg);
    }
}

/* "measured: 5 rows, RMS log residual 12.1%, largest -21.3% (point 7, DIR)" into buf; ""
 * when no row of the group has both numbers. */
static void residual_line(const exp_experiment *e, const metrics *m, const char *group, char *buf,
                          size_t len) {
    resid_stats st = residual_stats(e, m, group);
    if (!st.n) {
        *buf = 0;
        return;
    }
    snprintf(buf, len, "%s%s%zu row%s, RMS log residual %.1f%%, largest %+.1f%% (point %zu, %s)",
             group, *group ? ": " : "", st.n, st.n == 1 ? "" : "s", 100 * st.rms, 100 * st.worst,
             st.at + 1, e->points[st.at].dir);
}

typedef struct group_out {
    const exp_experiment *e;
    const metrics *m;
    FILE *f;
    const char *prefix;
} group_out;

static void print_group(const char *group, void *arg) {
    const group_out *o = arg;
    char line[700];
    residual_line(o->e, o->m, group, line, sizeof line);
    if (*line)
        fprintf(o->f, "%s%s\n", o->prefix, line);
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
    fprintf(f,
            "# columns: status complete|diverged|failed|interrupted|not-run; reason = why a "
            "point is not complete (its status line, or what the runner saw), empty when it "
            "is; accuracy = last "
            "test accuracy (eval.tsv); sim_time = final simulated s; time_to_target = simulated s "
            "to target_accuracy (NaN: not set or not reached); time_per_epoch = simulated s per "
            "epoch; bits_per_iter = mean bits sent per iteration by one worker; speedup = fp32 "
            "point with the same other values / this point (time_per_epoch, or time_to_target "
            "when target_accuracy > 0); ref_* = a matching reference of the experiment file; "
            "residual = ln(speedup / ref_speedup); ref_group = the reference's group (residual "
            "statistics are per group)\n");
    group_out go = {e, m, f, "# residuals, ln(speedup / ref_speedup): "};
    each_group(e, print_group, &go);
    fprintf(f, "point\tdir");
    for (size_t a = 0; a < e->naxes; a++)
        fprintf(f, "\t%s", exp_key_info(e->axes[a])->name);
    fprintf(f,
            "\tstatus\taccuracy\tsim_time\ttime_to_target\ttime_per_epoch\tbits_per_iter\tspeedup"
            "\tref_speedup\tref_accuracy\tref_source\tresidual\tref_group\treason\n");
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
        char src[256], why[sizeof s[i].reason];
        snprintf(src, sizeof src, "%s", r && *r->source ? r->source : "-");
        snprintf(why, sizeof why, "%s", s[i].state == P_COMPLETE ? "" : s[i].reason);
        for (char *c = src; *c; c++)
            if (*c == '\t' || *c == '\n' || *c == '\r')
                *c = ' ';
        for (char *c = why; *c; c++)
            if (*c == '\t' || *c == '\n' || *c == '\r')
                *c = ' ';
        fmt_num(residual(e, m, i), "%.6g", b[6], 64, "NaN");
        fprintf(f, "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
                state_names[s[i].state], b[0], b[1], b[2], b[3], b[4], b[5], rs, ra, src, b[6],
                r ? r->group : "", why);
    }
    fclose(f);
    int rc = qsgd_file_write(p, data, n, NULL, 0);
    free(data);
    return rc;
}

/* The table on stdout: one row per point, columns padded to their widest cell. */
static void print_summary(const exp_experiment *e, const pt *s, const metrics *m) {
    int any_target = 0, any_ref = e->nrefs > 0;
    for (size_t i = 0; i < e->npoints; i++)
        any_target |=
            !isnan(m[i].ttt) || exp_point_value(e, &e->points[i], EXP_TARGET_ACCURACY)->num > 0;
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
    if (any_ref) {
        head[nc++] = "residual";
        head[nc++] = "paper";
    }
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
            fmt_num(100 * residual(e, m, i), "%+.1f%%", b, sizeof b, "-");
            row[c++] = strdup(b);
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
    if (any_ref) {
        group_out go = {e, m, stdout, "  "};
        printf("paper vs prediction (residual = ln(predicted speedup / the paper's)):\n");
        each_group(e, print_group, &go);
    }
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
        say(PROG ": warning: `qsgdsim plot %s` failed (status %d); the results are complete\n", dir,
            rc);
}

/* ---- the run --------------------------------------------------------------------------------- */
/* What point i (its directory path) needs: sim_estimate_run on its `qsgdsim sim` command
 * line (the estimate of cmd_sim.c; cache: one data load per data spec), judged by
 * sim_estimate_check. Returns 1 when the point is no simulation (no --ranks: nothing to
 * estimate), 0 when it fits (warn: "" or a warning, memory or wall time), -1 when this
 * machine cannot hold it (msg says why and the way around it). */
static int estimate_point(const exp_experiment *e, size_t i, const char *path,
                          sim_estimate_cache *cache, sim_estimate *est, char *msg, size_t mlen,
                          char *warn, size_t wlen) {
    msg[0] = warn[0] = '\0';
    char **argv = exp_point_argv(e, &e->points[i], path);
    if (!argv)
        return 1;
    long ranks = 0;
    int dd = -1, n = 0;
    for (; argv[n]; n++) {
        if (dd < 0 && strcmp(argv[n], "--") == 0)
            dd = n;
        else if (dd < 0 && strcmp(argv[n], "--ranks") == 0 && argv[n + 1])
            ranks = strtol(argv[n + 1], NULL, 10);
        else if (dd < 0 && strncmp(argv[n], "--ranks=", 8) == 0)
            ranks = strtol(argv[n] + 8, NULL, 10);
    }
    int rc = 1;
    if (ranks > 0) {
        sim_estimate_run(ranks, dd >= 0 ? argv + dd + 1 : argv + n, dd >= 0 ? n - dd - 1 : 0, cache,
                         est);
        rc = sim_estimate_check(est, msg, mlen, warn, wlen) != 0 ? -1 : 0;
    }
    free(argv);
    return rc;
}

/* --dry-run: the points, their commands and, for every simulation, the estimate the runner
 * would judge it by (memory, maps, wall time) and its verdict: refused before it starts, or
 * warned about; nothing runs and nothing is written. */
static void print_dry(const exp_experiment *e, const char *dir) {
    printf("experiment '%s' (%s): %zu point%s, output %s\n", e->name, e->path, e->npoints,
           e->npoints == 1 ? "" : "s", dir);
    if (*e->description)
        printf("  %s\n", e->description);
    printf("axes:");
    if (!e->naxes)
        printf(" none");
    for (size_t a = 0; a < e->naxes; a++) { /* a pair: "(model, batch) (6)" */
        int pi = e->pair[e->axes[a]];
        int opens = pi && (a == 0 || e->pair[e->axes[a - 1]] != pi);
        int closes = !pi || a + 1 == e->naxes || e->pair[e->axes[a + 1]] != pi;
        const char *sep = pi && !opens ? ", " : opens ? " (" : " ";
        printf("%s%s%s", sep, exp_key_info(e->axes[a])->name, pi && closes ? ")" : "");
        if (closes)
            printf(" (%zu)", e->set[e->axes[a]].n);
    }
    printf("\n");
    char line[8192], path[PATH_MAX], desc[512], msg[1024], warn[1024];
    sim_estimate_cache cache;
    memset(&cache, 0, sizeof cache);
    size_t nest = 0, nwarn = 0, nref = 0;
    double maxmem = 0, total = 0, avail = -1, maxmaps = -1;
    for (size_t i = 0; i < e->npoints && !interrupted; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, e->points[i].dir);
        char **argv = exp_point_argv(e, &e->points[i], path);
        if (!argv)
            continue;
        join_argv(argv, 0, line, sizeof line);
        free(argv);
        const exp_reference *r = exp_point_reference(e, &e->points[i]);
        printf("[%zu/%zu] %s%s\n  %s\n", i + 1, e->npoints, e->points[i].dir,
               r ? "  (has a reference value)" : "", line);
        sim_estimate est;
        int rc = estimate_point(e, i, path, &cache, &est, msg, sizeof msg, warn, sizeof warn);
        if (rc == 1)
            continue;
        nest++;
        sim_estimate_describe(&est, desc, sizeof desc);
        printf("  estimate: %s\n", desc);
        if (est.mem_detail[0])
            printf("  memory: %s\n", est.mem_detail);
        if (rc < 0)
            printf("  would be refused before it starts: %s\n", msg);
        else if (warn[0])
            printf("  warning: %s\n", warn);
        nref += rc < 0;
        nwarn += rc == 0 && warn[0];
        maxmem = est.mem > maxmem ? est.mem : maxmem;
        total += rc == 0 ? est.total_s : 0;
        avail = est.avail;
        maxmaps = est.max_maps;
    }
    if (nest) {
        char av[64] = "unknown", mm[64] = "unknown", tt[64];
        cli_fmt_duration(total, tt, sizeof tt);
        if (avail > 0)
            snprintf(av, sizeof av, "%.1f GiB", avail / 1073741824.0);
        if (maxmaps > 0)
            snprintf(mm, sizeof mm, "%.0f", maxmaps);
        printf("estimates (this machine: MemAvailable %s, vm.max_map_count %s): %zu point%s "
               "would be refused, %zu warned about; the largest needs %.1f GiB; the steps of "
               "the points that would run take about %s of wall time one after the other\n",
               av, mm, nref, nref == 1 ? "" : "s", nwarn, maxmem / 1073741824.0, tt);
    }
}

/* ---- the output directory lock ---------------------------------------------------------- */
int exp_lock_take(exp_lock *l, const char *dir, const char *who, char *msg, size_t len) {
    l->fd = -1;
    msg[0] = '\0';
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/.lock", dir);
    /* no O_CLOEXEC: children inherit the descriptor, so the lock lasts as long as they do */
    int fd = open(p, O_RDWR | O_CREAT, 0666);
    if (fd < 0) {
        int e = errno;
        snprintf(msg, len, "cannot create %s: %s", p, strerror(e));
        errno = e;
        return -1;
    }
    int locked = flock(fd, LOCK_EX | LOCK_NB) == 0, e = errno;
    char old[256] = "";
    ssize_t k = pread(fd, old, sizeof old - 1, 0);
    old[k > 0 ? k : 0] = '\0';
    old[strcspn(old, "\n")] = '\0';
    long pid = 0;
    char host[64] = "?", since[40] = "?", owner[64] = "";
    if (*old)
        sscanf(old, "%ld %63s %39s %63[^\n]", &pid, host, since, owner);
    char me[64] = "";
    gethostname(me, sizeof me - 1);
    if (!locked) {
        close(fd);
        if (e != EWOULDBLOCK) {
            snprintf(msg, len, "cannot lock %s: %s", p, strerror(e));
            errno = e;
            return -1;
        }
        if (!pid) {
            snprintf(msg, len, "%s is in use by another process (%s is locked)", dir, p);
        } else {
            int gone = strcmp(host, me) == 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
            snprintf(msg, len, "%s is in use by %s (pid %ld on %s) since %s%s", dir,
                     *owner ? owner : "another process", pid, host, since,
                     gone ? "; that process has ended, but a process it started (a point) still "
                            "holds the lock"
                          : "");
        }
        return 1;
    }
    if (pid)
        snprintf(msg, len,
                 "%s: taking over the lock of %s (pid %ld on %s, since %s), which ended "
                 "without releasing it",
                 p, *owner ? owner : "a process", pid, host, since);
    time_t t = time(NULL);
    char date[40];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", localtime(&t));
    char line[256];
    int n =
        snprintf(line, sizeof line, "%ld %s %s %s\n", (long)getpid(), *me ? me : "?", date, who);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n) {
        e = errno;
        close(fd);
        snprintf(msg, len, "cannot write %s: %s", p, strerror(e));
        errno = e;
        return -1;
    }
    l->fd = fd;
    return 0;
}

int exp_lock_dir(exp_lock *l, const char *dir, const char *prog, const char *who) {
    if (qsgd_mkdir_p(dir) != 0) {
        fprintf(stderr, "%s: cannot create %s: %s\n", prog, dir, strerror(errno));
        return QSGD_EXIT_IO;
    }
    char msg[PATH_MAX + 300];
    int lk = exp_lock_take(l, dir, who, msg, sizeof msg);
    if (lk != 0) {
        fprintf(stderr, "%s: %s%s\n", prog, msg, lk > 0 ? "; nothing was run" : "");
        return QSGD_EXIT_IO;
    }
    if (*msg) /* a dead owner's lock taken over */
        fprintf(stderr, "%s: %s\n", prog, msg);
    return 0;
}

void exp_lock_release(exp_lock *l) {
    if (l->fd < 0)
        return;
    if (ftruncate(l->fd, 0) != 0) {
        /* the next owner reports a takeover: harmless */
    }
    close(l->fd);
    l->fd = -1;
}

/* ---- the run --------------------------------------------------------------------------------- */
/* Resume: which points are kept from an earlier run. A complete point (judge_point) whose
 * command is unchanged is skipped; so is a diverged one (the same settings diverge again).
 * Everything else runs, and the runner says why when the point had been run before. */
static size_t plan_resume(const exp_experiment *e, const exp_run_opts *o, pt *s,
                          size_t *nkept_div) {
    size_t nskip = 0;
    *nkept_div = 0;
    for (size_t i = 0; i < e->npoints; i++) {
        char cmd_path[PATH_MAX + 16], st_path[PATH_MAX + 16];
        snprintf(cmd_path, sizeof cmd_path, "%s/point.txt", s[i].path);
        snprintf(st_path, sizeof st_path, "%s/status", s[i].path);
        if (o->force)
            continue;
        enum pstate j = judge_point(s[i].path, s[i].reason, sizeof s[i].reason);
        if (j == P_PENDING) {
            if (access(cmd_path, F_OK) == 0) /* it was started: say why it runs again */
                say("%s: not complete (%s); running it again\n", e->points[i].dir, s[i].reason);
            continue;
        }
        if (j == P_FAILED) {
            say("%s: not complete (%s); running it again\n", e->points[i].dir, s[i].reason);
            continue;
        }
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
                s[i].state = j;
                s[i].skipped = 1;
                nskip++;
                *nkept_div += j == P_DIVERGED;
                continue;
            }
        }
        say("%s: %s, but its settings changed since it ran (%s); running it again\n",
            e->points[i].dir, state_names[j], cmd_path);
    }
    return nskip;
}

/* Before anything starts: what each point to run needs (estimate_point). A point this
 * machine cannot hold alone (memory maps, or memory: see sim_estimate_check) is refused here,
 * failed with the reason, and the others run; the estimate is kept so that points that do
 * not fit together run one after the other; a point that may not fit, or whose steps should
 * each take more than 10 s of wall time, is warned about. Returns the number refused. */
static size_t refuse_unfit(const exp_experiment *e, pt *s) {
    size_t nref = 0;
    sim_estimate_cache cache;
    memset(&cache, 0, sizeof cache);
    for (size_t i = 0; i < e->npoints && !interrupted; i++) {
        if (s[i].state != P_PENDING)
            continue;
        sim_estimate est;
        char msg[1024], warn[1024];
        int rc = estimate_point(e, i, s[i].path, &cache, &est, msg, sizeof msg, warn, sizeof warn);
        if (rc == 1)
            continue;
        s[i].mem = est.mem;
        s[i].avail = est.avail;
        if (rc < 0) {
            snprintf(s[i].reason, sizeof s[i].reason, "refused before it started: %s", msg);
            say(PROG ": %s: not run: %s\n", e->points[i].dir, msg);
            s[i].state = P_FAILED;
            nref++;
        } else if (warn[0])
            say(PROG ": %s: warning: %s\n", e->points[i].dir, warn);
    }
    return nref;
}

/* Run the points of e in dir (locked). */
static int run_locked(const exp_experiment *e, const exp_run_opts *o, const char *dir) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/experiment.cfg", dir); /* dir < PATH_MAX */
    if (copy_file(e->path, p) != 0 || write_points(e, dir) != 0) {
        fprintf(stderr, PROG ": cannot write %s/experiment.cfg or points.tsv: %s\n", dir,
                strerror(errno));
        return QSGD_EXIT_IO;
    }
    size_t n = e->npoints;
    pt *s = calloc(n, sizeof *s);
    metrics *m = calloc(n, sizeof *m);
    if (!s || !m) {
        free(s);
        free(m);
        fprintf(stderr, PROG ": out of memory\n");
        return QSGD_EXIT_RESOURCES;
    }
    for (size_t i = 0; i < n; i++)
        snprintf(s[i].path, sizeof s[i].path, "%s/%s", dir, e->points[i].dir);
    size_t nkept_div;
    size_t nskip = plan_resume(e, o, s, &nkept_div);
    printf("experiment '%s': %zu point%s, %zu to run, %d at a time; results in %s\n", e->name, n,
           n == 1 ? "" : "s", n - nskip, o->jobs, dir);
    if (nskip)
        printf("resume: %zu point%s already complete%s, skipped (--force reruns them)\n", nskip,
               nskip == 1 ? "" : "s", nkept_div ? " or diverged" : "");
    fflush(stdout);

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: sleeps and waits return early */
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* after the handlers: an interruption while estimating ends the run as any other */
    size_t nrefused = refuse_unfit(e, s);

    size_t next = 0, nrun = 0, ndone = nskip + nrefused, nran = 0;
    double wall_sum = 0, last_progress = 0;
    while (!interrupted) {
        while (nrun < (size_t)o->jobs && next < n && !interrupted) {
            if (s[next].state != P_PENDING) {
                next++;
                continue;
            }
            /* memory: a point whose estimate does not fit beside the running ones waits for
             * them (it runs alone at worst); the estimates are at most ~20% high (cmd_sim.c) */
            double running = 0;
            for (size_t i = 0; i < n; i++)
                if (s[i].state == P_RUNNING)
                    running += s[i].mem;
            if (nrun > 0 && s[next].avail > 0 && running + s[next].mem > s[next].avail)
                break;
            s[next].reason[0] = '\0';
            if (qsgd_mkdir_p(s[next].path) != 0) {
                snprintf(s[next].reason, sizeof s[next].reason, "cannot create %s: %s",
                         s[next].path, strerror(errno));
                say(PROG ": %s\n", s[next].reason);
                s[next].state = P_FAILED;
                ndone++;
                next++;
                continue;
            }
            /* a point directory in use (a `qsgdsim sim` still writing it) is not touched */
            exp_lock pl;
            char msg[PATH_MAX + 300];
            if (exp_lock_take(&pl, s[next].path, "qsgdsim run", msg, sizeof msg) != 0) {
                snprintf(s[next].reason, sizeof s[next].reason, "%s", msg);
                say(PROG ": %s: not run: %s\n", e->points[next].dir, msg);
                s[next].state = P_FAILED;
                ndone++;
                next++;
                continue;
            }
            exp_lock_release(&pl); /* the point's `qsgdsim sim` takes it again */
            if (keep_attempt(s[next].path) != 0) {
                snprintf(s[next].reason, sizeof s[next].reason,
                         "cannot move the earlier attempt to %s/previous: %s", s[next].path,
                         strerror(errno));
                say(PROG ": %s: not run: %s\n", e->points[next].dir, s[next].reason);
                s[next].state = P_FAILED;
                ndone++;
                next++;
                continue;
            }
            if (launch(e, next, &s[next]) != 0) {
                snprintf(s[next].reason, sizeof s[next].reason, "cannot start: %s",
                         strerror(errno));
                say(PROG ": cannot start %s: %s\n", e->points[next].dir, strerror(errno));
                s[next].state = P_FAILED;
                ndone++;
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
                if (s[i].state == P_RUNNING) {
                    s[i].state = P_FAILED;
                    snprintf(s[i].reason, sizeof s[i].reason, "lost track of its process");
                }
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
        fprintf(stderr, PROG ": interrupted: stopping %zu running point%s\n", nrun,
                nrun == 1 ? "" : "s");
        kill_running(s, n);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);

    /* the summary: metrics only from complete tables of complete or diverged points */
    size_t counts[6] = {0};
    for (size_t i = 0; i < n; i++) {
        counts[s[i].state]++;
        if (s[i].state == P_COMPLETE || s[i].state == P_DIVERGED)
            read_metrics(s[i].path, s[i].state, &m[i]);
        else
            m[i].acc = m[i].sim_time = m[i].ttt = m[i].tpe = m[i].bits = m[i].speedup = NAN;
        if (s[i].state == P_STOPPED)
            snprintf(s[i].reason, sizeof s[i].reason, "interrupted by the runner");
        else if (s[i].state == P_PENDING)
            snprintf(s[i].reason, sizeof s[i].reason, "not run: the runner was interrupted");
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
           nskip - nkept_div, counts[P_DIVERGED], counts[P_FAILED]);
    if (counts[P_STOPPED] || counts[P_PENDING])
        printf(", %zu interrupted, %zu not run", counts[P_STOPPED], counts[P_PENDING]);
    printf("; summary in %s/summary.tsv\n", dir);
    for (size_t i = 0; i < n; i++) /* why each finished point is not complete */
        if (s[i].state == P_FAILED || s[i].state == P_DIVERGED) {
            const char *st = state_names[s[i].state];
            int said = strncmp(s[i].reason, st, strlen(st)) == 0; /* "failed (io): ..." */
            printf("  %s: %s%s%s\n", e->points[i].dir, said ? "" : st, said ? "" : ": ",
                   s[i].reason);
        }
    if (counts[P_FAILED])
        printf("(logs: DIR/POINT/log.txt; rerun the same command to retry the failed points)\n");
    fflush(stdout);
    free(s);
    free(m);
    if (was_interrupted) {
        fprintf(stderr, PROG ": interrupted; complete points are kept: rerun the same command to "
                             "resume\n");
        return QSGD_EXIT_INTERRUPTED;
    }
    if (!o->no_plot && wrote)
        plot_step(dir);
    if (!wrote)
        return QSGD_EXIT_IO;
    if (counts[P_FAILED])
        return QSGD_EXIT_INTERNAL;
    if (counts[P_DIVERGED])
        return QSGD_EXIT_DIVERGED;
    return QSGD_EXIT_OK;
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
        return QSGD_EXIT_OK;
    }
    tty = isatty(2);
    exp_lock lock;
    if (exp_lock_dir(&lock, dir, PROG, "qsgdsim run") != 0)
        return QSGD_EXIT_IO;
    int rc = run_locked(e, o, dir);
    exp_lock_release(&lock);
    return rc;
}
