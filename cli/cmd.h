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
