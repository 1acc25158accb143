/* exp_runner.h — runs the points of a validated experiment (exp_config.h): one `qsgdsim sim`
 * process per point, up to N at a time, resumable; then the summary table (summary.tsv) and
 * the figures (`qsgdsim plot DIR` when that subcommand exists). Output layout and columns:
 * docs/experiments.md. Part of the qsgdsim command: it prints progress and messages. */
#ifndef QSGDSIM_EXP_RUNNER_H
#define QSGDSIM_EXP_RUNNER_H

#include <stddef.h>

#include "exp_config.h"

typedef struct exp_run_opts {
    const char *out; /* output directory; NULL = results/<name> */
    int jobs;        /* points run at once (>= 1) */
    int dry_run;     /* print the points and their commands, run and write nothing */
    int force;       /* rerun points that are already complete */
    int no_plot;     /* skip the plot step */
} exp_run_opts;

/* Run e. Returns a sim_exit.h status: QSGD_EXIT_OK (every point complete),
 * QSGD_EXIT_DIVERGED (at least one diverged, none failed), QSGD_EXIT_INTERNAL (a point
 * failed), QSGD_EXIT_IO (the output directory is in use by another runner, or cannot be
 * written) or QSGD_EXIT_INTERRUPTED (SIGINT/SIGTERM: running points killed, complete ones
 * kept). */
int exp_run(const exp_experiment *e, const exp_run_opts *o);

/* ---- output directory locks (DIR/.lock), shared with `qsgdsim sim` ------------------------
 * An flock() on DIR/.lock, which holds "PID HOST DATE WHO" of the owner. The kernel drops
 * the lock when the last process holding its descriptor ends, so a lock is never stale; the
 * descriptor is inherited by children (points, smpirun), so a directory stays locked while
 * anything started for it still runs. The file is emptied, never removed, on release. */
typedef struct exp_lock {
    int fd; /* -1: not held */
} exp_lock;

/* Lock dir for who ("qsgdsim run", "qsgdsim sim"). Returns 0 (taken; note, when not empty,
 * says whose lock from a process no longer running was taken over), 1 (in use: msg says
 * "DIR is in use by WHO (pid N on HOST) since DATE") or -1 (cannot create the lock file:
 * msg says why, errno set). */
int exp_lock_take(exp_lock *l, const char *dir, const char *who, char *msg, size_t len);
/* An output directory made (mkdir -p) and locked for who, every message on stderr prefixed
 * by prog: 0 (locked), or QSGD_EXIT_IO (cannot create or lock it, or in use; nothing was
 * run). */
int exp_lock_dir(exp_lock *l, const char *dir, const char *prog, const char *who);
/* Empty the lock file and close it (the lock goes when no child holds it any more). */
void exp_lock_release(exp_lock *l);

#endif
