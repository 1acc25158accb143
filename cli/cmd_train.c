/* cmd_train.c — `qsgdsim train`: single-worker SGD training of a model on a data set
 * (Fashion-MNIST, LIBSVM files, synthetic convex problems), optionally with every gradient
 * passed through a quantizer (encode -> decode -> step). Prints one line per epoch and writes
 * a TSV with provenance lines. All the work is train_run() in models/train.c. Exit statuses:
 * sim_exit.h (2 bad option or spec, 3 diverged with the TSV kept, 4 data, 5 the TSV could not
 * be written, 6 out of memory, 1 internal). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "model.h"
#include "qsgd_file.h"
#include "quant.h"
#include "sim_exit.h"
#include "train.h"

#define PROG "qsgdsim train"

static void usage(FILE *f) {
    fprintf(f,
            "usage: " PROG " [options]\n"
            "Train one model on one worker; per-epoch progress on stdout, results in a TSV.\n"
            "\n"
            "  --model SPEC        leastsq | logreg | softmax | mlp[:hidden=256x128] |\n"
            "                      cnn[:channels=16x32,fc=128]  (default mlp)\n"
            "  --data SPEC         fmnist[:n=N,ntest=N,dir=PATH,norm=std|unit|raw] |\n"
            "                      libsvm:PATH[,test=PATH,dense=0|1|auto,task=auto|class|reg] |\n"
            "                      synth-leastsq[:n=,dim=,kappa=,noise=,spread=log|linear] |\n"
            "                      synth-logreg[:n=,dim=,scale=,hard=0|1]  (default fmnist)\n"
            "  --batch N           minibatch size (default 128)\n"
            "  --epochs N          epochs, >= 1 (default 5)\n"
            "  --max-steps N       stop after N steps (default: no limit; a run has at most\n"
            "                      4294967295 steps, the quantizers' step counter)\n"
            "  --lr X              base learning rate (default 0.05)\n"
            "  --schedule S        constant | step | cosine | invsqrt | invt (default cosine)\n"
            "  --lr-min X          cosine: final learning rate (default 0)\n"
            "  --gamma X           step: decay factor (default 0.1)\n"
            "  --decay-epochs X    step: epochs between decays (default 1)\n"
            "  --t0 X              invsqrt / invt: time scale in steps (default 1)\n"
            "  --warmup N          linear warmup steps (default 0)\n"
            "  --momentum X        heavy-ball momentum (default 0.9)\n"
            "  --nesterov          Nesterov momentum\n"
            "  --wd X              L2 weight decay added to the gradient (default 0)\n"
            "  --optim SPEC        all of the above as sgd:lr=..,schedule=..,momentum=..,wd=..\n"
            "  --quant SPEC        quantizer for the gradients, e.g. qsgd:bits=8,bucket=512\n"
            "                      (default none: plain fp32 gradients)\n"
            "  --quant-min-numel N tensors with fewer elements are sent fp32 (default %d;\n"
            "                      0 = quantize every tensor; as the trainer's and experiment\n"
            "                      files' quant_min_numel. --quant-min N: deprecated spelling)\n"
            "  --seed N            data order, initialization, quantizer randomness (default 1)\n"
            "  --threads N         OpenBLAS threads (default: OpenBLAS's own choice)\n"
            "  --device D          auto | cpu | cuda: where gradients are computed (default auto:\n"
            "                      a CUDA GPU when present and the model has a CUDA version)\n"
            "  --out FILE          TSV output (default train.tsv; written atomically)\n"
            "  --quiet             no per-epoch lines\n"
            "  -h, --help          this help\n"
            "Exit status: 0 complete, 2 bad option or spec, 3 diverged (the TSV is kept, its last\n"
            "line says where), 4 data, 5 the TSV could not be written (what was written is kept\n"
            "in the temporary file named), 6 out of memory, 1 internal error.\n",
            TRAIN_QUANT_MIN_NUMEL);
}

static int bad(const char *opt, const char *val, const char *why) {
    fprintf(stderr, PROG ": %s '%s': %s\n", opt, val, why);
    fprintf(stderr, "Try '" PROG " --help'.\n");
    return QSGD_EXIT_CONFIG;
}

/* A non-negative integer (1e3 is 1000); "too large" beyond SIZE_MAX, never a wrapped value. */
static int parse_count(const char *opt, const char *s, size_t *out) {
    char *end;
    double x = strtod(s, &end);
    if (end == s || *end || !(x >= 0) || x != floor(x))
        return bad(opt, s, "expected a non-negative integer");
    if (!(x < 18446744073709551616.0)) /* 2^64: SIZE_MAX + 1 */
        return bad(opt, s, "too large");
    *out = (size_t)x;
    return 0;
}

static int parse_real(const char *opt, const char *s, double *out) {
    char *end;
    double x = strtod(s, &end);
    if (end == s || *end || x != x)
        return bad(opt, s, "expected a number");
    if (!isfinite(x))
        return bad(opt, s, "too large (not a finite number)");
    *out = x;
    return 0;
}

int cmd_train(int argc, char **argv) {
    enum {
        O_MODEL = 256,
        O_DATA,
        O_BATCH,
        O_EPOCHS,
        O_MAXSTEPS,
        O_LR,
        O_SCHED,
        O_LRMIN,
        O_GAMMA,
        O_DECAY,
        O_T0,
        O_WARMUP,
        O_MOM,
        O_NESTEROV,
        O_WD,
        O_OPTIM,
        O_QUANT,
        O_QMIN,
        O_QMIN_OLD,
        O_SEED,
        O_THREADS,
        O_DEVICE,
        O_OUT,
        O_QUIET,
    };
    static const struct option opts[] = {
        {"model", required_argument, NULL, O_MODEL},
        {"data", required_argument, NULL, O_DATA},
        {"batch", required_argument, NULL, O_BATCH},
        {"epochs", required_argument, NULL, O_EPOCHS},
        {"max-steps", required_argument, NULL, O_MAXSTEPS},
        {"lr", required_argument, NULL, O_LR},
        {"schedule", required_argument, NULL, O_SCHED},
        {"lr-min", required_argument, NULL, O_LRMIN},
        {"gamma", required_argument, NULL, O_GAMMA},
        {"decay-epochs", required_argument, NULL, O_DECAY},
        {"t0", required_argument, NULL, O_T0},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"momentum", required_argument, NULL, O_MOM},
        {"nesterov", no_argument, NULL, O_NESTEROV},
        {"wd", required_argument, NULL, O_WD},
        {"optim", required_argument, NULL, O_OPTIM},
        {"quant", required_argument, NULL, O_QUANT},
        {"quant-min-numel", required_argument, NULL, O_QMIN},
        {"quant-min", required_argument, NULL, O_QMIN_OLD},
        {"seed", required_argument, NULL, O_SEED},
        {"threads", required_argument, NULL, O_THREADS},
        {"device", required_argument, NULL, O_DEVICE},
        {"out", required_argument, NULL, O_OUT},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* a file size limit (ulimit -f) must fail the write (EFBIG, reported), not kill us */
    signal(SIGXFSZ, SIG_IGN);
    train_config c = {
        .model = "mlp",
        .data = "fmnist",
        .quant_min_numel = TRAIN_QUANT_MIN_NUMEL,
        .batch = 128,
        .epochs = 5,
        .optim = {.lr = 0.05, .schedule = OPTIM_LR_COSINE, .momentum = 0.9},
        .decay_epochs = 1,
        .seed = 1,
        .out_tsv = "train.tsv",
        .log = stdout,
    };
    const char *optim_spec = NULL;
    int rc = 0, ch;
    size_t u;
    qsgd_err oe = {0};
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_MODEL:
            c.model = optarg;
            break;
        case O_DATA:
            c.data = optarg;
            break;
        case O_BATCH:
            if ((rc = parse_count("--batch", optarg, &c.batch)))
                return rc;
            if (c.batch == 0)
                return bad("--batch", optarg, "must be >= 1");
            break;
        case O_EPOCHS:
            rc = parse_count("--epochs", optarg, &c.epochs);
            if (!rc && c.epochs == 0)
                return bad("--epochs", optarg, "must be >= 1");
            break;
        case O_MAXSTEPS:
            rc = parse_count("--max-steps", optarg, &c.max_steps);
            break;
        case O_LR:
            rc = parse_real("--lr", optarg, &c.optim.lr);
            break;
        case O_SCHED: {
            optim_params p = c.optim;
            char spec[80];
            snprintf(spec, sizeof spec, "schedule=%.60s", optarg);
            if (optim_params_parse(spec, &p, &oe))
                return bad("--schedule", optarg, "valid: constant, step, cosine, invsqrt, invt");
            c.optim.schedule = p.schedule;
            break;
        }
        case O_LRMIN:
            rc = parse_real("--lr-min", optarg, &c.optim.lr_min);
            break;
        case O_GAMMA:
            rc = parse_real("--gamma", optarg, &c.optim.gamma);
            break;
        case O_DECAY:
            rc = parse_real("--decay-epochs", optarg, &c.decay_epochs);
            break;
        case O_T0:
            rc = parse_real("--t0", optarg, &c.optim.t0);
            break;
        case O_WARMUP:
            rc = parse_count("--warmup", optarg, &c.optim.warmup);
            break;
        case O_MOM:
            rc = parse_real("--momentum", optarg, &c.optim.momentum);
            break;
        case O_NESTEROV:
            c.optim.nesterov = 1;
            break;
        case O_WD:
            rc = parse_real("--wd", optarg, &c.optim.weight_decay);
            break;
        case O_OPTIM:
            optim_spec = optarg;
            break;
        case O_QUANT:
            c.quant = optarg;
            break;
        case O_QMIN_OLD:
            fprintf(stderr, PROG ": warning: --quant-min is deprecated, use --quant-min-numel\n");
            /* fall through */
        case O_QMIN:
            rc = parse_count("--quant-min-numel", optarg, &c.quant_min_numel);
            break;
        case O_SEED:
            rc = parse_count("--seed", optarg, &u);
            c.seed = u;
            break;
        case O_THREADS:
            rc = parse_count("--threads", optarg, &u);
            if (!rc && (u < 1 || u > 1024))
                return bad("--threads", optarg, "expected 1..1024");
            c.threads = (int)u;
            break;
        case O_DEVICE: {
            qsgd_err me = {0};
            if (model_device_parse(optarg, &c.device, &me) != QSGD_OK)
                return bad("--device", optarg, "expected auto, cpu or cuda");
            break;
        }
        case O_OUT:
            c.out_tsv = optarg;
            break;
        case O_QUIET:
            c.log = NULL;
            break;
        case 'h':
            usage(stdout);
            return QSGD_EXIT_OK;
        default:
            fprintf(stderr, "Try '" PROG " --help'.\n");
            return QSGD_EXIT_CONFIG;
        }
        if (rc)
            return rc;
    }
    if (optind < argc)
        return bad("argument", argv[optind], "unexpected (options only)");
    if (optim_spec && optim_params_parse(optim_spec, &c.optim, &oe))
        return bad("--optim", optim_spec, oe.msg);
    optim_params chk = c.optim; /* train_run fills cosine's total and step's step_size */
    if (chk.total_steps == 0)
        chk.total_steps = chk.warmup + 1;
    if (chk.step_size == 0)
        chk.step_size = 1;
    if (optim_params_check(&chk, &oe))
        return bad("optimizer", optim_spec ? optim_spec : "options", oe.msg);
    /* every spec parsed before any work (train_run checks again, for its other callers) */
    model_spec ms;
    qsgd_err me = {0};
    if (model_spec_parse(c.model, &ms, &me) != QSGD_OK)
        return bad("--model", c.model, me.msg);
    if (c.quant && *c.quant && strcmp(c.quant, "none") != 0) {
        qsgd_err qe = {0};
        quant *q = quant_alloc_spec(c.quant, 1, 1, &qe);
        if (!q)
            return bad("--quant", c.quant, qe.msg);
        quant_free(q);
    }

    /* Parent directory of the output. */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", c.out_tsv);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (qsgd_mkdir_p(dir) != 0) {
            fprintf(stderr, PROG ": cannot create directory %s: %s\n", dir, strerror(errno));
            return QSGD_EXIT_IO;
        }
    }
    char prov[4600];
    snprintf(prov, sizeof prov, "qsgdsim %s (git %s)\ncommand: %s", exp_version(), exp_git(),
             exp_command_line());
    c.provenance = prov;

    train_result r;
    qsgd_err err = {0};
    int trc = train_run(&c, &r, &err);
    if (trc == QSGD_EDIVERGED) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        fprintf(stderr, PROG ": the epochs before it are kept in %s (last line: the status)\n",
                c.out_tsv);
        return QSGD_EXIT_DIVERGED;
    }
    if (trc) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        return qsgd_status_exit(trc);
    }
    if (c.log) {
        printf("done: %zu steps in %.1f s (training only), final test loss %.4f", r.steps,
               r.seconds, r.last.test_loss);
        if (r.last.test_acc == r.last.test_acc)
            printf(", test accuracy %.2f%%", 100.0 * r.last.test_acc);
        printf("; wrote %s\n", c.out_tsv);
    }
    return QSGD_EXIT_OK;
}
