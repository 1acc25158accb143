/* cmd_run.c — `qsgdsim run FILE`: validate an experiment file (exp_config.c), then run every
 * point of its sweep as a `qsgdsim sim` process, resumable, and summarize (exp_runner.c).
 * The file format: docs/experiments.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "exp_config.h"
#include "exp_runner.h"
#include "sim_exit.h"

#define PROG "qsgdsim run"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: qsgdsim run FILE [-j N] [--out DIR] [--dry-run] [--check] [--force] [--no-plot]\n"
        "Run an experiment: a libconfig file whose list-valued settings are sweep axes\n"
        "(docs/experiments.md). The whole file is validated first; then each point of the\n"
        "cartesian product runs as `qsgdsim sim` in DIR/POINT, with its output in\n"
        "DIR/POINT/log.txt.\n"
        "  -j, --jobs N   points run at once (default 1)\n"
        "  --out DIR      output directory (default results/<name>)\n"
        "  --dry-run      validate, print the points, their commands and the estimate each\n"
        "                 would be judged by (memory, maps, wall time; refused or warned\n"
        "                 about on this machine); run and write nothing\n"
        "  --check        validate only (exit 0 if the file is valid)\n"
        "  --force        rerun points that are already complete (or diverged)\n"
        "  --no-plot      skip `qsgdsim plot DIR` at the end\n"
        "Outputs: DIR/experiment.cfg (the file), DIR/points.tsv, DIR/POINT/ (the trainer's\n"
        "iterations.tsv, eval.tsv, summary.txt, status, log.txt, point.txt), DIR/summary.tsv\n"
        "(with a reason column for every point that is not complete).\n"
        "A point is complete when its status file says complete and its tables are complete\n"
        "(not .partial, closed with '# status: complete'). Run again, complete and diverged\n"
        "points whose settings are unchanged are skipped; the others are cleaned and rerun,\n"
        "with the reason. DIR is locked (DIR/.lock) while a run lasts; points die with it.\n"
        "exit status: 0 every point complete, 1 a point failed, 2 the file is invalid (each error\n"
        "as FILE:LINE: message), 3 a point diverged (and none failed), 5 DIR is in use by another\n"
        "run or cannot be written, 130 interrupted\n");
}

int cmd_run(int argc, char **argv) {
    static const struct option opts[] = {
        {"jobs", required_argument, 0, 'j'}, {"out", required_argument, 0, 'o'},
        {"dry-run", no_argument, 0, 'n'},    {"force", no_argument, 0, 'f'},
        {"no-plot", no_argument, 0, 'P'},    {"check", no_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    exp_run_opts o = {NULL, 1, 0, 0, 0};
    int check = 0, c;
    while ((c = getopt_long(argc, argv, "j:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': {
            char *end;
            errno = 0;
            long j = strtol(optarg, &end, 10);
            if (errno || *end || j < 1 || j > 1024) {
                fprintf(stderr, PROG ": -j: '%s' is not an integer in 1..1024\n", optarg);
                return QSGD_EXIT_CONFIG;
            }
            o.jobs = (int)j;
            break;
        }
        case 'o':
            o.out = optarg;
            break;
        case 'n':
            o.dry_run = 1;
            break;
        case 'f':
            o.force = 1;
            break;
        case 'P':
            o.no_plot = 1;
            break;
        case 'c':
            check = 1;
            break;
        case 'h':
            usage(stdout);
            return CMD_OK;
        default:
            fprintf(stderr, PROG ": unknown or incomplete option '%s'\n\n", argv[optind - 1]);
            usage(stderr);
            return QSGD_EXIT_CONFIG;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, PROG ": %s\n\n",
                optind >= argc ? "no experiment file given" : "more than one file given");
        usage(stderr);
        return QSGD_EXIT_CONFIG;
    }
    const char *file = argv[optind];
    if (o.out && !*o.out) {
        fprintf(stderr, PROG ": --out: empty directory name\n");
        return QSGD_EXIT_CONFIG;
    }
    exp_diag d = {0};
    exp_experiment *e = exp_config_load(file, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.line[i]);
    if (!e) {
        fprintf(stderr, PROG ": %s: %zu error%s; nothing was run\n", file, d.nerrors,
                d.nerrors == 1 ? "" : "s");
        exp_diag_free(&d);
        return QSGD_EXIT_CONFIG;
    }
    exp_diag_free(&d);
    int rc;
    if (check) {
        printf("%s: valid: %zu point%s\n", file, e->npoints, e->npoints == 1 ? "" : "s");
        rc = CMD_OK;
    } else {
        rc = exp_run(e, &o);
    }
    exp_experiment_free(e);
    return rc;
}
