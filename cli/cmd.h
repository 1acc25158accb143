/* cmd.h — subcommands of the qsgdsim command line program and the helpers they share.
 * A subcommand is one cmd_<name>.c exporting `int cmd_<name>(int argc, char **argv)` plus one
 * line in the table of cli/qsgdsim.c. argv[0] is the subcommand name; getopt_long
 * state is reset before the call. A subcommand returns an exit status of sim/sim_exit.h:
 * CMD_OK, CMD_FAIL and CMD_USAGE below are three of them; the other classes (diverged, data,
 * io, resources, interrupted) are returned as QSGD_EXIT_*. main() reports any other value
 * as an internal error. */
#ifndef QSGDSIM_CMD_H
#define QSGDSIM_CMD_H

#include <stdio.h>

#include "sim_exit.h"

enum {
    CMD_OK = QSGD_EXIT_OK,         /* success */
    CMD_FAIL = QSGD_EXIT_INTERNAL, /* a failure of no other class, or a violated check */
    CMD_USAGE = QSGD_EXIT_CONFIG,  /* bad arguments, options, specs or experiment files;
                                      message (and usage) went to stderr */
};

/* One subcommand: name, one-line summary, entry point. */
typedef struct exp_cmd {
    const char *name;
    const char *summary;
    int (*fn)(int argc, char **argv);
} exp_cmd;

int cmd_bounds(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* --- what a simulation needs (cmd_sim.c): `qsgdsim sim` and `qsgdsim run` (each point) --- *
 * Estimated before it starts from the trainer's own options: memory maps, private memory
 * (what the trainer and its exchange write, not what they allocate: a fixed part, the data
 * set and what SMPI's sharing keeps once; per rank its SMPI context, gradient, message,
 * parameters and optimizer unless shared, the model's work memory, the exchange's buffers;
 * the larger of that and the peak while rank 0 shards the data), and wall time (SimGrid's
 * message rate plus the real gradient and codec work of every rank, timed on one batch
 * here). */
typedef struct sim_estimate_cache { /* the last data set's shape: one load per data spec */
    char data[320];
    int ok;
    size_t dim, channels, height, width, n, ntest;
    int nclass, csr;
    double bytes; /* train + test set in memory */
} sim_estimate_cache;

typedef struct sim_estimate {
    long ranks;
    char exchange[32];
    int model_known; /* 0: data or model not buildable here: only the fixed costs below */
    size_t nparams, steps;
    double maps, max_maps;          /* memory maps; vm.max_map_count (-1: unknown) */
    double mem, avail;              /* private bytes; MemAvailable (-1: unknown) */
    double mem_fixed, mem_per_rank; /* while it trains: mem_fixed + ranks x mem_per_rank */
    double mem_setup;     /* more while the data is sharded (rank 0's training set, freed after) */
    char mem_detail[256]; /* what the model's part is made of ("" when unknown) */
    double msgs, simgrid_step_s, numerics_step_s, step_s, total_s;
} sim_estimate;

/* Estimate a simulation of ranks SMPI ranks with the trainer options targs[0..ntargs) (as
 * after `qsgdsim sim ... --`). cache may be NULL. Always fills e (model_known says how much
 * it knows); never fails. */
void sim_estimate_run(long ranks, char **targs, int ntargs, sim_estimate_cache *cache,
                      sim_estimate *e);
/* One line: memory (fixed + per rank), memory maps, wall time per step and for the run. */
void sim_estimate_describe(const sim_estimate *e, char *buf, size_t len);
/* A duration for people: "4.2s", "37s", "2m05s", "1h07m" ("?" when not finite). */
void cli_fmt_duration(double s, char *buf, size_t len);
/* Does it fit this machine alone? 0, or -1 with msg naming the limit (vm.max_map_count,
 * MemAvailable) and the way around it. The memory estimate is tight (1.00-1.2x the measured
 * private memory), so a point is refused only when it exceeds MemAvailable by more than 20%;
 * above MemAvailable it gets a warning (the runner runs it alone). warn also gets one (""
 * none) when a step should take longer than 10 s of wall time. The runner schedules the
 * points at once by their estimates. */
int sim_estimate_check(const sim_estimate *e, char *msg, size_t len, char *warn, size_t wlen);

/* --- shared helpers (defined in qsgdsim.c) ------------------------------------------ */
const char *exp_version(void);      /* e.g. "0.1.0" */
const char *exp_git(void);          /* `git describe` at configure time, or "unknown" */
const char *exp_command_line(void); /* the whole command line, shell-quoted */
/* Find plots/<name> (a gnuplot script): $QSGDSIM_PLOTS_DIR, then next to the binary
 * (<bindir>/plots, <bindir>/../share/qsgdsim/plots), then the source tree. Writes the path
 * into buf and returns 0, or returns -1 (buf then names the places searched). */
int exp_find_plot_script(const char *name, char *buf, size_t len);
/* Run gnuplot ($QSGDSIM_GNUPLOT or `gnuplot` on PATH) as `gnuplot -e <setup> <script>`.
 * Returns 0 on success, 127 if gnuplot could not be started, else its nonzero status. */
int exp_run_gnuplot(const char *setup, const char *script);
/* Append a gnuplot single-quoted string literal of s to dst (len bytes). */
void exp_gp_quote(char *dst, size_t len, const char *s);

#endif
