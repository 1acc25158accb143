/* test_sim_throughput.c — the compute model "throughput" (sim_core.c): simulated seconds
 * of a step for several profiles, computed here from the published numbers (TensorFlow's
 * May 2017 K80 benchmarks, written out again below, not read from the table) and the MACs
 * of the built model; the measured networks' MACs against the profiles that build them; the
 * refusal of a network without a number (the AN4 LSTM) and of a model without a network. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "sim.h"

static int parse(sim_config *c, char *err, size_t len, ...) {
    char *argv[40] = {"trainer"};
    int argc = 1;
    va_list ap;
    va_start(ap, len);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    int help = 0;
    sim_config_default(c);
    int rc = sim_config_parse(argc, argv, c, &help, err, len);
    return rc ? rc : sim_compute_resolve(c, err, len);
}

/* Forward MACs per sample of a built profile (flops_per_sample = 3 x 2 x MACs). */
static double profile_macs(const char *spec) {
    const data_shape shape = {8, 0, 0, 0, 2};
    qsgd_err e = {0};
    model *m = model_alloc_spec(spec, &shape, 1, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    double macs = m->type->flops_per_sample(m) / 6.0;
    model_free(m);
    return macs;
}

static int close_rel(double a, double b, double tol) {
    return fabs(a - b) <= tol * fabs(b);
}

/* seconds = batch x model MACs / (images/s x MACs of the measured network) */
static void test_seconds(void) {
    static const struct {
        const char *spec, *batch;
        double ips, ref_macs; /* the page's number, the measured network's MACs */
    } cases[] = {
        {"profile:name=resnet50,stride=v1", "32", 49.0, 3.858e9},
        {"profile:name=resnet152,stride=v1", "16", 19.7, 11.28e9},
        {"profile:name=alexnet-cntk", "128", 684, 0.8388e9},
        {"profile:name=vgg19", "32", 36.3, 15.47e9},
        {"profile:name=bn-inception", "32", 29.9, 5.713e9},
        {"profile:name=resnet110-cntk", "16", 49.0, 3.858e9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sim_config c;
        char err[600] = "";
        int rc = parse(&c, err, sizeof err, "--model", cases[i].spec, "--compute", "throughput:K80",
                       "--batch", cases[i].batch, NULL);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        double want =
            atof(cases[i].batch) * profile_macs(cases[i].spec) / (cases[i].ips * cases[i].ref_macs);
        double got = sim_compute_seconds(&c, 123.0, 4.5e12); /* measured time and FLOPs unused */
        if (!close_rel(got, want, 1e-12))
            printf("\n%s: %.9g s, want %.9g s\n", cases[i].spec, got, want);
        CU_ASSERT(close_rel(got, want, 1e-12));
    }
    /* the paper's ResNet-50 step on a K80 die at 32 images: 32 / 49.0 */
    sim_config c;
    char err[600] = "";
    CU_ASSERT_FATAL(parse(&c, err, sizeof err, "--model", "profile:name=resnet50,stride=v1",
                          "--compute", "throughput:K80", "--batch", "32", NULL) == 0);
    CU_ASSERT(close_rel(sim_compute_seconds(&c, 0, 0), 32.0 / 49.0, 1e-3));
    /* --compute before --model: resolved once every setting is read */
    CU_ASSERT_FATAL(parse(&c, err, sizeof err, "--compute", "throughput:K80", "--model",
                          "profile:name=vgg19", "--batch", "8", NULL) == 0);
    CU_ASSERT(close_rel(sim_compute_seconds(&c, 0, 0),
                        8.0 * profile_macs("profile:name=vgg19") / (36.3 * 15.47e9), 1e-12));
    char buf[200];
    sim_compute_models()[c.compute]->format(&c, buf, sizeof buf);
    CU_ASSERT(strstr(buf, "throughput:K80 (vgg16 36.3 img/s at batch 32") != NULL);
}

/* MODEL:DEVICE:FACTOR multiplies the modelled compute time (a sensitivity band), for the
 * throughput and the FLOPs models alike, and says so in the config line; a factor that is not
 * a number > 0 is refused with the setting. */
static void test_factor(void) {
    sim_config c;
    char err[600] = "", buf[200];
    CU_ASSERT_FATAL(parse(&c, err, sizeof err, "--model", "profile:name=resnet50,stride=v1",
                          "--compute", "throughput:K80:0.75", "--batch", "32", NULL) == 0);
    CU_ASSERT(close_rel(sim_compute_seconds(&c, 0, 0), 0.75 * 32.0 / 49.0, 1e-3));
    sim_compute_models()[c.compute]->format(&c, buf, sizeof buf);
    CU_ASSERT(strstr(buf, "throughput:K80:0.75 (resnet50 49 img/s") != NULL);
    /* FLOPs: 1.25 x the time of flops:K80 (peak x 50%), exactly */
    CU_ASSERT_FATAL(parse(&c, err, sizeof err, "--model", "profile:name=lstm-an4,frames=1",
                          "--compute", "flops:K80", "--batch", "128", NULL) == 0);
    double base = sim_compute_seconds(&c, 0, 3e12);
    CU_ASSERT_FATAL(parse(&c, err, sizeof err, "--model", "profile:name=lstm-an4,frames=1",
                          "--compute", "flops:K80:1.25", "--batch", "128", NULL) == 0);
    CU_ASSERT(close_rel(sim_compute_seconds(&c, 0, 3e12), 1.25 * base, 1e-15));
    sim_compute_models()[c.compute]->format(&c, buf, sizeof buf);
    CU_ASSERT(strstr(buf, "flops:K80:1.25 (") != NULL && strstr(buf, "time x the factor") != NULL);
    static const char *const bad[] = {"throughput:K80:0", "throughput:K80:x", "flops:K80:-1",
                                      "flops:K80:", "throughput:K80:nan"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT(parse(&c, err, sizeof err, "--model", "profile:name=resnet50", "--compute",
                        bad[i], NULL) != 0);
        CU_ASSERT(strstr(err, "--compute") != NULL && strstr(err, "factor > 0") != NULL);
    }
}

/* The table's MACs of the measured ResNets are the profiles' (v1); the K80 rows hold the
 * page's numbers. */
static void test_table(void) {
    const sim_throughput *r50 = sim_throughput_find("K80", "resnet50");
    const sim_throughput *r152 = sim_throughput_find("k80", "resnet152");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r50);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r152);
    CU_ASSERT(close_rel(r50->ref_macs, profile_macs("profile:name=resnet50,stride=v1"), 1e-3));
    CU_ASSERT(close_rel(r152->ref_macs, profile_macs("profile:name=resnet152,stride=v1"), 1e-3));
    static const struct {
        const char *net;
        double ips;
        unsigned batch;
    } k80[] = {{"alexnet", 684, 512},
               {"vgg16", 36.3, 32},
               {"resnet50", 49.0, 32},
               {"resnet152", 19.7, 32},
               {"inception-v3", 29.9, 32}};
    for (size_t i = 0; i < sizeof k80 / sizeof k80[0]; i++) {
        const sim_throughput *e = sim_throughput_find("K80", k80[i].net);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT(e->images_per_s == k80[i].ips && e->batch == k80[i].batch);
        CU_ASSERT(e->source && strstr(e->source, "TensorFlow benchmarks") != NULL);
    }
    CU_ASSERT_PTR_NULL(sim_throughput_find("K80", "lstm-an4"));
}

static void test_refusals(void) {
    sim_config c;
    char err[600] = "";
    /* the AN4 LSTM: no published number; the message names the fallback */
    CU_ASSERT(parse(&c, err, sizeof err, "--model", "profile:name=lstm-an4", "--compute",
                    "throughput:K80", NULL) != 0);
    CU_ASSERT(strstr(err, "'lstm-an4'") && strstr(err, "unknown") && strstr(err, "flops:K80"));
    /* a model that names no network */
    CU_ASSERT(parse(&c, err, sizeof err, "--model", "mlp:hidden=8", "--compute", "throughput:K80",
                    NULL) != 0);
    CU_ASSERT(strstr(err, "names no measured network") && strstr(err, "flops:K80"));
    /* a device without measurements, an unknown one */
    CU_ASSERT(parse(&c, err, sizeof err, "--compute", "throughput:H100", NULL) != 0);
    CU_ASSERT(strstr(err, "no measured throughputs for device 'H100'") != NULL);
    CU_ASSERT(parse(&c, err, sizeof err, "--compute", "throughput:Z9", NULL) != 0);
    CU_ASSERT(parse(&c, err, sizeof err, "--compute", "throughput", NULL) != 0);
    /* the experiment-file check of the value alone (default model) accepts it */
    char msg[300];
    CU_ASSERT(sim_setting_check(SIM_SET_COMPUTE, "throughput:K80", NAN, msg, sizeof msg) == 0);
    /* unresolved: NaN, never a plausible number */
    sim_config_default(&c);
    CU_ASSERT(sim_setting_parse(SIM_SET_COMPUTE, "throughput:K80", &c, msg, sizeof msg) == 0);
    CU_ASSERT(isnan(sim_compute_seconds(&c, 1.0, 1e9)));
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite s = CU_add_suite("sim_throughput", NULL, NULL);
    CU_add_test(s, "seconds from the published throughputs and the models' MACs", test_seconds);
    CU_add_test(s, "the table: the page's numbers, the ResNets' MACs", test_table);
    CU_add_test(s, "refusals: unknown network, no network, no device", test_refusals);
    CU_add_test(s, "DEVICE:FACTOR scales the modelled compute time", test_factor);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
