/* exchange.h — the trainer's exchange strategies (sim/trainer.c and sim/ex_*.c, compiled
 * together by smpicc or mpicc; never part of libqsgd_sim).
 *
 * One strategy = one file sim/ex_NAME.c defining ex_NAME_ops, a sim_exchange_ops, plus one
 * line in sim/exchanges.def (name, SIM_EXF_* flags: what the configuration checks need to
 * know, summary), which generates the enum, sim_core.c's list and the trainer's registry. The
 * trainer keeps the loop, the common setup (data, model, codec, the message buffers) and the
 * results; a strategy keeps its own state (ops->setup allocates it into r->exs, ops->teardown frees
 * it) and decodes through tr_decode_average, the one decode-and-average of all.
 */
#ifndef QSGDSIM_EXCHANGE_H
#define QSGDSIM_EXCHANGE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "model.h"
#include "optim.h"
#include "quant.h"
#include "sim.h"

#ifdef SMPI_H /* built by smpicc: inject simulated durations */
#include <simgrid/host.h>
#include <simgrid/version.h>
/* SimGrid 3.32's smpi_execute(seconds) rescales by smpi/host-speed (the benchmarking
 * speed), not the host's: inject the duration as flops at this host's own speed instead. */
#define SIM_EXECUTE(s)                                                                             \
    do {                                                                                           \
        if ((s) > 0)                                                                               \
            smpi_execute_flops((s)*sg_host_get_speed(sg_host_self()));                             \
    } while (0)
#define SIM_BACKEND "smpi"
#else /* real MPI: time passes by itself */
#define SIM_EXECUTE(s) ((void)(s))
#define SIM_BACKEND "mpi"
#endif

/* Exit statuses: QSGD_EXIT_* of sim_exit.h (via sim.h). */
enum {
    EXIT_OK = QSGD_EXIT_OK,
    EXIT_FAIL = QSGD_EXIT_INTERNAL,
    EXIT_USAGE = QSGD_EXIT_CONFIG,
    EXIT_DIVERGED = QSGD_EXIT_DIVERGED,
    EXIT_DATA = QSGD_EXIT_DATA,
    EXIT_IO = QSGD_EXIT_IO,
    EXIT_MEMORY = QSGD_EXIT_RESOURCES,
};

/* One iteration of one rank, as iterations.tsv reports it. */
typedef struct step_times {
    double compute, encode, comm, decode; /* simulated seconds of this rank */
    uint64_t bits;                        /* bits this rank sent */
    double loss;                          /* mean minibatch loss over workers */
    double
        ring_err; /* requantizing ring, --allreduce-sum *-measure: ||exact - ring|| / ||exact|| */
} step_times;

struct sim_exchange_ops;

/* One rank of the run: configuration, data, model, the common message buffers. */
typedef struct run {
    sim_config cfg;
    const struct sim_exchange_ops *ex; /* the strategy (exchange_ops) */
    void *exs;                         /* its state: ex->setup allocates, ex->teardown frees */
    int rank, size;
    int nworkers, is_worker, worker; /* SIM_EXF_SERVER_RANK0: rank 0 serves, ranks 1.. work */
    dataset *shard, *test;
    model *m;
    grad_codec *codec;
    optim *opt;
    data_sampler *sampler;
    float *theta, *grad;      /* [nparams], [nparams + 1] (the loss may ride along) */
    float *acc;               /* [nparams + 1] decode accumulator, unless acc_unneeded */
    const float *upd;         /* set by ex->step: the averaged gradient the optimizer applies, where
                                 it is not r->grad (SMPI's shared decode: its shared average) */
    struct shared_params *sp; /* SMPI: one theta and optimizer for all ranks (trainer.c) */
    int acc_unneeded;         /* set by ex->setup: its decodes accumulate elsewhere */
    uint8_t *msg, *recv;      /* this rank's encoded message; all ranks' (tr_gather_big): allocated
                                 where the exchange receives (EX_RECV_*), else NULL; under SMPI's
                                 shared decode one buffer of SMPI shared memory serves all ranks */
    size_t recv_cap;
    int *lens, *displs;   /* [max(size, ntensors)] byte counts and offsets */
    size_t piece;         /* largest (all)gather, bytes (GATHER_PIECE; tests lower it) */
    int npieces;          /* pieces of the last (all)gather: > 1 beyond MPI's int counts */
    int *plens, *pdispls; /* [size] counts and displacements of one piece */
    uint8_t *scratch;     /* one whole message, reassembled from pieces (npieces > 1) */
    size_t *idx;
    double codec_wall; /* real seconds this rank spent encoding and decoding (summary.txt) */
    sim_table iters, evals;
    int reporter;       /* rank that writes iterations.tsv */
    size_t target_iter; /* rank 0: iteration at which the target accuracy was reached */
    double target_time; /* its simulated time (NAN if never) */
    size_t ipe, steps;  /* iterations per epoch, iterations of the run (plan_steps) */
    int code;           /* this rank's failure (QSGD_EXIT_*; 0: none) ... */
    int code_shared;    /* ... seen identically by every rank (rank 0 reports it) */
    char why[700];      /* ... and its message */
} run;

/* Trainer-side properties of an implementation (sim.h's SIM_EXF_* are the configuration's). */
#define EX_CHARGES_COMPUTE 0x1u /* step charges the gradient time itself (--overlap) */
/* every rank receives all messages in r->recv (tr_gather_big, root < 0) */
#define EX_RECV_ALL 0x2u
/* rank 0 receives all messages in r->recv (tr_gather_big, root 0) */
#define EX_RECV_ROOT 0x4u
/* every rank ends ex->step with the bit-identical averaged gradient (and so, from the same
 * initial parameters, the same parameters): under SMPI's shared decode the trainer keeps one
 * theta and optimizer for all ranks and applies each step's update once (trainer.c) */
#define EX_SAME_UPDATE 0x8u

typedef struct sim_exchange_ops {
    sim_exchange id;  /* its entry in sim_exchange_list (name, summary, SIM_EXF_* flags) */
    const char *name; /* for messages */
    unsigned flags;   /* EX_* */
    const struct sim_exchange_ops *overlap; /* the variant run with --overlap (NULL: none) */
    /* After the model, codec and common buffers, before the clock starts; on every rank.
     * EXIT_OK, or a status every rank agrees on (tr_fail_all / tr_agree_code). NULL: none. */
    int (*setup)(run *r);
    /* One iteration: this rank's gradient is r->grad and its loss `loss` (workers);
     * compute = the simulated seconds of that gradient (charged already unless
     * EX_CHARGES_COMPUTE). Leaves the averaged gradient in r->grad and fills st (all but
     * compute). EXIT_OK, or a failure of this rank (tr_fail_rank; the run aborts). */
    int (*step)(run *r, double loss, uint32_t step, double compute, step_times *st);
    /* On every rank, whether setup ran or failed (r->exs may be NULL). NULL: none. */
    void (*teardown)(run *r);
} sim_exchange_ops;

/* SMPI's shared decode (--shared-decode, the default there) of the exchanges that gather
 * whole messages: every receiving rank receives into one buffer of SMPI shared memory that
 * nobody reads (the decode reads the senders' own buffers); the exchange's setup allocates
 * it (ex_allgather_shared_setup, ex_ps.c). 0 outside SMPI. */
static inline int ex_shared_recv(const run *r) {
#ifdef SMPI_H
    return r->cfg.shared_decode && (r->ex->flags & (EX_RECV_ALL | EX_RECV_ROOT));
#else
    (void)r;
    return 0;
#endif
}

/* The registry's entries (sim/exchanges.def): ex_NAME_ops of each sim/ex_NAME.c. */
#define SIM_EXCHANGE(id, name, flags, summary) extern const sim_exchange_ops ex_##name##_ops;
#include "exchanges.def"
#undef SIM_EXCHANGE
extern const sim_exchange_ops ex_allgather_overlap_ops; /* allgather's --overlap variant */

/* ---- the trainer's helpers (trainer.c) ------------------------------------------------ */
/* A failure of this rank: recorded (the first one counts) and printed. Returns code. */
int tr_fail_rank(run *r, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A failure every rank sees identically: recorded on all, printed by rank 0. Returns code. */
int tr_fail_all(run *r, int code, const char *what, const char *msg);
/* A failure on some ranks, agreed on with one reduction: any rank bad (setup only). */
int tr_agree(int bad);
/* The same keeping the class: the largest status of all ranks (0: none failed). */
int tr_agree_code(int code);
int tr_quant_exit(int quant_code);
/* This rank's gradient overflowed at step (0-based): say so (the run stops as diverged). */
void tr_overflow_note(run *r, uint32_t step, const char *why);
/* Encode r->grad (+ loss) into r->msg (*len bytes), st->bits and st->encode (charged). */
int tr_encode_mine(run *r, double loss, uint32_t step, size_t *len, step_times *st);
/* MPI_(All)gatherv of every rank's r->msg (r->lens bytes) into r->recv, sliced beyond MPI's
 * int counts; root < 0: all-gather, else gather to root. */
void tr_gather_big(run *r, int root);
/* Rank w's whole message after tr_gather_big (NULL: out of memory reassembling it). */
const uint8_t *tr_message_of(run *r, int w);

/* The decode-and-average of every exchange that decodes messages: acc[np] = 0, then sender w
 * = 0..count-1 in order is added into acc by dec (which sets its loss), then out[i] =
 * acc[i] / count (out may be acc), *loss = the mean of the senders' losses, *wall = the real
 * seconds of all that. EXIT_OK or dec's failure. */
typedef int (*tr_decode_fn)(run *r, void *ctx, int w, float *acc, double *loss);
int tr_decode_average(run *r, int count, tr_decode_fn dec, void *ctx, float *acc, float *out,
                      double *loss, double *wall);
/* Sender w's whole codec message m[len] added into acc (its loss into *loss); a corrupt
 * message fails this rank naming the worker and the bit. The body of every dec. */
int tr_decode_msg(run *r, int w, const uint8_t *m, size_t len, float *acc, double *loss);
/* dec for whole codec messages after tr_gather_big: sender w is rank *(int *)ctx + w. */
int tr_decode_gathered(run *r, void *ctx, int w, float *acc, double *loss);
/* tr_decode_average of count senders through dec into r->acc, averaged into r->grad;
 * st->loss, and st->decode charged (the codec model of count whole gradients). */
int tr_decode_charged(run *r, int count, tr_decode_fn dec, void *ctx, step_times *st);
/* tr_decode_charged over the gathered messages of ranks first .. first+count-1. */
int tr_decode_all(run *r, int first, int count, step_times *st);

#endif
