/* qsgdsim.c — the qsgdsim command line program: the subcommand table, top-level --help and
 * --version, and helpers shared by the subcommands (provenance, finding and running the
 * gnuplot scripts of plots/). Adding a subcommand = one cmd_<name>.c + one table line. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"

#ifndef QSGDSIM_VERSION
#define QSGDSIM_VERSION "unknown"
#endif
#include "qsgdsim_git.h" /* QSGDSIM_GIT, written at build time */
#ifndef QSGDSIM_SOURCE_DIR
#define QSGDSIM_SOURCE_DIR "."
#endif

extern char **environ;

/* The subcommands, NULL-terminated. */
static const exp_cmd commands[] = {
    {"bounds", "check Lemma 3.1 / Theorem 3.2 bounds of QSGD on random vectors", cmd_bounds},
    {"stats", "every compressor vs its claims: bias, variance bound, bits, error feedback",
     cmd_stats},
    {"train", "train one model on one worker (fp32 or quantized gradients), per-epoch TSV",
     cmd_train},
    {"sim", "simulate distributed training on K SMPI ranks over a modelled network", cmd_sim},
    {"run", "run an experiment file: a sweep of sim points, resumable, with a summary", cmd_run},
    {"list", "list quantizers, models, networks, devices, exchanges, experiment settings",
     cmd_list},
    {"plot", "figures of an experiment directory (convergence, time breakdown, speedup, bits)",
     cmd_plot},
    {NULL, NULL, NULL},
};

static char command_line[4096];

const char *exp_version(void) {
    return QSGDSIM_VERSION;
}
const char *exp_git(void) {
    return QSGDSIM_GIT;
}
const char *exp_command_line(void) {
    return command_line;
}

/* Join argv into command_line, single-quoting words that a shell would split or expand. */
static void record_command_line(int argc, char **argv) {
    size_t pos = 0, cap = sizeof command_line;
    command_line[0] = '\0';
    for (int i = 0; i < argc && pos + 1 < cap; i++) {
        const char *a = argv[i];
        int plain = *a != '\0' && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789-_=+.,/:@%") == strlen(a);
        if (i > 0)
            command_line[pos++] = ' ';
        if (!plain && pos + 1 < cap)
            command_line[pos++] = '\'';
        for (; *a && pos + 5 < cap; a++) {
            if (*a == '\'' && !plain) { /* ' -> '\'' */
                memcpy(command_line + pos, "'\\''", 4);
                pos += 4;
            } else if (*a == '\n' || *a == '\r') {
                command_line[pos++] = ' '; /* keep provenance lines single lines */
            } else {
                command_line[pos++] = *a;
            }
        }
        if (!plain && pos + 1 < cap)
            command_line[pos++] = '\'';
        command_line[pos] = '\0';
    }
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int exp_find_plot_script(const char *name, char *buf, size_t len) {
    char dirs[4][PATH_MAX + 64];
    int nd = 0;
    const char *env = getenv("QSGDSIM_PLOTS_DIR");
    if (env && *env) {
        /* An explicit override is the only place looked at. */
        snprintf(buf, len, "%s/%s", env, name);
        if (file_exists(buf))
            return 0;
        snprintf(buf, len, "%s/%s (from QSGDSIM_PLOTS_DIR)", env, name);
        return -1;
    }
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(dirs[nd++], sizeof dirs[0], "%s/plots", exe);
        snprintf(dirs[nd++], sizeof dirs[0], "%s/../share/qsgdsim/plots", exe);
    }
    snprintf(dirs[nd++], sizeof dirs[0], "%s/plots", QSGDSIM_SOURCE_DIR);
    for (int i = 0; i < nd; i++) {
        snprintf(buf, len, "%s/%s", dirs[i], name);
        if (file_exists(buf))
            return 0;
    }
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; i < nd && pos < len; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%s/%s", i ? ", " : "", dirs[i], name);
    return -1;
}

void exp_gp_quote(char *dst, size_t len, const char *s) {
    size_t pos = strlen(dst);
    if (pos + 1 < len)
        dst[pos++] = '\'';
    for (; *s && pos + 3 < len; s++) {
        if (*s == '\'')
            dst[pos++] = '\''; /* gnuplot: '' inside '...' is one quote */
        dst[pos++] = *s;
    }
    if (pos + 1 < len)
        dst[pos++] = '\'';
    dst[pos < len ? pos : len - 1] = '\0';
}

int exp_run_gnuplot(const char *setup, const char *script) {
    const char *gp = getenv("QSGDSIM_GNUPLOT");
    if (!gp || !*gp)
        gp = "gnuplot";
    char *argv[] = {(char *)gp, "-e", (char *)setup, (char *)script, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, gp, NULL, NULL, argv, environ);
    if (rc != 0)
        return 127;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 127;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void usage(FILE *f) {
    fprintf(f, "usage: qsgdsim [--help] [--version] <command> [options]\n"
               "\n"
               "Communication-compressed distributed SGD (QSGD) research harness.\n"
               "\n"
               "commands:\n");
    for (const exp_cmd *c = commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f,
            "  %-10s %s\n"
            "\n"
            "`qsgdsim <command> --help` describes a command's options.\n"
            "exit status (every command; README \"Failure modes\"): %d complete, %d internal\n"
            "error or violated check, %d bad option, spec or experiment file, %d diverged,\n"
            "%d data, %d I/O (results not written), %d resources (memory, maps, ranks),\n"
            "%d interrupted.\n",
            "help", "this text, or `help <command>` for a command's options", QSGD_EXIT_OK,
            QSGD_EXIT_INTERNAL, QSGD_EXIT_CONFIG, QSGD_EXIT_DIVERGED, QSGD_EXIT_DATA, QSGD_EXIT_IO,
            QSGD_EXIT_RESOURCES, QSGD_EXIT_INTERRUPTED);
}

static const exp_cmd *find_command(const char *name) {
    for (const exp_cmd *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static int unknown_command(const char *name) {
    fprintf(stderr, "qsgdsim: unknown command '%s'; valid commands:", name);
    for (const exp_cmd *c = commands; c->name; c++)
        fprintf(stderr, " %s", c->name);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return CMD_USAGE;
}

/* Whether rc is one of sim_exit.h's statuses. */
static int known_status(int rc) {
    return rc == QSGD_EXIT_INTERNAL || strcmp(qsgd_exit_name(rc), "internal") != 0;
}

/* The exit status of the program after a command returned rc: what was printed on stdout
 * must reach it (a full disk or a closed pipe is an I/O failure, never a silent 0), and a
 * status outside sim_exit.h is an internal error. */
static int finish(const char *name, int rc) {
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "qsgdsim%s%s: cannot write standard output: %s\n", name ? " " : "",
                name ? name : "", errno ? strerror(errno) : "write error");
        if (rc == QSGD_EXIT_OK)
            rc = QSGD_EXIT_IO;
    }
    if (!known_status(rc)) {
        fprintf(stderr, "qsgdsim%s%s: internal error: exit status %d is not one of sim_exit.h's\n",
                name ? " " : "", name ? name : "", rc);
        rc = QSGD_EXIT_INTERNAL;
    }
    return rc;
}

static int run_command(const exp_cmd *c, int argc, char **argv) {
    optind = 0; /* glibc: full re-initialisation of getopt for the subcommand */
    opterr = 1;
    return finish(c->name, c->fn(argc, argv));
}

int main(int argc, char **argv) {
    record_command_line(argc, argv);
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    /* '+': stop at the first non-option (the command); ':' report missing args ourselves. */
    while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return finish(NULL, CMD_OK);
        case 'V':
            printf("qsgdsim %s (git %s)\n", exp_version(), exp_git());
            return finish(NULL, CMD_OK);
        default:
            fputc('\n', stderr);
            usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "qsgdsim: no command given\n\n");
        usage(stderr);
        return CMD_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        if (optind + 1 >= argc) {
            usage(stdout);
            return finish(NULL, CMD_OK);
        }
        const exp_cmd *cmd = find_command(argv[optind + 1]);
        if (!cmd)
            return unknown_command(argv[optind + 1]);
        char *hargv[] = {(char *)cmd->name, "--help", NULL};
        return run_command(cmd, 2, hargv);
    }
    const exp_cmd *cmd = find_command(name);
    if (!cmd)
        return unknown_command(name);
    return run_command(cmd, argc - optind, argv + optind);
}
