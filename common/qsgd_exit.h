/* qsgd_exit.h — the exit statuses of every qsgdsim program (the qsgdsim command and its
 * subcommands, both trainers): one status per failure class, so that a script, the runner
 * and a user can tell a bad setting from a full disk from a divergence without reading the
 * message. The README's "Failure modes" section documents them; keep the two in step.
 * Header only, no state: in common/, under everything (qsgd_err.h maps error codes to these). */
#ifndef QSGDSIM_QSGD_EXIT_H
#define QSGDSIM_QSGD_EXIT_H

#include <string.h>

enum qsgd_exit {
    QSGD_EXIT_OK = 0,            /* complete */
    QSGD_EXIT_INTERNAL = 1,      /* a bug or a failure of no other class (crash, MPI_Abort) */
    QSGD_EXIT_CONFIG = 2,        /* bad option, spec, experiment file or setting */
    QSGD_EXIT_DIVERGED = 3,      /* training diverged: the results up to it are kept */
    QSGD_EXIT_DATA = 4,          /* a dataset missing, unreadable, corrupt or too large */
    QSGD_EXIT_IO = 5,            /* results could not be written (full disk, permissions),
                                    or the output directory is in use by another runner */
    QSGD_EXIT_RESOURCES = 6,     /* out of memory, memory maps or ranks this machine can hold */
    QSGD_EXIT_INTERRUPTED = 130, /* SIGINT/SIGTERM: complete results kept */
};

/* The class name of an exit status, as written in status files and summary.tsv's reason
 * column ("config", "data", ...); "internal" for any status not in the enum. */
static inline const char *qsgd_exit_name(int code) {
    switch (code) {
    case QSGD_EXIT_OK:
        return "complete";
    case QSGD_EXIT_CONFIG:
        return "config";
    case QSGD_EXIT_DIVERGED:
        return "diverged";
    case QSGD_EXIT_DATA:
        return "data";
    case QSGD_EXIT_IO:
        return "io";
    case QSGD_EXIT_RESOURCES:
        return "resources";
    case QSGD_EXIT_INTERRUPTED:
        return "interrupted";
    default:
        return "internal";
    }
}

/* The inverse of qsgd_exit_name (QSGD_EXIT_INTERNAL for an unknown name). */
static inline int qsgd_exit_from_name(const char *name) {
    static const int codes[] = {QSGD_EXIT_OK,         QSGD_EXIT_CONFIG, QSGD_EXIT_DIVERGED,
                                QSGD_EXIT_DATA,       QSGD_EXIT_IO,     QSGD_EXIT_RESOURCES,
                                QSGD_EXIT_INTERRUPTED};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(name, qsgd_exit_name(codes[i])) == 0)
            return codes[i];
    return QSGD_EXIT_INTERNAL;
}

#endif
