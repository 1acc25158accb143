/* test_sim_settings.c — the run-settings table (sim/sim_settings.def): the rows are
 * consistent (unique keys, options, abbreviations; every default parses), the defaults and
 * the config dump are the ones written by hand before the table (byte for byte), a parse
 * error names its setting (sim_config_parse_at), and the range checks of the rows. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static void test_rows(void) {
    for (int i = 0; i < SIM_NSETTINGS; i++) {
        const sim_setting *a = sim_setting_get(i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        CU_ASSERT(a->name && a->option && (a->help || a->models) && a->def);
        CU_ASSERT(a->usage || a->kind == SIM_SK_ENUM || a->models);
        CU_ASSERT((a->meta == NULL) == (a->kind == SIM_SK_FLAG));
        if (i < SIM_NKEYS)
            CU_ASSERT(a->abbrev && sim_setting_find(a->name, 0) == i);
        for (int j = 0; j < i; j++) {
            const sim_setting *b = sim_setting_get(j);
            CU_ASSERT(strcmp(a->name, b->name) != 0);
            if (i < SIM_NKEYS && j < SIM_NKEYS)
                CU_ASSERT(strcmp(a->abbrev, b->abbrev) != 0);
            /* options are unique per program (launcher, trainer) */
            if ((a->flags & SIM_SF_LAUNCHER) == (b->flags & SIM_SF_LAUNCHER))
                CU_ASSERT(strcmp(a->option, b->option) != 0);
        }
        if (!(a->flags & SIM_SF_LAUNCHER) && *a->def) {
            sim_config c;
            char err[256] = "";
            sim_config_default(&c);
            CU_ASSERT(sim_setting_parse(i, a->def, &c, err, sizeof err) == 0);
        }
        CU_ASSERT(sim_setting_check(i, a->def, a->kind == SIM_SK_STRING ? NAN : atof(a->def),
                                    (char[256]){0}, 256) == 0 ||
                  (a->flags & SIM_SF_OPTIONAL));
    }
    CU_ASSERT_PTR_NULL(sim_setting_get(SIM_NSETTINGS));
    CU_ASSERT_PTR_NULL(sim_setting_get(-1));
}

/* The dump of sim_config_write, as sim_core.c wrote it by hand before the table. */
static const char default_dump[] = "# model = mlp:hidden=256x128\n"
                                   "# data = fmnist\n"
                                   "# quant = fp32\n"
                                   "# quant_min_numel = 10000\n"
                                   "# optim = sgd:lr=0.05,momentum=0.9\n"
                                   "# exchange = allgather\n"
                                   "# batch = 64\n"
                                   "# epochs = 1\n"
                                   "# max_steps = 0\n"
                                   "# seed = 1\n"
                                   "# compute = measured:1\n"
                                   "# codec = measured:1\n"
                                   "# eval_every = 0\n"
                                   "# target_accuracy = 0\n"
                                   "# threads = 1\n"
                                   "# device = auto\n"
                                   "# overlap = 0\n"
                                   "# shared_decode = 1\n";

static const char other_dump[] = "model = logreg\n"
                                 "data = synth-logreg:n=64\n"
                                 "quant = fp32\n"
                                 "quant_min_numel = 0\n"
                                 "optim = sgd:lr=0.1\n"
                                 "exchange = allreduce\n"
                                 "allreduce = mpi\n"
                                 "allreduce_sum = fp32\n"
                                 "batch = 8\n"
                                 "epochs = 0.5\n"
                                 "max_steps = 12\n"
                                 "seed = 18446744073709551615\n"
                                 "compute = flops:V100 (1.57e+13 FLOP/s peak x 0.25 sustained)\n"
                                 "codec = device:V100 (2.25e+11 B/s)\n"
                                 "eval_every = 3\n"
                                 "target_accuracy = 0.75\n"
                                 "threads = 256\n"
                                 "device = cpu\n"
                                 "overlap = 0\n"
                                 "shared_decode = 0\n";

static void dump(const sim_config *c, const char *prefix, char *buf, size_t len) {
    FILE *f = fmemopen(buf, len, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    sim_config_write(f, c, prefix);
    fclose(f);
}

static int parse(sim_config *c, int *setting, char *err, size_t len, ...) {
    char *argv[40] = {"trainer"};
    int argc = 1;
    va_list ap;
    va_start(ap, len);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    int help = 0;
    sim_config_default(c);
    return sim_config_parse_at(argc, argv, c, &help, setting, err, len);
}

static void test_defaults_and_dump(void) {
    sim_config c;
    char buf[4096], err[600] = "";
    int setting = 99;
    sim_config_default(&c);
    CU_ASSERT(c.batch == 64 && c.epochs == 1 && c.seed == 1 && c.quant_min_numel == 10000);
    CU_ASSERT(c.threads == 1 && c.shared_decode == 1 && c.overlap == 0 && c.quiet == 0);
    CU_ASSERT(c.exchange == SIM_EX_ALLGATHER && c.allreduce_mpi == 0);
    CU_ASSERT(c.compute == SIM_COMPUTE_MEASURED && c.compute_factor == 1.0);
    CU_ASSERT(c.codec == SIM_CODEC_MEASURED && c.codec_factor == 1.0 && c.device == NULL);
    CU_ASSERT(c.backend == MODEL_DEVICE_AUTO && c.out_dir[0] == '\0');
    dump(&c, "# ", buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, default_dump);
    CU_ASSERT(parse(&c, &setting, err, sizeof err, "--model", "logreg", "--data",
                    "synth-logreg:n=64", "--quant-min-numel", "0", "--optim", "sgd:lr=0.1",
                    "--exchange", "allreduce", "--allreduce", "mpi", "--batch", "8", "--epochs",
                    "0.5", "--max-steps", "12", "--seed", "18446744073709551615", "--compute",
                    "flops:V100", "--device-eff", "0.25", "--codec", "device:V100", "--eval-every",
                    "3", "--target-accuracy", "0.75", "--threads", "256", "--device", "cpu",
                    "--no-shared-decode", "--quiet", "--out", "/x", NULL) == 0);
    CU_ASSERT(setting == -1);
    dump(&c, "", buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, other_dump);
    CU_ASSERT(c.quiet == 1 && strcmp(c.out_dir, "/x") == 0);
    CU_ASSERT(fabs(c.compute_factor - 0.5) < 1e-15);
    /* the overlap flag and its exchange */
    CU_ASSERT(parse(&c, &setting, err, sizeof err, "--overlap", NULL) == 0 && c.overlap == 1);
}

/* Each bad command line fails naming its setting. */
static void test_parse_errors(void) {
    static const struct {
        const char *a[5];
        int setting;
        const char *msg;
    } bad[] = {
        {{"--batch", "0"}, SIM_SET_BATCH, "--batch: '0' must be >= 1"},
        {{"--batch", "x"}, SIM_SET_BATCH, "--batch: 'x' is not a non-negative integer"},
        {{"--seed", "99999999999999999999"}, SIM_SET_SEEDS, "too large"},
        {{"--threads", "257"}, SIM_SET_THREADS, "--threads: '257' must be in 1..256"},
        {{"--epochs", "0"}, SIM_SET_EPOCHS, "--epochs: '0' must be > 0"},
        {{"--epochs", "inf"}, SIM_SET_EPOCHS, "not a finite double"},
        {{"--target-accuracy", "1.5"}, SIM_SET_TARGET_ACCURACY, "must be in [0, 1]"},
        {{"--device-eff", "0"}, SIM_SET_DEVICE_EFF, "must be in (0, 1]"},
        {{"--device-eff", "0.5"}, SIM_SET_DEVICE_EFF, "needs --compute flops:DEVICE"},
        {{"--exchange", "ring"}, SIM_SET_EXCHANGE, "unknown 'ring' (valid: allgather, allreduce"},
        {{"--allreduce", "tree"}, SIM_SET_ALLREDUCE_IMPL, "(valid: ring, mpi)"},
        {{"--compute", "flops:K81"}, SIM_SET_COMPUTE, "unknown device 'K81' (valid: K80"},
        {{"--compute", "flops:K80", "--codec", "device:V100"}, SIM_SET_CODEC, "differs from"},
        {{"--device", "gpu"}, SIM_SET_DEVICE, "auto, cpu, cuda"},
        {{"--quant", "qsgd:bits=1"}, SIM_SET_QUANTIZER, "--quant:"},
        {{"--model", "mlpx"}, SIM_SET_MODEL, "--model:"},
        {{"--optim", "adam"}, SIM_SET_OPTIMIZER, "--optim:"},
        {{"--exchange", "ps", "--overlap"}, SIM_SET_OVERLAP, "--overlap is implemented for"},
        {{"--quant", "onebit", "--exchange", "allreduce"},
         SIM_SET_EXCHANGE,
         "error-feedback state"},
        {{"--compute", "throughput:K80", "--model", "mlp"}, SIM_SET_COMPUTE, "--compute:"},
        {{"--compute", "throughput:K80", "--device-eff", "0.5"},
         SIM_SET_DEVICE_EFF,
         "measured rates"},
        {{"--bogus"}, -1, "unknown or incomplete option '--bogus'"},
        {{"extra"}, -1, "unexpected argument 'extra'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sim_config c;
        char err[600] = "";
        int setting = 99;
        const char *const *a = bad[i].a;
        int rc = parse(&c, &setting, err, sizeof err, a[0], a[1], a[2], a[3], a[4]);
        if (!(rc != 0 && setting == bad[i].setting && strstr(err, bad[i].msg)))
            fprintf(stderr, "  case %zu (%s): rc %d setting %d, '%s'\n", i, a[0], rc, setting, err);
        CU_ASSERT(rc != 0 && setting == bad[i].setting && strstr(err, bad[i].msg) != NULL);
    }
}

/* The experiment-file checks of the rows (values read by libconfig). */
static void test_checks(void) {
    char msg[600];
    CU_ASSERT(sim_setting_check(SIM_SET_WORKERS, "0", 0, msg, sizeof msg) != 0 &&
              strcmp(msg, "must be in 1..100000") == 0);
    CU_ASSERT(sim_setting_check(SIM_SET_WORKERS, "100000", 100000, msg, sizeof msg) == 0);
    CU_ASSERT(sim_setting_check(SIM_SET_MAX_STEPS, "-1", -1, msg, sizeof msg) != 0 &&
              strstr(msg, "negative") != NULL);
    CU_ASSERT(sim_setting_check(SIM_SET_EPOCHS, "0", 0, msg, sizeof msg) != 0);
    CU_ASSERT(sim_setting_check(SIM_SET_DEVICE_EFF, "1", 1, msg, sizeof msg) == 0);
    CU_ASSERT(sim_setting_check(SIM_SET_NETWORK, "star:link=2GbE", NAN, msg, sizeof msg) != 0 &&
              strstr(msg, "10GbE") != NULL);
    CU_ASSERT(sim_setting_check(SIM_SET_SMPI_ALLGATHER, "a b", NAN, msg, sizeof msg) != 0);
    CU_ASSERT(sim_setting_check(SIM_SET_SMPI_ALLGATHER, "NTSLR", NAN, msg, sizeof msg) == 0);
    CU_ASSERT(sim_setting_check(SIM_SET_DATA, "mnist", NAN, msg, sizeof msg) != 0 &&
              strstr(msg, "unknown data source 'mnist'") != NULL);
    CU_ASSERT(sim_setting_check(SIM_SET_CODEC, "device:K81", NAN, msg, sizeof msg) != 0);
    CU_ASSERT(sim_setting_check(SIM_SET_EXCHANGE, "stripes", NAN, msg, sizeof msg) == 0);
    char longq[300];
    memset(longq, 'q', sizeof longq - 1);
    longq[sizeof longq - 1] = '\0';
    CU_ASSERT(sim_setting_check(SIM_SET_QUANTIZER, longq, NAN, msg, sizeof msg) != 0 &&
              strstr(msg, "too long: 299 characters, at most 159") != NULL);
}

/* The compute and codec time models: the spellings, and seconds by the old formulas. */
static void test_time_models(void) {
    sim_config c;
    char err[600] = "";
    int setting = 99;
    CU_ASSERT(parse(&c, &setting, err, sizeof err, "--compute", "measured:2", "--codec",
                    "measured:0.5", NULL) == 0);
    CU_ASSERT(sim_compute_seconds(&c, 3.0, 1e9) == 6.0 && sim_codec_seconds(&c, 3.0, 1e6) == 1.5);
    CU_ASSERT(parse(&c, &setting, err, sizeof err, "--compute", "flops:V100", "--device-eff",
                    "0.25", "--codec", "device:V100", NULL) == 0);
    CU_ASSERT(sim_compute_seconds(&c, 3.0, 1e12) == 1e12 / (15.7e12 * 0.5 * (0.25 / 0.5)));
    CU_ASSERT(sim_codec_seconds(&c, 3.0, 1e9) == 1e9 / 225e9);
    CU_ASSERT(parse(&c, &setting, err, sizeof err, "--compute", "fixed:0.25", "--codec", "none",
                    NULL) == 0);
    CU_ASSERT(sim_compute_seconds(&c, 3.0, 1e12) == 0.25 && sim_codec_seconds(&c, 3.0, 1e9) == 0);
    static const char *const bad[][2] = {
        {"--compute", "flops"},      {"--compute", "measuredX"}, {"--compute", "measured:0"},
        {"--compute", "fixed:-1"},   {"--codec", "none:1"},      {"--codec", "device"},
        {"--codec", "measured:nan"}, {"--compute", "fixed:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(&c, &setting, err, sizeof err, bad[i][0], bad[i][1], NULL);
        CU_ASSERT(rc != 0 && setting == (bad[i][0][4] == 'm' ? SIM_SET_COMPUTE : SIM_SET_CODEC));
    }
    parse(&c, &setting, err, sizeof err, "--compute", "flops", NULL);
    CU_ASSERT_STRING_EQUAL(err,
                           "--compute: 'flops' (valid: measured[:FACTOR], flops:DEVICE[:FACTOR], "
                           "fixed:SECONDS, throughput:DEVICE[:FACTOR])");
    char u[200];
    sim_time_models_usage(sim_codec_models(), " | ", u, sizeof u);
    CU_ASSERT_STRING_EQUAL(u, "measured[:FACTOR] | device:DEVICE | none");
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite s = CU_add_suite("sim_settings", NULL, NULL);
    CU_add_test(s, "rows: unique names, options, abbreviations; defaults parse", test_rows);
    CU_add_test(s, "defaults and the config dump, byte for byte", test_defaults_and_dump);
    CU_add_test(s, "a parse error names its setting", test_parse_errors);
    CU_add_test(s, "experiment-file checks of the rows", test_checks);
    CU_add_test(s, "compute and codec time models", test_time_models);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
