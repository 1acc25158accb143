/* exp_runner.h — runs the points of a validated experiment (exp_config.h): one `qsgdsim sim`
 * process per point, up to N at a time, resumable; then the summary table (summary.tsv) and
 * the figures (`qsgdsim plot DIR` when that subcommand exists). Output layout and columns:
 * docs/experiments.md. Part of the qsgdsim command: it prints progress and messages. */
#ifndef QSGDSIM_EXP_RUNNER_H
#define QSGDSIM_EXP_RUNNER_H

#include "exp_config.h"

typedef struct exp_run_opts {
    const char *out; /* output directory; NULL = results/<name> */
    int jobs;        /* points run at once (>= 1) */
    int dry_run;     /* print the points and their commands, run and write nothing */
    int force;       /* rerun points that are already complete */
    int no_plot;     /* skip the plot step */
} exp_run_opts;

/* Exit statuses of exp_run besides CMD_OK / CMD_FAIL (cmd.h). */
#define EXP_RUN_DIVERGED 3     /* every point finished, at least one diverged */
#define EXP_RUN_INTERRUPTED 130 /* SIGINT/SIGTERM: running points killed, complete ones kept */

/* Run e. Returns 0 (every point complete), 1 (a point failed, or the output could not be
 * written), EXP_RUN_DIVERGED or EXP_RUN_INTERRUPTED. */
int exp_run(const exp_experiment *e, const exp_run_opts *o);

#endif
