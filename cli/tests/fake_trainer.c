/* fake_trainer.c — a stand-in for qsgdsim-trainer-smpi in test_run_cli.sh (built there with
 * smpicc): it writes what a trainer that ends in a given way leaves in --out DIR, so that
 * `qsgdsim sim` and `qsgdsim run` can be checked against each ending. The ending is
 * $FAKE_TRAINER_MODE:
 *   abort      MPI_Abort without a status file (smpirun exits 0)
 *   nostatus   MPI_Finalize and exit 0 without a status file
 *   nostatus-io  tables left as .partial, no status file, exit 5 (io): a trainer that could
 *              not write even its status file
 *   partial    status "complete" but the tables left as .partial (a failed table write of
 *              the old trainer)
 *   failed-io  status "failed (io): ...", tables left as .partial, then MPI_Abort
 *   diverged   tables closed "# status: diverged ...", status "diverged at iteration 3 ...",
 *              exit 3
 *   complete   tables and status complete, exit 0
 *   hang       iterations.tsv.partial, then wait (real time) until killed */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *out = ".";

static void put(const char *name, const char *text) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", out, name);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

#define ITERS                                                                                      \
    "# model: logreg (65 parameters)\n"                                                            \
    "iteration\tepoch\tsim_time\tcompute\tencode\tcomm\tdecode\tbits_sent\ttrain_loss\tlr\n"       \
    "1\t0.5\t0.25\t0\t0\t0\t0\t1000\t0.6\t0.1\n"                                                   \
    "2\t1\t0.5\t0\t0\t0\t0\t1000\t0.5\t0.1\n"
#define EVALS                                                                                      \
    "iteration\tepoch\tsim_time\ttest_loss\ttest_accuracy\n"                                       \
    "2\t1\t0.5\t0.5\t0.75\n"

int main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--out") == 0)
            out = argv[i + 1];
    const char *mode = getenv("FAKE_TRAINER_MODE");
    if (!mode)
        mode = "complete";
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int code = 0;
    if (rank == 0) {
        if (strcmp(mode, "abort") == 0) {
            MPI_Abort(MPI_COMM_WORLD, 1);
        } else if (strcmp(mode, "partial") == 0) {
            put("iterations.tsv.partial", ITERS);
            put("eval.tsv.partial", EVALS);
            put("status", "complete\n");
        } else if (strcmp(mode, "failed-io") == 0) {
            put("iterations.tsv.partial", ITERS);
            put("eval.tsv.partial", EVALS);
            put("status", "failed (io): cannot write iterations.tsv.partial: File too large\n");
            MPI_Abort(MPI_COMM_WORLD, 5);
        } else if (strcmp(mode, "nostatus-io") == 0) {
            put("iterations.tsv.partial", ITERS);
            code = 5;
        } else if (strcmp(mode, "diverged") == 0) {
            put("iterations.tsv", ITERS "# status: diverged at iteration 3 (train loss inf)\n");
            put("eval.tsv", EVALS "# status: diverged at iteration 3 (train loss inf)\n");
            put("status", "diverged at iteration 3 (train loss inf)\n");
            code = 3;
        } else if (strcmp(mode, "complete") == 0) {
            put("iterations.tsv", ITERS "# status: complete\n");
            put("eval.tsv", EVALS "# status: complete\n");
            put("status", "complete\n");
        } else if (strcmp(mode, "hang") == 0) {
            put("iterations.tsv.partial", ITERS);
            for (;;) { /* real time: SMPI replaces sleep() with simulated time */
                struct timespec ts = {0, 50000000};
                syscall(SYS_nanosleep, &ts, NULL);
            }
        }
    }
    if (strcmp(mode, "hang") == 0)
        for (;;) {
            struct timespec ts = {0, 50000000};
            syscall(SYS_nanosleep, &ts, NULL);
        }
    MPI_Finalize();
    return code;
}
