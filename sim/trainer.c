/* trainer.c — data-parallel SGD with compressed gradients as one MPI program.
 *
 * K ranks, each with its shard: compute the real gradient, encode every tensor, exchange,
 * decode, average, step. Built twice from this file: with smpicc it runs K virtual ranks
 * inside SimGrid/SMPI (time is simulated: compute and codec times are injected from the
 * compute model with smpi_execute, the network is the platform's), and with mpicc it runs
 * for real under mpirun. The numerics live in the normally compiled libraries (models/,
 * quantizers/, sim_core); the same seed gives the same bits in both builds.
 *
 * Failures are reported as such: every exit path returns a status of sim_exit.h and writes
 * the status file (sim.h) accordingly. Failures on some ranks are agreed on with a reduction
 * where all ranks can reach one; a failure inside the loop on one rank (an I/O error, a bug)
 * writes the status file first and then calls MPI_Abort with its class's status (smpirun
 * returns 0 after MPI_Abort: the status file is what tells). A gradient that overflows is a
 * divergence, carried to every rank by the exchange itself (see GRAD_CODEC_EOVERFLOW).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"
#include "exchange.h"
#include "model.h"
#include "optim.h"
#include "qsgd_file.h"
#include "qsgdsim_git.h"
#include "quant.h"
#include "sim.h"
#include "train.h"

#ifdef SMPI_H
#define PROG "qsgdsim-trainer-smpi"
#else
#define PROG "qsgdsim-trainer-mpi"
#endif

#if defined(SMPI_H) && defined(__x86_64__) && defined(__linux__)
/* Run directly (not by smpirun). smpicc links the trainer as a shared object that smpirun's
 * loader opens and whose main it calls once per virtual rank; started from a shell it had no
 * entry point and crashed before main. An interpreter and an entry (_start: the default
 * linker script's entry, so the link line needs nothing) make it a program that says how it
 * is run: --help prints the usage (exit 0), anything else says to use `qsgdsim sim` or
 * smpirun (exit 2). Nothing of SimGrid is initialized here: _exit, no MPI. */
const char trainer_interp[] __attribute__((section(".interp"), used)) =
    "/lib64/ld-linux-x86-64.so.2";

__attribute__((used, noreturn)) void trainer_direct_main(long *sp) {
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            sim_config_usage(stdout, PROG);
            printf("Run it through `qsgdsim sim --ranks K [--network ...] -- [options]`, or\n"
                   "`smpirun -np K -platform PLATFORM.xml -hostfile HOSTS " PROG " [options]`.\n");
            fflush(stdout);
            _exit(QSGD_EXIT_OK);
        }
    fprintf(stderr,
            PROG ": an SMPI program, started here without smpirun: run it through\n"
                 "`qsgdsim sim --ranks K [--network ...] -- [options]` or\n"
                 "`smpirun -np K -platform PLATFORM.xml -hostfile HOSTS " PROG " [options]`\n"
                 "(`" PROG " --help` lists the options)\n");
    fflush(stderr);
    _exit(QSGD_EXIT_CONFIG);
}

__asm__(".text\n"
        ".globl _start\n"
        ".hidden _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "\txor %ebp, %ebp\n"
        "\tmov %rsp, %rdi\n" /* -> argc, argv[] as the kernel laid them out */
        "\tand $-16, %rsp\n"
        "\tcall trainer_direct_main\n"
        "\thlt\n");
#endif

/* The exchanges (exchange.h): generated from sim/exchanges.def, indexed by sim_exchange. */
static const sim_exchange_ops *const exchange_registry[] = {
#define SIM_EXCHANGE(id, name, flags, summary) [SIM_EX_##id] = &ex_##name##_ops,
#include "exchanges.def"
#undef SIM_EXCHANGE
};

/* The implementation a configuration runs (its --overlap variant with --overlap). */
static const sim_exchange_ops *exchange_ops(const sim_config *c) {
    if ((size_t)c->exchange >= sizeof exchange_registry / sizeof exchange_registry[0])
        return NULL;
    const sim_exchange_ops *o = exchange_registry[c->exchange];
    return o && c->overlap ? o->overlap : o;
}

/* 1 if rank 0 is a server, not a worker (SIM_EXF_SERVER_RANK0). */
static int has_server(const sim_config *c) {
    return (sim_exchange_get(c->exchange)->flags & SIM_EXF_SERVER_RANK0) != 0;
}

/* Print on rank 0 only. */
#define SAY(r, ...)                                                                                \
    do {                                                                                           \
        if ((r)->rank == 0 && !(r)->cfg.quiet)                                                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
    } while (0)

/* A failure of this rank: recorded (the first one counts) and printed, even with --quiet.
 * Returns code. */
int tr_fail_rank(run *r, int code, const char *fmt, ...) {
    char m[sizeof r->why];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    if (!r->code) {
        r->code = code;
        snprintf(r->why, sizeof r->why, "%s", m);
    }
    if (r->rank == 0)
        fprintf(stderr, "qsgdsim-trainer: %s\n", m);
    else
        fprintf(stderr, "qsgdsim-trainer: rank %d: %s\n", r->rank, m);
    return code;
}

/* A failure every rank sees identically: recorded on all, printed and reported by rank 0. */
int tr_fail_all(run *r, int code, const char *what, const char *msg) {
    if (!r->code) {
        r->code = code;
        r->code_shared = 1;
        snprintf(r->why, sizeof r->why, "%s: %s", what, msg);
    }
    if (r->rank == 0)
        fprintf(stderr, "qsgdsim-trainer: %s: %s\n", what, msg);
    return code;
}

/* A failure on some ranks: agree on it with one reduction (setup only). */
int tr_agree(int bad) {
    int any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

/* The same, keeping the class: the largest status of all ranks (0: none failed). */
int tr_agree_code(int code) {
    int any = 0;
    MPI_Allreduce(&code, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

/* Loading data and building the model: the exit class of the code (qsgd_status_exit). */
static int data_exit(int data_code) {
    return qsgd_status_exit(data_code);
}

static int model_exit(int model_code) {
    return qsgd_status_exit(model_code);
}

/* A quantizer failing during the run (the specs were all checked before it started): out
 * of memory, or a bug (it refused a finite gradient or its own message). */
int tr_quant_exit(int quant_code) {
    return quant_code == QSGD_ENOMEM ? EXIT_MEMORY : EXIT_FAIL;
}

/* "failed (CLASS): MESSAGE" */
static void failure_line(int code, const char *msg, char *buf, size_t len) {
    snprintf(buf, len, "failed (%s): %s", qsgd_exit_name(code), msg);
}

/* After a failure agreed on by every rank (code): one rank writes the status file, the one
 * with the lowest rank among those that failed with that class (rank 0 for a failure every
 * rank saw); open tables are closed as .partial with the same line. */
static void report_failure(run *r, int code) {
    char line[sizeof r->why + 40];
    const char *msg = r->code == code ? r->why : "on another rank (see the log)";
    failure_line(code, msg, line, sizeof line);
    sim_table_abandon(&r->iters, line);
    sim_table_abandon(&r->evals, line);
    int me = r->code == code ? r->rank : INT_MAX, who = INT_MAX;
    MPI_Allreduce(&me, &who, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (who == INT_MAX)
        who = 0;
    char err[800];
    if (r->rank == who && r->cfg.out_dir[0] &&
        sim_status_write(r->cfg.out_dir, r->rank, line, err, sizeof err))
        fprintf(stderr, "qsgdsim-trainer: %s\n", err);
}

/* A failure inside the loop on this rank, already recorded (fail_rank): write the status file
 * (smpirun hides MPI_Abort's status), keep the tables as .partial, stop every rank. */
static void abort_run(run *r) {
    int code = r->code ? r->code : EXIT_FAIL;
    char line[sizeof r->why + 40], err[800];
    failure_line(code, r->code ? r->why : "internal error", line, sizeof line);
    sim_table_abandon(&r->iters, line);
    sim_table_abandon(&r->evals, line);
    if (r->cfg.out_dir[0] && sim_status_write(r->cfg.out_dir, r->rank, line, err, sizeof err))
        fprintf(stderr, "qsgdsim-trainer: rank %d: %s\n", r->rank, err);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code); /* not reached */
}

/* ---- data: rank 0 loads, sends each worker its shard ------------------------------------ */
static int setup_data(run *r) {
    qsgd_err de = {0};
    dataset *train = NULL, *test = NULL;
    int bad = 0;
    struct {
        data_shape shape;
        uint64_t n;
        int layout;
    } meta = {0};
    int rc = 0;
    if (r->rank == 0) {
        int drc = data_load_spec(r->cfg.data, r->cfg.seed, &train, &test, &de);
        if (drc != QSGD_OK)
            rc = tr_fail_rank(r, data_exit(drc), "data '%s': %s", r->cfg.data, de.msg);
        else {
            meta.shape = train->shape;
            meta.n = train->n;
            meta.layout = train->layout;
        }
    }
    if ((rc = tr_agree_code(rc)))
        return rc;
    MPI_Bcast(&meta, (int)sizeof meta, MPI_BYTE, 0, MPI_COMM_WORLD);
    size_t n = (size_t)meta.n;
    if (n / (size_t)r->nworkers < r->cfg.batch) {
        char m[200];
        snprintf(m, sizeof m, "%zu samples over %d workers is fewer than one batch of %zu each", n,
                 r->nworkers, r->cfg.batch);
        if (train != test)
            dataset_free(test);
        dataset_free(train);
        return tr_fail_all(r, EXIT_USAGE, "data", m);
    }

    if (meta.layout == DATA_CSR) {
        /* sparse data: every worker loads the file and keeps its rows */
        if (r->rank != 0 && r->is_worker) {
            int drc = data_load_spec(r->cfg.data, r->cfg.seed, &train, &test, &de);
            if (drc != QSGD_OK)
                rc = tr_fail_rank(r, data_exit(drc), "data '%s': %s", r->cfg.data, de.msg);
        }
        if (!rc && r->is_worker) {
            size_t k = data_shard_size(n, (unsigned)r->nworkers, (unsigned)r->worker);
            size_t *idx = malloc((k ? k : 1) * sizeof *idx);
            if (!idx)
                rc = tr_fail_rank(r, EXIT_MEMORY, "data: out of memory for the shard of %zu rows",
                                  k);
            else if (data_shard(n, (unsigned)r->nworkers, (unsigned)r->worker, r->cfg.seed, idx,
                                &de) ||
                     dataset_subset(train, idx, k, &r->shard, &de))
                rc = tr_fail_rank(r, data_exit(de.code), "data: sharding: %s", de.msg);
            free(idx);
        }
        if (r->rank != 0) {
            if (test != train)
                dataset_free(test);
            dataset_free(train);
            train = test = NULL;
        }
    } else {
        size_t dim = meta.shape.dim;
        int cls = meta.shape.nclass > 0;
        /* every worker can receive its shard (agreed), and rank 0 says before each shard
         * whether it follows: a failure on either side stops all ranks, none waits forever */
        if (r->rank != 0 && r->is_worker) {
            size_t k = data_shard_size(n, (unsigned)r->nworkers, (unsigned)r->worker);
            int drc = dataset_alloc_dense(&meta.shape, k, &r->shard, &de);
            if (drc != QSGD_OK)
                rc = tr_fail_rank(r, data_exit(drc), "data: the shard of %zu rows: %s", k, de.msg);
        }
        if ((rc = tr_agree_code(rc))) {
            if (train != test)
                dataset_free(test);
            dataset_free(train);
            return rc;
        }
        if (r->rank == 0) {
            size_t *idx = malloc((n / (size_t)r->nworkers + 1) * sizeof *idx);
            bad = !idx;
            if (bad)
                de = (qsgd_err){.code = QSGD_ENOMEM, .msg = "out of memory"};
            for (int w = 0; w < r->nworkers; w++) {
                size_t k = data_shard_size(n, (unsigned)r->nworkers, (unsigned)w);
                dataset *sub = NULL;
                if (!bad &&
                    (data_shard(n, (unsigned)r->nworkers, (unsigned)w, r->cfg.seed, idx, &de) ||
                     dataset_subset(train, idx, k, &sub, &de)))
                    bad = 1;
                int dst = has_server(&r->cfg) ? w + 1 : w;
                if (dst == 0) {
                    r->shard = sub;
                    continue;
                }
                int ok = !bad;
                MPI_Send(&ok, 1, MPI_INT, dst, 3, MPI_COMM_WORLD);
                if (!ok)
                    continue;
                MPI_Send(sub->x, (int)(k * dim), MPI_FLOAT, dst, 1, MPI_COMM_WORLD);
                if (cls)
                    MPI_Send(sub->label, (int)k, MPI_INT32_T, dst, 2, MPI_COMM_WORLD);
                else
                    MPI_Send(sub->target, (int)k, MPI_FLOAT, dst, 2, MPI_COMM_WORLD);
                dataset_free(sub);
            }
            free(idx);
            if (bad)
                rc = tr_fail_rank(r, data_exit(de.code), "data: sharding: %s", de.msg);
        } else if (r->is_worker) {
            size_t k = data_shard_size(n, (unsigned)r->nworkers, (unsigned)r->worker);
            int ok = 0;
            MPI_Recv(&ok, 1, MPI_INT, 0, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (ok) {
                MPI_Recv(r->shard->x, (int)(k * dim), MPI_FLOAT, 0, 1, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
                if (cls)
                    MPI_Recv(r->shard->label, (int)k, MPI_INT32_T, 0, 2, MPI_COMM_WORLD,
                             MPI_STATUS_IGNORE);
                else
                    MPI_Recv(r->shard->target, (int)k, MPI_FLOAT, 0, 2, MPI_COMM_WORLD,
                             MPI_STATUS_IGNORE);
            }
        }
    }
    if (r->rank == 0) {
        r->test = test ? test : train;
        if (test && test != train)
            dataset_free(train);
        else if (!test)
            train = NULL;
    }
    /* every rank needs the shape for the model: workers have a shard, rank 0 the test set */
    if (!rc && !r->shard && !r->test) {
        int drc = dataset_alloc_dense(&meta.shape, 0, &r->shard, &de);
        if (drc != QSGD_OK)
            rc = tr_fail_rank(r, data_exit(drc), "data: %s", de.msg);
    }
    return tr_agree_code(rc);
}

/* Largest (all)gather in one MPI call (see tr_gather_big). */
#define GATHER_PIECE ((size_t)1 << 30)

/* The environment variable QSGDSIM_GATHER_PIECE (bytes) lowers the piece size so that tests
 * exercise the sliced path with small models; same on every rank (same environment). */
static size_t gather_piece(void) {
    const char *e = getenv("QSGDSIM_GATHER_PIECE");
    char *end;
    unsigned long long v = e ? strtoull(e, &end, 10) : 0;
    return e && *e && !*end && v > 0 && v <= GATHER_PIECE ? (size_t)v : GATHER_PIECE;
}

/* ---- model, codec, optimizer -------------------------------------------------------------- */
/* SMPI: the parameters and the optimizer of all ranks, one copy. Every rank of an exchange
 * with EX_SAME_UPDATE starts from the same theta (init_params, one seed) and applies the same
 * averaged gradient bits with the same optimizer, so the K copies were always identical: the
 * first rank out of a step's exchange applies the update (SMPI switches ranks only inside MPI
 * calls, and no rank reads theta for the next step before every rank has finished this
 * step's gradient, which the exchange needed), the others find it applied. One theta and one
 * momentum buffer instead of K, and one optimizer step per step instead of K. */
typedef struct shared_params {
    float *theta;   /* [nparams] */
    optim *opt;     /* rank 0's, allocated in plan_steps */
    long long step; /* last step applied (-1: none) */
    double lr;      /* its learning rate */
} shared_params;

/* Is the update applied once for all ranks? Only under SMPI's shared decode (the switch for
 * all of SMPI's sharing; --no-shared-decode runs every rank's own copy), for exchanges whose
 * update is bit-identical on every rank; not --allreduce mpi (the library's algorithm may
 * sum in a different order on different ranks). */
static int shares_params(const run *r) {
#ifdef SMPI_H
    return r->cfg.shared_decode && (r->ex->flags & EX_SAME_UPDATE) &&
           !(r->cfg.exchange == SIM_EX_ALLREDUCE && r->cfg.allreduce_mpi);
#else
    (void)r;
    return 0;
#endif
}

/* Fault in a buffer's pages now (setup), not in the first timed step. */
static void touch(void *p, size_t bytes) {
    if (p)
        memset(p, 0, bytes);
}

static int setup_model(run *r) {
    const data_shape *shape = r->shard ? &r->shard->shape : &r->test->shape;
    qsgd_err me = {0};
    size_t max_batch = r->cfg.batch > 256 ? r->cfg.batch : 256; /* evaluation chunks too */
    /* no collective until every rank has agreed on the model, codec and optimizer: a rank
     * may fail alone (out of memory) */
    int rc = 0;
    qsgd_err qe = {0};
    qsgd_err oe = {0};
    r->m = model_alloc_spec_on(r->cfg.model, shape, max_batch, r->cfg.backend, &me);
    if (!r->m)
        rc = tr_fail_rank(r, model_exit(me.code), "model '%s': %s", r->cfg.model, me.msg);
    if (!rc && !(r->codec = grad_codec_alloc(r->m, r->cfg.quant, r->cfg.quant_min_numel, &qe)))
        rc = tr_fail_rank(r, qe.code == QSGD_ENOMEM ? EXIT_MEMORY : EXIT_USAGE,
                          "quantizer '%s': %s", r->cfg.quant, qe.msg);
    optim_params op;
    memset(&op, 0, sizeof op);
    if (!rc && optim_params_parse(r->cfg.optim, &op, &oe) != QSGD_OK)
        rc = tr_fail_rank(r, EXIT_USAGE, "optimizer '%s': %s", r->cfg.optim, oe.msg);
    /* the optimizer itself once the run's length is known (plan_steps: the schedule's total) */
    if ((rc = tr_agree_code(rc)))
        return rc;
    size_t np = r->m->nparams;
    /* one message must fit MPI's int byte counts; K of them need not (tr_gather_big) */
    if (r->codec->max_bytes > (size_t)INT_MAX)
        return tr_fail_all(r, EXIT_USAGE, "model",
                           "one encoded gradient exceeds 2 GiB (MPI int byte counts): use a "
                           "quantizer or a smaller model");
    r->recv_cap = r->codec->max_bytes * (size_t)r->size;
    r->piece = gather_piece();
    int share = shares_params(r);
    if (share && r->rank == 0) {
        r->sp = calloc(1, sizeof *r->sp);
        if (r->sp) {
            r->sp->step = -1;
            r->sp->theta = malloc(np * sizeof(float));
        }
    }
    if (!share)
        r->theta = malloc(np * sizeof(float));
    r->grad = malloc((np + 1) * sizeof(float));
    r->msg = malloc(r->codec->max_bytes);
    touch(r->grad, (np + 1) * sizeof(float));
    touch(r->msg, r->codec->max_bytes);
    /* K messages per receiving rank: only where the exchange reads them (EX_RECV_*), and not
     * under SMPI's shared decode (the exchange's setup gives all ranks one shared buffer):
     * K x K messages of address space were K x (K / 8) memory maps of SMPI's folded shared
     * memory, which ended a 235k-parameter MLP at 1024 ranks */
    int want_recv = !ex_shared_recv(r) && ((r->ex->flags & EX_RECV_ALL) ||
                                           ((r->ex->flags & EX_RECV_ROOT) && r->rank == 0));
    r->recv = want_recv ? malloc(r->recv_cap) : NULL;
    /* lengths/offsets per rank, or per tensor with --overlap */
    size_t nl = (size_t)r->size > r->m->ntensors ? (size_t)r->size : r->m->ntensors;
    r->lens = calloc(nl, sizeof(int));
    r->displs = calloc(nl, sizeof(int));
    r->plens = calloc((size_t)r->size, sizeof(int));
    r->pdispls = calloc((size_t)r->size, sizeof(int));
    r->idx = malloc(r->cfg.batch * sizeof(size_t));
    int bad = (share ? r->rank == 0 && (!r->sp || !r->sp->theta) : !r->theta) || !r->grad ||
              !r->msg || (want_recv && !r->recv) || !r->lens || !r->displs || !r->plens ||
              !r->pdispls || !r->idx;
    if (tr_agree(bad))
        return tr_fail_all(r, EXIT_MEMORY, "memory", "cannot allocate the buffers");
    if (share) { /* rank 0's copy for all (setup: before the clock starts) */
        MPI_Bcast(&r->sp, (int)sizeof r->sp, MPI_BYTE, 0, MPI_COMM_WORLD);
        r->theta = r->sp->theta;
    }
    if (!share || r->rank == 0)
        r->m->type->init_params(r->m, r->theta, r->cfg.seed);
    if (r->is_worker) {
        qsgd_err de = {0};
        r->sampler = data_sampler_alloc(NULL, r->shard->n, r->cfg.batch, 1, r->cfg.seed,
                                        (uint32_t)r->worker, &de);
        bad = !r->sampler;
    }
    if (tr_agree(bad))
        return tr_fail_all(r, EXIT_MEMORY, "sampler", "cannot allocate");
    return EXIT_OK;
}

/* The accumulator of decoded messages (and the all-reduce's scratch): every path needs one
 * per rank except SMPI's shared decode, which accumulates into the shared average — one
 * gradient-sized buffer less per virtual rank (575 MB for fp32 VGG19). */
static int setup_accumulator(run *r) {
    int bad = 0;
    if (!r->acc_unneeded) {
        r->acc = malloc((r->m->nparams + 1) * sizeof(float));
        bad = !r->acc;
    }
    if (tr_agree(bad))
        return tr_fail_all(r, EXIT_MEMORY, "memory", "cannot allocate the decode accumulator");
    return EXIT_OK;
}

/* ---- exchanges ------------------------------------------------------------------------------ */
/* ---- (all)gather beyond MPI's int counts -------------------------------------------------
 * MPI counts and displacements are ints, so one MPI_(All)gatherv moves at most 2 GiB in all
 * (8 fp32 VGG19 gradients are 4.6 GB). gather_big splits every rank's message into P equal
 * slices (P = total / 1 GiB, rounded up; P = 1 in all but huge runs) and runs P collectives,
 * slice p of every rank in the p-th: the network sees the same bytes plus P - 1 extra
 * latencies. The receive buffer is laid out slice-major (all ranks' slice 0, then slice 1,
 * ...), which for P = 1 is the usual rank-major layout; tr_message_of reassembles one rank's
 * message when P > 1. root < 0: MPI_Allgatherv, else MPI_Gatherv to root. Needs r->lens
 * (at a gather's non-roots only their own entry is used). */
static void piece_bounds(int len, int npieces, int p, size_t *lo, size_t *hi) {
    *lo = (size_t)len * (size_t)p / (size_t)npieces;
    *hi = (size_t)len * (size_t)(p + 1) / (size_t)npieces;
}

void tr_gather_big(run *r, int root) {
    /* every rank must pick the same P: an all-gather's ranks all know every length; a
     * gather's non-roots know only their own, so P comes from the capacity there */
    size_t total = 0;
    for (int w = 0; w < r->size; w++)
        total += (size_t)r->lens[w];
    if (root >= 0)
        total = r->recv_cap;
    int P = (int)((total + r->piece - 1) / r->piece);
    if (P < 1)
        P = 1;
    r->npieces = P;
    size_t region = 0; /* start of slice p's region in recv */
    for (int p = 0; p < P; p++) {
        size_t off = 0, slo = 0, shi = 0;
        for (int w = 0; w < r->size; w++) {
            size_t lo, hi;
            piece_bounds(r->lens[w], P, p, &lo, &hi);
            r->plens[w] = (int)(hi - lo);
            r->pdispls[w] = (int)off;
            off += hi - lo;
            if (w == r->rank) {
                slo = lo;
                shi = hi;
            }
        }
        uint8_t *into = r->recv ? r->recv + region : NULL; /* a gather's non-roots: none */
        if (root < 0)
            MPI_Allgatherv(r->msg + slo, (int)(shi - slo), MPI_BYTE, into, r->plens, r->pdispls,
                           MPI_BYTE, MPI_COMM_WORLD);
        else
            MPI_Gatherv(r->msg + slo, (int)(shi - slo), MPI_BYTE, into, r->plens, r->pdispls,
                        MPI_BYTE, root, MPI_COMM_WORLD);
        region += off;
    }
}

/* Rank w's whole message after gather_big: in place for one piece, else copied into
 * r->scratch from its P slices. NULL if the scratch cannot be allocated. */
const uint8_t *tr_message_of(run *r, int w) {
    int P = r->npieces;
    if (P <= 1)
        return r->recv + r->displs[w];
    if (!r->scratch && !(r->scratch = malloc(r->codec->max_bytes)))
        return NULL;
    size_t region = 0, done = 0;
    for (int p = 0; p < P; p++) {
        size_t off = 0;
        for (int v = 0; v < r->size; v++) {
            size_t lo, hi;
            piece_bounds(r->lens[v], P, p, &lo, &hi);
            if (v == w) {
                memcpy(r->scratch + done, r->recv + region + off, hi - lo);
                done += hi - lo;
            }
            off += hi - lo;
        }
        region += off;
    }
    return r->scratch;
}

int tr_decode_average(run *r, int count, tr_decode_fn dec, void *ctx, float *acc, float *out,
                      double *loss, double *wall) {
    double w0 = sim_wall();
    size_t np = r->m->nparams;
    memset(acc, 0, np * sizeof(float));
    double lsum = 0;
    for (int w = 0; w < count; w++) {
        double l = 0;
        int rc = dec(r, ctx, w, acc, &l);
        if (rc)
            return rc;
        lsum += l;
    }
    /* the mean, or a majority vote for the tensors whose quantizer votes (signsgd) */
    grad_codec_aggregate(r->codec, acc, count, out);
    *loss = lsum / count;
    *wall = sim_wall() - w0;
    r->codec_wall += *wall; /* the shared decode: once, on the rank that did it */
    return EXIT_OK;
}

int tr_decode_msg(run *r, int w, const uint8_t *m, size_t len, float *acc, double *loss) {
    qsgd_err qe = {0};
    if (grad_codec_decode_add(r->codec, m, len, acc, loss, &qe) != QSGD_OK)
        return tr_fail_rank(r, tr_quant_exit(qe.code), "message of worker %d: %s (bit %llu)", w,
                            qe.msg, (unsigned long long)qe.bit);
    return EXIT_OK;
}

int tr_decode_gathered(run *r, void *ctx, int w, float *acc, double *loss) {
    int v = *(const int *)ctx + w;
    const uint8_t *m = tr_message_of(r, v);
    if (!m)
        return tr_fail_rank(r, EXIT_MEMORY, "out of memory reassembling a message");
    return tr_decode_msg(r, w, m, (size_t)r->lens[v], acc, loss);
}

int tr_decode_charged(run *r, int count, tr_decode_fn dec, void *ctx, step_times *st) {
    double wall;
    int rc = tr_decode_average(r, count, dec, ctx, r->acc, r->grad, &st->loss, &wall);
    if (rc)
        return rc;
    st->decode = sim_codec_seconds(&r->cfg, wall, 4.0 * (double)r->m->nparams * count);
    SIM_EXECUTE(st->decode);
    return EXIT_OK;
}

int tr_decode_all(run *r, int first, int count, step_times *st) {
    return tr_decode_charged(r, count, tr_decode_gathered, &first, st);
}

/* This rank's gradient overflowed at step (0-based): say so; the run stops as diverged. */
void tr_overflow_note(run *r, uint32_t step, const char *why) {
    fprintf(stderr,
            "qsgdsim-trainer: rank %d: iteration %llu: the gradient overflows (%s): the "
            "training diverged\n",
            r->rank, (unsigned long long)step + 1, why);
}

int tr_encode_mine(run *r, double loss, uint32_t step, size_t *len, step_times *st) {
    double w0 = sim_wall();
    qsgd_err qe = {0};
    int rc = grad_codec_encode(r->codec, r->grad, loss, r->cfg.seed, (uint32_t)r->worker, step,
                               r->msg, r->codec->max_bytes, len, &st->bits, &qe);
    if (rc == GRAD_CODEC_EOVERFLOW) /* the marker goes out instead: every rank stops as diverged */
        tr_overflow_note(r, step, qe.msg);
    else if (rc)
        return tr_fail_rank(r, tr_quant_exit(qe.code), "encode at iteration %llu: %s",
                            (unsigned long long)step + 1, qe.msg);
    double w = sim_wall() - w0;
    r->codec_wall += w;
    st->encode = sim_codec_seconds(&r->cfg, w, 4.0 * (double)r->m->nparams);
    SIM_EXECUTE(st->encode);
    return EXIT_OK;
}

/* ---- results ----------------------------------------------------------------------------------
 */
static void provenance(run *r, FILE *f) {
    char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(lib, &len);
    char *nl = strchr(lib, '\n');
    if (nl)
        *nl = 0;
    fprintf(f, "# qsgdsim trainer, git %s\n", QSGDSIM_GIT);
#ifdef SMPI_H
    fprintf(f, "# backend: SMPI (%s); times are simulated\n", SIMGRID_VERSION_STRING);
#else
    fprintf(f, "# backend: real MPI (%s); times are measured\n", lib);
#endif
    fprintf(f, "# ranks: %d, workers: %d\n", r->size, r->nworkers);
    char d[512];
    model_describe(r->m, d, sizeof d);
    fprintf(f, "# model: %s\n", d);
    fprintf(f, "# gradients computed on: %s\n", model_device_desc(r->m));
    grad_codec_describe(r->codec, d, sizeof d);
    fprintf(f, "# codec: %s\n", d);
    sim_config_write(f, &r->cfg, "# config: ");
}

/* iterations.tsv has the column ring_rel_err: the requantizing ring, measured. */
static int measures_ring(const run *r) {
    return r->cfg.exchange == SIM_EX_ALLREDUCE && (r->cfg.allreduce_sum & SIM_ARSUM_MEASURE) &&
           r->codec->nquantized > 0 && !r->cfg.allreduce_mpi && r->size > 1;
}

/* The tables' headers go out with their first rows (a write failure is caught there). */
static int open_tables(run *r) {
    char err[700] = "";
    int rc = 0;
    if (r->cfg.out_dir[0] && r->rank == r->reporter) {
        if (sim_table_open(&r->iters, r->cfg.out_dir, "iterations.tsv", err, sizeof err))
            rc = tr_fail_rank(r, EXIT_IO, "%s", err);
        else {
            provenance(r, r->iters.f);
            sim_table_printf(&r->iters,
                             "iteration\tepoch\tsim_time\tcompute\tencode\tcomm\tdecode\tbits_"
                             "sent\ttrain_loss\tlr%s\n",
                             measures_ring(r) ? "\tring_rel_err" : "");
        }
    }
    if (!rc && r->cfg.out_dir[0] && r->rank == 0) {
        if (sim_table_open(&r->evals, r->cfg.out_dir, "eval.tsv", err, sizeof err))
            rc = tr_fail_rank(r, EXIT_IO, "%s", err);
        else {
            provenance(r, r->evals.f);
            sim_table_printf(&r->evals, "iteration\tepoch\tsim_time\ttest_loss\ttest_accuracy\n");
        }
    }
    return tr_agree_code(rc);
}

/* A table could not be written (full disk, file size limit): stop the run, keep the .partial
 * tables, say which file and why. */
static void table_failed(run *r, sim_table *t) {
    char err[700];
    sim_table_error(t, err, sizeof err);
    tr_fail_rank(r, EXIT_IO, "%s", err);
    abort_run(r);
}

static int evaluate_rank0(run *r, size_t it, double epoch, double t);

/* Rank 0 evaluates; returns 1 (on every rank) when the target accuracy is reached. The
 * decision is broadcast only when a target is set (one small message per evaluation). The
 * real seconds of rank 0's evaluation are added to *eval_wall (summary.txt: not a step's). */
static int evaluate(run *r, size_t it, double epoch, double t, double *eval_wall) {
    int stop = 0;
    if (r->rank == 0) {
        double w0 = sim_wall();
        stop = evaluate_rank0(r, it, epoch, t);
        *eval_wall += sim_wall() - w0;
    }
    if (r->cfg.target_accuracy > 0)
        MPI_Bcast(&stop, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return stop;
}

static int evaluate_rank0(run *r, size_t it, double epoch, double t) {
    double loss = NAN, acc = NAN;
    qsgd_err me = {0};
    if (r->m->type->evaluate(r->m, r->theta, r->test, &loss, &acc, &me) != QSGD_OK) {
        tr_fail_rank(r, model_exit(me.code) == EXIT_MEMORY ? EXIT_MEMORY : EXIT_FAIL,
                     "evaluation at iteration %zu: %s", it, me.msg);
        abort_run(r);
    }
    if (r->evals.f &&
        (sim_table_printf(&r->evals, "%zu\t%.4f\t%.9g\t%.9g\t%.6f\n", it, epoch, t, loss, acc) ||
         sim_table_flush(&r->evals)))
        table_failed(r, &r->evals);
    SAY(r, "  iter %6zu  epoch %6.3f  sim %10.4f s  test loss %.4f  acc %.4f\n", it, epoch, t, loss,
        acc);
    if (r->cfg.target_accuracy > 0 && acc >= r->cfg.target_accuracy) {
        r->target_iter = it;
        r->target_time = t;
        return 1;
    }
    return 0;
}

/* The iterations of the run and the optimizer: train_plan_steps (models/train.h, shared with
 * `qsgdsim train`): min(ceil(epochs x iterations per epoch), max_steps), refused beyond
 * TRAIN_MAX_STEPS (the step counter of the quantizers is 32 bits); then the schedule's
 * length from it (train_schedule_resolve: cosine's total = the run, step's step = one
 * epoch unless the spec gives them). The same on every rank. */
static int plan_steps(run *r) {
    size_t per_worker = r->shard ? r->shard->n : 0;
    unsigned long long pw = per_worker;
    unsigned long long minpw = 0;
    if (has_server(&r->cfg) && r->rank == 0)
        pw = ~0ull;
    MPI_Allreduce(&pw, &minpw, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    r->ipe = (size_t)minpw / r->cfg.batch; /* >= 1: setup_data checked one batch per worker */
    qsgd_err te = {0};
    if (train_plan_steps(r->cfg.epochs, r->ipe, r->cfg.max_steps, &r->steps, &te))
        return tr_fail_all(r, EXIT_USAGE, "--epochs", te.msg);
    optim_params op;
    qsgd_err oe = {0};
    memset(&op, 0, sizeof op);
    optim_params_parse(r->cfg.optim, &op, &oe); /* parsed in setup_model already */
    train_schedule_resolve(&op, r->steps, r->ipe, 0);
    int rc = 0;
    if ((!r->sp || r->rank == 0) && !(r->opt = optim_alloc(r->m->nparams, &op, &oe)))
        rc = tr_fail_rank(r, oe.code == QSGD_ENOMEM ? EXIT_MEMORY : EXIT_USAGE,
                          "optimizer '%s': %s", r->cfg.optim, oe.msg);
    if (r->sp && r->rank == 0)
        r->sp->opt = r->opt;
    rc = tr_agree_code(rc);
    if (!rc && r->sp) /* rank 0 set it before the reduction that every rank has left */
        r->opt = r->sp->opt;
    return rc;
}

/* summary.txt (rank 0), through summary.txt.partial; 0 or nonzero with the reason in err. */
static int write_summary(run *r, size_t it, double total, double last_loss, double wall_max,
                         double grad_sum, double codec_sum, double eval_wall, double overhead,
                         const char *why, char *err, size_t errlen) {
    size_t rss = sim_peak_rss(), anon, file, shmem;
    sim_rss_kinds(&anon, &file, &shmem);
    char p[600], tmp[620];
    snprintf(p, sizeof p, "%s/summary.txt", r->cfg.out_dir);
    FILE *f = qsgd_file_open(p, ".partial", tmp, sizeof tmp, err, errlen);
    if (!f)
        return 1;
    int e = 0;
    errno = 0;
    qsgd_file_check(fprintf(f, "device = %s\n", model_device_desc(r->m)), &e);
    qsgd_file_check(fprintf(f,
                            "backend = %s\nranks = %d\nworkers = %d\niterations = %zu\n"
                            "sim_time = %.9g\nfinal_train_loss = %.9g\nwall_seconds = %.6g\n"
                            "gradient_wall_seconds = %.6g\ncodec_wall_seconds = %.6g\n"
                            "eval_wall_seconds = %.6g\nsimulator_overhead = %.6g\n"
                            "peak_rss_bytes = %zu\nrss_anon_bytes = %zu\nrss_file_bytes = %zu\n"
                            "rss_shmem_bytes = %zu\ntarget_accuracy = %g\ntime_to_target = %.9g\n"
                            "status = %s\n",
                            SIM_BACKEND, r->size, r->nworkers, it, total, last_loss, wall_max,
                            grad_sum, codec_sum, eval_wall, overhead, rss, anon, file, shmem,
                            r->cfg.target_accuracy, r->target_time, why),
                    &e);
    /* a failure leaves summary.txt.partial (kept), never renamed to look complete */
    return qsgd_file_commit(f, &e, tmp, p, QSGD_FILE_KEEP, err, errlen) ? 1 : 0;
}

/* ---- main -------------------------------------------------------------------------------------
 */
static int train(run *r) {
    size_t ipe = r->ipe, steps = r->steps;
    char d[256];
    grad_codec_describe(r->codec, d, sizeof d);
    SAY(r,
        "qsgdsim-trainer (%s): %d ranks, %d workers, %zu parameters, %zu iterations (%zu per "
        "epoch)\n  %s\n",
        SIM_BACKEND, r->size, r->nworkers, r->m->nparams, steps, ipe, d);

    double flops = r->m->type->flops_per_sample(r->m) * (double)r->cfg.batch;
    MPI_Barrier(MPI_COMM_WORLD);
    double start = MPI_Wtime();
    /* real seconds: whole loop, gradients, evaluations (rank 0) */
    double wall0 = sim_wall(), grad_wall = 0, eval_wall = 0;
    double last_loss = NAN;
    r->target_time = NAN;
    evaluate(r, 0, 0.0, 0.0, &eval_wall);
    size_t eval_every = r->cfg.eval_every ? r->cfg.eval_every : ipe;
    int status = EXIT_OK;
    char why[200] = "complete";
    size_t it;
    for (it = 0; it < steps; it++) {
        step_times st = {0};
        double loss = 0;
        if (r->is_worker) {
            size_t b = data_sampler_next(r->sampler, r->idx);
            double w0 = sim_wall();
            qsgd_err me = {0};
            if (r->m->type->loss_grad(r->m, r->theta, r->shard, r->idx, b, &loss, r->grad, &me) !=
                QSGD_OK) {
                tr_fail_rank(r, model_exit(me.code) == EXIT_MEMORY ? EXIT_MEMORY : EXIT_FAIL,
                             "gradient at iteration %zu: %s", it + 1, me.msg);
                abort_run(r);
            }
            double gw = sim_wall() - w0;
            grad_wall += gw;
            st.compute = sim_compute_seconds(&r->cfg, gw, flops);
            if (!(r->ex->flags & EX_CHARGES_COMPUTE))
                SIM_EXECUTE(st.compute);
        }
        r->upd = NULL;
        int rc = r->ex->step(r, loss, (uint32_t)it, st.compute, &st);
        if (rc) /* a broken message or an encoder error on this rank: a bug, or out of memory */
            abort_run(r);
        const float *upd = r->upd ? r->upd : r->grad;
        double lr;
        if (!r->sp)
            lr = optim_step(r->opt, r->theta, upd, it);
        else if (r->sp->step != (long long)it) { /* the first rank out: once for all */
            lr = r->sp->lr = optim_step(r->opt, r->theta, upd, it);
            r->sp->step = (long long)it;
        } else
            lr = r->sp->lr;
        double t = MPI_Wtime() - start;
        last_loss = st.loss;
        double epoch = (double)(it + 1) / (double)ipe;
        if (r->iters.f) {
            if (sim_table_printf(&r->iters,
                                 "%zu\t%.4f\t%.9g\t%.6g\t%.6g\t%.6g\t%.6g\t%llu\t%.9g\t%.6g",
                                 it + 1, epoch, t, st.compute, st.encode, st.comm, st.decode,
                                 (unsigned long long)st.bits, st.loss, lr) ||
                (measures_ring(r) && sim_table_printf(&r->iters, "\t%.6g", st.ring_err)) ||
                sim_table_printf(&r->iters, "\n") ||
                ((it + 1) % 64 == 0 && sim_table_flush(&r->iters)))
                table_failed(r, &r->iters);
        }
        /* every rank sees the same mean loss: all stop here. -inf is no loss but the marker of
         * a gradient that overflowed on some worker (GRAD_CODEC_EOVERFLOW) */
        if (!isfinite(st.loss)) {
            if (st.loss == -INFINITY)
                snprintf(why, sizeof why,
                         "diverged at iteration %zu (a worker's gradient overflowed: not finite, "
                         "or its norm beyond float)",
                         it + 1);
            else
                snprintf(why, sizeof why, "diverged at iteration %zu (train loss %g)", it + 1,
                         st.loss);
            if (r->rank == 0) /* an error: printed even with --quiet */
                fprintf(stderr, "qsgdsim-trainer: %s; the results so far are kept\n", why);
            status = EXIT_DIVERGED;
            it++;
            break;
        }
        if ((it + 1) % eval_every == 0 || it + 1 == steps) {
            if (evaluate(r, it + 1, epoch, t, &eval_wall)) {
                snprintf(why, sizeof why, "complete: target accuracy %g reached at iteration %zu",
                         r->cfg.target_accuracy, it + 1);
                it++;
                break;
            }
        }
    }
    double total = MPI_Wtime() - start;
    /* Real time: the loop on this rank, and gradient computation summed over ranks (under
     * SMPI all ranks share one process and the wall clock, so the simulator's own overhead
     * is the loop's wall time not spent computing gradients). */
    double wall = sim_wall() - wall0, grad_sum = 0, wall_max = 0;
    double codec_sum = 0;
    /* All-reductions, not MPI_Reduce: SMPI 3.32's default reduce is linear with a waitany
     * over all K requests on the root (K^2 work): at K = 4096 each of these took minutes of
     * real time; the all-reduce the setup's agreements use is fast. After the clock: no
     * simulated number depends on them. */
    double sums[2] = {grad_wall, r->codec_wall}, tot[2] = {0, 0};
    MPI_Allreduce(sums, tot, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&wall, &wall_max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    grad_sum = tot[0];
    codec_sum = tot[1];
    size_t rss = sim_peak_rss(), anon, file, shmem;
    sim_rss_kinds(&anon, &file, &shmem);
#ifdef SMPI_H
    double overhead = wall_max > 0 ? 1.0 - grad_sum / wall_max : NAN;
#else
    double overhead = NAN; /* ranks run in parallel on real MPI: not meaningful */
#endif
    SAY(r,
        "qsgdsim-trainer: %zu iterations in %.4f simulated s; wall %.2f s, gradients %.2f s "
        "(all ranks), overhead %.1f%%; peak RSS %.1f MiB (now: anonymous %.1f, file %.1f, "
        "shared %.1f MiB)\n",
        it, total, wall_max, grad_sum, 100 * overhead, (double)rss / 1048576.0,
        (double)anon / 1048576.0, (double)file / 1048576.0, (double)shmem / 1048576.0);
    /* Results, then the completion marker: the tables are closed and renamed (each with its
     * status line), then summary.txt, then, once every rank agrees nothing failed, the status
     * file, last. A failure leaves the tables as .partial and a status "failed (io): ...". */
    char err[1400];
    if (r->iters.f && sim_table_close(&r->iters, why, err, sizeof err))
        tr_fail_rank(r, EXIT_IO, "%s", err);
    if (r->evals.f && sim_table_close(&r->evals, why, err, sizeof err))
        tr_fail_rank(r, EXIT_IO, "%s", err);
    if (r->rank == 0 && r->cfg.out_dir[0] && !r->code &&
        write_summary(r, it, total, last_loss, wall_max, grad_sum, codec_sum, eval_wall, overhead,
                      why, err, sizeof err))
        tr_fail_rank(r, EXIT_IO, "%s", err);
    int rc = tr_agree_code(r->code);
    if (rc) {
        report_failure(r, rc);
        return rc;
    }
    if (r->rank == 0 && r->cfg.out_dir[0] &&
        sim_status_write(r->cfg.out_dir, r->rank, why, err, sizeof err)) {
        fprintf(stderr, "qsgdsim-trainer: %s\n", err);
        return EXIT_IO;
    }
    return status;
}

static void cleanup(run *r) {
    /* the shared parameters are rank 0's, freed there: every rank has left the loop (train
     * ends with reductions) and nobody reads them in cleanup */
    if (r->sp && r->rank != 0) {
        r->theta = NULL;
        r->opt = NULL;
    } else if (r->sp) {
        if (r->theta != r->sp->theta) /* setup failed before sharing it */
            free(r->sp->theta);
        free(r->sp);
    }
    data_sampler_free(r->sampler);
    if (r->test && r->test != r->shard)
        dataset_free(r->test);
    dataset_free(r->shard);
    grad_codec_free(r->codec);
    optim_free(r->opt);
    model_free(r->m);
    free(r->theta);
    free(r->grad);
    free(r->acc);
    free(r->msg);
    free(r->recv);
    free(r->lens);
    free(r->displs);
    free(r->plens);
    free(r->pdispls);
    free(r->scratch);
    free(r->idx);
}

/* The --out directory of a command line that did not parse (the status file still says why),
 * "" if none. */
static void find_out_dir(int argc, char **argv, char *dir, size_t len) {
    dir[0] = '\0';
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            v = argv[i + 1];
        else if (strncmp(argv[i], "--out=", 6) == 0)
            v = argv[i] + 6;
        if (v && *v && strlen(v) < len)
            snprintf(dir, len, "%s", v);
    }
}

int main(int argc, char **argv) {
    /* a file size limit (ulimit -f) must fail the write (EFBIG, reported), not kill the run */
    signal(SIGXFSZ, SIG_IGN);
    MPI_Init(&argc, &argv);
    run r;
    memset(&r, 0, sizeof r);
    MPI_Comm_rank(MPI_COMM_WORLD, &r.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &r.size);
    sim_config_default(&r.cfg);
    char err[800] = "";
    int help = 0;
    int rc = sim_config_parse(argc, argv, &r.cfg, &help, err, sizeof err);
    if (rc || help) {
        if (r.rank == 0) {
            if (rc) {
                fprintf(stderr, "qsgdsim-trainer: %s\n", err);
                fprintf(stderr, "Try '" PROG " --help'.\n");
                char dir[sizeof r.cfg.out_dir], line[sizeof err + 40], e2[800];
                find_out_dir(argc, argv, dir, sizeof dir);
                failure_line(EXIT_USAGE, err, line, sizeof line);
                if (dir[0] && sim_status_write(dir, r.rank, line, e2, sizeof e2))
                    fprintf(stderr, "qsgdsim-trainer: %s\n", e2);
            } else {
                sim_config_usage(stdout, PROG);
            }
        }
        MPI_Finalize();
        return rc ? EXIT_USAGE : EXIT_OK;
    }
    /* a status left by an earlier run in this directory must not survive this one */
    if (r.rank == 0 && r.cfg.out_dir[0] && sim_status_clear(r.cfg.out_dir, err, sizeof err))
        rc = tr_fail_rank(&r, EXIT_IO, "%s", err);
    rc = tr_agree_code(rc);
    r.ex = exchange_ops(&r.cfg);
    if (!rc && !r.ex)
        rc = tr_fail_all(&r, EXIT_FAIL, "--exchange", "no implementation in this trainer");
    if (!rc && r.size < sim_exchange_min_ranks(r.cfg.exchange)) {
        char what[80];
        snprintf(what, sizeof what, "--exchange %s", sim_exchange_get(r.cfg.exchange)->name);
        rc = tr_fail_all(&r, EXIT_USAGE, what, "needs at least 2 ranks (server + worker)");
    }
    if (has_server(&r.cfg)) {
        r.nworkers = r.size - 1;
        r.is_worker = r.rank > 0;
        r.worker = r.rank - 1;
        r.reporter = 1;
    } else {
        r.nworkers = r.size;
        r.is_worker = 1;
        r.worker = r.rank;
        r.reporter = 0;
    }
    model_set_threads(r.cfg.threads);
    if (!rc)
        rc = setup_data(&r);
    if (!rc)
        rc = setup_model(&r);
    if (!rc)
        rc = r.ex->setup ? r.ex->setup(&r) : EXIT_OK;
    if (!rc)
        rc = setup_accumulator(&r);
    if (!rc)
        rc = plan_steps(&r);
    if (!rc)
        rc = open_tables(&r);
    if (!rc)
        rc = train(&r); /* writes the status file */
    else
        report_failure(&r, rc);
    if (r.ex && r.ex->teardown)
        r.ex->teardown(&r);
    cleanup(&r);
    MPI_Finalize();
    return rc;
}
