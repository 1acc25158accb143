/* sanitize_probe.c — the sanitizer build's self-test (tests/sanitize/test_sanitize.sh): a
 * program that commits one chosen error, so the test can check that each sanitizer reports
 * it and fails the run, in a plain program and, built with smpicc (-DPROBE_MPI), inside an
 * SMPI rank run by smpirun as `qsgdsim sim` runs the trainer.
 * usage: sanitize_probe none|heap|stack|float-cast|shift|leak   (MPI: the error on rank 1) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef PROBE_MPI
#include <mpi.h>
#endif

/* volatile: the compiler must not see through the values and drop or fold the error */
static volatile double huge = 1e300;
static volatile int index_past = 16, shift_by = 40;
static void *volatile kept;

static int commit(const char *what) {
    if (!strcmp(what, "none"))
        return 0;
    if (!strcmp(what, "heap")) {       /* ASan: heap-buffer-overflow */
        char *volatile p = malloc(16); /* volatile: UBSan's object-size check does not see it */
        p[index_past] = 1;
        free(p);
        return 0;
    }
    if (!strcmp(what, "stack")) { /* ASan: stack-buffer-overflow, on the rank's own stack */
        char buf[16];
        char *volatile p = buf; /* UBSan's bounds check does not see it */
        memset(buf, 0, sizeof buf);
        p[index_past] = 1;
        return buf[0];
    }
    if (!strcmp(what, "float-cast")) { /* UBSan float-cast-overflow: 1e300 -> size_t */
        size_t n = (size_t)huge;
        return n == 0 ? 0 : 1;
    }
    if (!strcmp(what, "shift")) { /* UBSan: shift exponent too large */
        int one = 1;
        return (one << shift_by) != 0;
    }
    if (!strcmp(what, "leak")) { /* LSan: a block nothing points to at exit */
        kept = malloc(4096);
        memset(kept, 1, 4096);
        kept = NULL;
        return 0;
    }
    fprintf(stderr, "sanitize_probe: unknown error '%s'\n", what);
    return 2;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "none";
#ifdef PROBE_MPI
    MPI_Init(&argc, &argv);
    int rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int rc = rank == 1 ? commit(what) : 0, all = 0;
    /* every rank uses its own stack and the simulated network, as the trainer does */
    double mine[64], sum[64];
    for (int i = 0; i < 64; i++)
        mine[i] = rank + i;
    MPI_Allreduce(mine, sum, 64, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0)
        printf("sanitize_probe: %d ranks, sum[63] = %g\n", size, sum[63]);
    MPI_Finalize();
    return all;
#else
    return commit(what);
#endif
}
