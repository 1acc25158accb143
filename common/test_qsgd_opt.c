/* test_qsgd_opt.c — the option schema (qsgd_opt.h) on a table of its own: every kind, range
 * ends, aliases, enum aliases, duplicates, unknown keys, describe (hidden and negated rows,
 * truncation), usage and help. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qsgd_opt.h"

typedef struct demo {
    unsigned n;
    size_t size;
    double rate;
    int mode;
    int no_flag;
    unsigned hidden;
} demo;

static const qsgd_opt_choice modes[] = {{"fast", 0}, {"slow", 1}, {"lazy", 1}, {NULL, 0}};
static const qsgd_opt table[] = {
    {.name = "n",
     .aliases = "count|k",
     .kind = QSGD_OPT_UINT,
     .offset = offsetof(demo, n),
     .min = 1,
     .max = 100,
     .def = "5",
     .meta = "N",
     .help = "a count"},
    {.name = "size",
     .kind = QSGD_OPT_SIZE,
     .offset = offsetof(demo, size),
     .max = SIZE_MAX,
     .meta = "BYTES",
     .help = "a size"},
    {.name = "rate",
     .kind = QSGD_OPT_DOUBLE,
     .offset = offsetof(demo, rate),
     .dmin = 0,
     .dmax = 1,
     .def = "0.5",
     .meta = "R",
     .help = "a rate"},
    {.name = "mode",
     .kind = QSGD_OPT_ENUM,
     .offset = offsetof(demo, mode),
     .choices = modes,
     .def = "fast",
     .help = "a mode"},
    {.name = "flag",
     .kind = QSGD_OPT_BOOL,
     .offset = offsetof(demo, no_flag),
     .def = "1",
     .help = "a flag",
     .flags = QSGD_OPT_NEGATED},
    {.name = "h",
     .kind = QSGD_OPT_UINT,
     .offset = offsetof(demo, hidden),
     .max = 9,
     .help = "a shorthand",
     .flags = QSGD_OPT_HIDDEN},
    {.name = NULL},
};

static int parse(const char *s, demo *d, uint64_t *given, char *err) {
    memset(d, 0, sizeof *d);
    CU_ASSERT_EQUAL_FATAL(qsgd_opt_defaults(table, d, err, 256), 0);
    return qsgd_opt_parse(table, "demo", s, d, given, err, 256);
}

static void test_parse_good(void) {
    demo d;
    char err[256];
    uint64_t g;
    CU_ASSERT_EQUAL(parse(NULL, &d, &g, err), 0);
    CU_ASSERT(d.n == 5 && d.size == 0 && d.rate == 0.5 && d.mode == 0 && d.no_flag == 0 && g == 0);
    CU_ASSERT_EQUAL(
        parse("k=100,size=18446744073709551615,rate=1,mode=lazy,flag=0,h=9", &d, &g, err), 0);
    CU_ASSERT(d.n == 100 && d.size == SIZE_MAX && d.rate == 1 && d.mode == 1 && d.no_flag == 1 &&
              d.hidden == 9);
    CU_ASSERT_EQUAL(g, 0x3f);
    CU_ASSERT_EQUAL(parse("count=1,,mode=slow,", &d, &g, err), 0); /* empty elements skipped */
    CU_ASSERT(d.n == 1 && d.mode == 1 && g == (1u | 8u));
    CU_ASSERT(qsgd_opt_find(table, "k") == &table[0] && qsgd_opt_find(table, "co") == NULL);
    CU_ASSERT_EQUAL(qsgd_opt_count(table), 6);
}

static void test_parse_bad(void) {
    static const struct {
        const char *spec, *words[4];
    } bad[] = {
        {"nope=1", {"demo", "unknown option 'nope'", "n=N, size=BYTES", "mode=fast|slow"}},
        {"n", {"demo", "'n' is not key=value", "options:", NULL}},
        {"n=0", {"option n", "'0'", "[1, 100]", NULL}},
        {"n=101", {"option n", "'101'", "[1, 100]", NULL}},
        {"k=-1", {"option k", "'-1'", NULL}},
        {"n=3x", {"'3x'", NULL}},
        {"n=", {"option n", NULL}},
        {"size=18446744073709551616", {"option size", NULL}},
        {"rate=1.5", {"option rate", "'1.5'", "[0, 1]", NULL}},
        {"rate=nan", {"option rate", NULL}},
        {"mode=medium", {"'medium'", "valid: fast, slow", NULL}},
        {"flag=2", {"option flag", "[0, 1]", NULL}},
        {"n=3,n=4", {"demo", "n given twice", NULL}},
        {"n=3,count=4", {"n given twice (as count)", NULL}},
        {"mode=slow,mode=lazy", {"mode given twice", NULL}},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        demo d;
        char err[256] = "";
        int rc = parse(bad[k].spec, &d, NULL, err);
        int ok = rc == -1;
        for (int w = 0; w < 4 && bad[k].words[w]; w++)
            ok = ok && strstr(err, bad[k].words[w]) != NULL;
        if (!ok)
            fprintf(stderr, "\n  '%s': rc %d, message '%s'\n", bad[k].spec, rc, err);
        CU_ASSERT(ok);
    }
}

/* qsgd_opt_parse_err: the same message, EINVAL, and where = the key as written plus '='. */
static void test_parse_where(void) {
    static const struct {
        const char *spec, *where;
    } cases[] = {
        {"nope=1", "nope="},      {"n=0", "n="},
        {"n=5,k=-1", "k="},       {"rate=1.5", "rate="},
        {"mode=medium", "mode="}, {"n=3,count=4", "count="},
        {"n=5,size=", "size="},   {"n", ""},
        {"n=5,flag", ""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        demo d;
        char err[256] = "", text[1000];
        qsgd_err e = {0};
        snprintf(e.where, sizeof e.where, "stale");
        CU_ASSERT_EQUAL(qsgd_opt_defaults(table, &d, err, sizeof err), 0);
        CU_ASSERT_EQUAL(qsgd_opt_parse_err(table, "demo", cases[k].spec, &d, NULL, &e),
                        QSGD_EINVAL);
        CU_ASSERT_EQUAL(e.code, QSGD_EINVAL);
        CU_ASSERT_STRING_EQUAL(e.where, cases[k].where);
        if (strcmp(e.where, cases[k].where))
            fprintf(stderr, "\n  '%s': where '%s', want '%s'\n", cases[k].spec, e.where,
                    cases[k].where);
        CU_ASSERT_EQUAL(qsgd_opt_parse(table, "demo", cases[k].spec, &d, NULL, err, sizeof err),
                        -1);
        CU_ASSERT_STRING_EQUAL(e.msg, err); /* the message is qsgd_opt_parse's */
        qsgd_err_text(&e, text, sizeof text);
        if (*cases[k].where)
            CU_ASSERT(strncmp(text, cases[k].where, strlen(cases[k].where)) == 0);
    }
    demo d;
    uint64_t given = 0;
    qsgd_err e = {0};
    CU_ASSERT_EQUAL(qsgd_opt_parse_err(table, "demo", "n=7,rate=0.25", &d, &given, &e), QSGD_OK);
    CU_ASSERT(d.n == 7 && d.rate == 0.25 && given == 5 && e.code == QSGD_OK && !e.where[0]);
}

static void test_describe_usage(void) {
    demo d;
    char err[256], buf[256];
    CU_ASSERT_EQUAL_FATAL(parse("n=7,mode=lazy,flag=0,h=3,size=12", &d, NULL, err), 0);
    CU_ASSERT_EQUAL(qsgd_opt_describe(table, "demo", &d, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "demo:n=7,size=12,rate=0.5,mode=slow,flag=0");
    /* the description parses back to the same struct (hidden rows aside) */
    demo e;
    CU_ASSERT_EQUAL(parse(strchr(buf, ':') + 1, &e, NULL, err), 0);
    e.hidden = d.hidden;
    CU_ASSERT(memcmp(&d, &e, sizeof d) == 0);
    /* truncation: -1 and a NUL-terminated prefix */
    size_t full = strlen(buf);
    for (size_t len = 1; len <= full; len++) {
        char small[256];
        memset(small, 'x', sizeof small);
        CU_ASSERT_EQUAL(qsgd_opt_describe(table, "demo", &d, small, len), -1);
        CU_ASSERT(memchr(small, 0, len) != NULL && small[len] == 'x');
    }
    CU_ASSERT_EQUAL(qsgd_opt_describe(table, "demo", &d, buf, full + 1), 0);
    CU_ASSERT_EQUAL(qsgd_opt_describe(NULL, "plain", &d, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "plain");

    CU_ASSERT_EQUAL(qsgd_opt_usage(table, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "n=N, size=BYTES, rate=R, mode=fast|slow, flag=1|0, h=N");
    CU_ASSERT_EQUAL(qsgd_opt_usage(NULL, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "none");
    CU_ASSERT_EQUAL(qsgd_opt_usage(table, buf, 10), -1);

    char *mem = NULL;
    size_t ml = 0;
    FILE *f = open_memstream(&mem, &ml);
    CU_ASSERT_FATAL(f != NULL);
    qsgd_opt_print_help(f, table, "  ");
    fclose(f);
    CU_ASSERT(strstr(mem, "  n (count|k)") && strstr(mem, "integer 1..100, default 5: a count") &&
              strstr(mem, "fast|slow, default fast: a mode"));
    free(mem);
}

/* The list and text kinds (models' hidden=256x128 and name=resnet50). */
typedef struct lists {
    size_t sizes[4];
    int nsizes;
    char name[8];
} lists;

static int check_name(const char *val, char *valid, size_t len) {
    if (val && (!strcmp(val, "abc") || !strcmp(val, "abcdefg")))
        return 0;
    snprintf(valid, len, "abc, abcdefg");
    return -1;
}

static const qsgd_opt ltable[] = {
    {.name = "sizes",
     .kind = QSGD_OPT_SIZES,
     .offset = offsetof(lists, sizes),
     .count_offset = offsetof(lists, nsizes),
     .len = 4,
     .min = 1,
     .max = 1000,
     .def = "2x3",
     .help = "widths"},
    {.name = "name",
     .kind = QSGD_OPT_STRING,
     .offset = offsetof(lists, name),
     .len = sizeof(((lists *)0)->name),
     .check = check_name,
     .meta = "NET",
     .help = "a name"},
    {.name = NULL},
};

static int lparse(const char *s, lists *d, char *err) {
    memset(d, 0x55, sizeof *d);
    CU_ASSERT_EQUAL_FATAL(qsgd_opt_defaults(ltable, d, err, 256), 0);
    return qsgd_opt_parse(ltable, "lists", s, d, NULL, err, 256);
}

static void test_sizes_string(void) {
    lists d;
    char err[256], buf[256];
    CU_ASSERT_EQUAL(lparse(NULL, &d, err), 0);
    CU_ASSERT(d.nsizes == 2 && d.sizes[0] == 2 && d.sizes[1] == 3 && d.sizes[2] == 0 &&
              d.name[0] == 0 && d.name[7] == 0);
    CU_ASSERT_EQUAL(qsgd_opt_describe(ltable, "l", &d, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "l:sizes=2x3,name=");
    CU_ASSERT_EQUAL(lparse("sizes=1000X1x7x9,name=abcdefg", &d, err), 0);
    CU_ASSERT(d.nsizes == 4 && d.sizes[0] == 1000 && d.sizes[3] == 9);
    CU_ASSERT_STRING_EQUAL(d.name, "abcdefg");
    CU_ASSERT_EQUAL(qsgd_opt_describe(ltable, "l", &d, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "l:sizes=1000x1x7x9,name=abcdefg");
    CU_ASSERT_EQUAL(lparse("sizes=5", &d, err), 0);
    CU_ASSERT(d.nsizes == 1 && d.sizes[0] == 5);
    static const struct {
        const char *spec, *words[3];
    } bad[] = {
        {"sizes=", {"option sizes", "1 to 4", "[1, 1000]"}},
        {"sizes=4x", {"option sizes", "'4x'", NULL}},
        {"sizes=x4", {"'x4'", NULL}},
        {"sizes=4xx5", {"'4xx5'", NULL}},
        {"sizes=4y5", {"'4y5'", NULL}},
        {"sizes=0x5", {"'0x5'", NULL}},
        {"sizes=1001", {"'1001'", NULL}},
        {"sizes=-1", {"'-1'", NULL}},
        {"sizes=1x2x3x4x5", {"'1x2x3x4x5'", "1 to 4", NULL}},
        {"name=", {"option name", "1 to 7", NULL}},
        {"name=abcdefgh", {"'abcdefgh'", "1 to 7", NULL}},
        {"name=xyz", {"unknown name 'xyz'", "valid: abc, abcdefg", NULL}},
        {"name=abc,name=abc", {"lists", "name given twice", NULL}},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char e[256] = "";
        int rc = lparse(bad[k].spec, &d, e);
        int ok = rc == -1;
        for (int w = 0; w < 3 && bad[k].words[w]; w++)
            ok = ok && strstr(e, bad[k].words[w]) != NULL;
        if (!ok)
            fprintf(stderr, "\n  '%s': rc %d, message '%s'\n", bad[k].spec, rc, e);
        CU_ASSERT(ok);
    }
    CU_ASSERT_EQUAL(qsgd_opt_usage(ltable, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "sizes=AxB..., name=NET");
    char *mem = NULL;
    size_t ml = 0;
    FILE *f = open_memstream(&mem, &ml);
    CU_ASSERT_FATAL(f != NULL);
    qsgd_opt_print_help(f, ltable, "  ");
    fclose(f);
    CU_ASSERT(strstr(mem, "1 to 4 of 1..1000, x-separated, default 2x3: widths") &&
              strstr(mem, "abc, abcdefg, default \"\": a name"));
    free(mem);
}

/* Counts written with an exponent (data sizes "n=6e4") and quantities with units
 * (network "bw=10Gbps"), described through a shown hook. */
typedef struct qty {
    size_t n;
    unsigned k;
    double bw, lat;
} qty;

static const qsgd_opt_unit bw_units[] = {{"bps", 1, 8}, {"Gbps", 1e9, 8}, {"Bps", 1, 1}, {NULL}};
static const qsgd_opt_units bw_u = {"Bps", "bps, Gbps, Bps", bw_units};
static const qsgd_opt_unit t_units[] = {{"s", 1, 1}, {"us", 1, 1e6}, {NULL}};
static const qsgd_opt_units t_u = {"s", "s, us", t_units};

static int has_bw(const void *p) {
    return ((const qty *)p)->bw > 0;
}

static const qsgd_opt qtable[] = {
    {.name = "n",
     .kind = QSGD_OPT_SIZE,
     .offset = offsetof(qty, n),
     .max = 1000000000000000ull,
     .flags = QSGD_OPT_EXP,
     .help = "rows"},
    {.name = "k", .kind = QSGD_OPT_UINT, .offset = offsetof(qty, k), .max = 70000, .help = "k"},
    {.name = "bw",
     .kind = QSGD_OPT_UNIT,
     .offset = offsetof(qty, bw),
     .units = &bw_u,
     .dmax = HUGE_VAL,
     .meta = "BW",
     .help = "bandwidth"},
    {.name = "lat",
     .kind = QSGD_OPT_UNIT,
     .offset = offsetof(qty, lat),
     .units = &t_u,
     .dmax = 1,
     .shown = has_bw,
     .flags = QSGD_OPT_DERIVED,
     .help = "latency"},
    {.name = NULL},
};

static int qparse(const char *s, qty *d, char *err) {
    memset(d, 0, sizeof *d);
    return qsgd_opt_parse(qtable, "qty", s, d, NULL, err, 256);
}

static void test_exp_units(void) {
    qty d;
    char err[256], buf[256];
    static const struct {
        const char *val;
        unsigned long long n;
    } good[] = {
        {"6e4", 60000},  {"60000", 60000},
        {"6E4", 60000},  {"1.5e3", 1500},
        {"0.05e2", 5},   {"60000e-1", 6000},
        {"6e+4", 60000}, {"0", 0},
        {"0e99", 0},     {"1e15", 1000000000000000ull},
        {"12.000", 12},  {"7.", 7},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "n=%s", good[i].val);
        int rc = qparse(spec, &d, err);
        if (rc || d.n != good[i].n)
            fprintf(stderr, "\n  '%s': rc %d, n %zu, message '%s'\n", spec, rc, d.n, err);
        CU_ASSERT(rc == 0 && d.n == good[i].n);
    }
    static const char *const bad[] = {
        "n=6.5e0", "n=1e16", "n=1e-1", "n=-6e4", "n=6e",
        "n=e4",    "n=6e4x", "n=0x10", "n=.",    "n=1.2.3",
        "n=1e99",  "n=inf",  "n=nan",  "k=6e4",  "n=123456789012345678901234567890e-10"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = qparse(bad[i], &d, err);
        int ok = rc == -1 && strstr(err, strchr(bad[i], '=') + 1) &&
                 (bad[i][2] == '-' ||
                  strstr(err, bad[i][0] == 'k' ? "[0, 70000]" : "[0, 1000000000000000]"));
        if (!ok)
            fprintf(stderr, "\n  '%s': rc %d, message '%s'\n", bad[i], rc, err);
        CU_ASSERT(ok);
    }
    /* units: value = number * mul / div, described in the canonical unit */
    CU_ASSERT_EQUAL(qparse("bw=10Gbps,lat=5us", &d, err), 0);
    CU_ASSERT(d.bw == 1.25e9 && d.lat == 5e-6);
    CU_ASSERT_EQUAL(qsgd_opt_describe(qtable, "q", &d, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "q:n=0,k=0,bw=1250000000Bps,lat=5e-06s");
    CU_ASSERT_EQUAL(qparse("bw=0.1Bps", &d, err), 0);
    CU_ASSERT_EQUAL(qsgd_opt_describe(qtable, "q", &d, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "q:n=0,k=0,bw=0.1Bps,lat=0s");
    CU_ASSERT_EQUAL(qparse("lat=1s", &d, err), 0); /* no bandwidth: lat is not shown */
    CU_ASSERT_EQUAL(qsgd_opt_describe(qtable, "q", &d, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "q:n=0,k=0,bw=0Bps");
    static const struct {
        const char *spec, *words[3];
    } ubad[] = {
        {"bw=10", {"option bw", "'10' needs a unit", "bps, Gbps, Bps"}},
        {"bw=10Gbit", {"option bw", "unknown unit 'Gbit'", "bps, Gbps, Bps"}},
        {"bw=Gbps", {"option bw", "'Gbps' is not a number", NULL}},
        {"bw=-1Gbps", {"option bw", "'-1Gbps'", "[0, inf] Bps"}},
        {"lat=2s", {"option lat", "'2s'", "[0, 1] s"}},
        {"bw=1e400Bps", {"option bw", NULL}},
    };
    for (size_t k = 0; k < sizeof ubad / sizeof *ubad; k++) {
        char e[256] = "";
        int rc = qparse(ubad[k].spec, &d, e);
        int ok = rc == -1;
        for (int w = 0; w < 3 && ubad[k].words[w]; w++)
            ok = ok && strstr(e, ubad[k].words[w]) != NULL;
        if (!ok)
            fprintf(stderr, "\n  '%s': rc %d, message '%s'\n", ubad[k].spec, rc, e);
        CU_ASSERT(ok);
    }
    char num[32];
    CU_ASSERT_STRING_EQUAL(qsgd_opt_fmt_num(1e-5, num), "1e-05");
    CU_ASSERT_STRING_EQUAL(qsgd_opt_fmt_num(100e9, num), "100000000000");
    CU_ASSERT(strtod(qsgd_opt_fmt_num(3.3e9 / 7, num), NULL) == 3.3e9 / 7);
    CU_ASSERT_STRING_EQUAL(qsgd_opt_fmt_num(0.1, num), "0.1");
    CU_ASSERT_EQUAL(qsgd_opt_usage(qtable, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "n=N, k=N, bw=BW, lat=X");
    char *mem = NULL;
    size_t ml = 0;
    FILE *f = open_memstream(&mem, &ml);
    CU_ASSERT_FATAL(f != NULL);
    qsgd_opt_print_help(f, qtable, "  ");
    fclose(f);
    CU_ASSERT(strstr(mem, "integer 0..1000000000000000 (6e4 ok), default 0: rows") &&
              strstr(mem, "0..inf Bps (units bps, Gbps, Bps), default 0: bandwidth") &&
              strstr(mem, "default derived: latency"));
    free(mem);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite s = CU_add_suite("qsgd_opt", NULL, NULL);
    CU_add_test(s, "parse: kinds, ranges, aliases, defaults, given", test_parse_good);
    CU_add_test(s, "parse errors name the key, value and range; duplicates", test_parse_bad);
    CU_add_test(s, "parse_err: message, EINVAL, where = the key", test_parse_where);
    CU_add_test(s, "describe (hidden, negated, truncation), usage, help", test_describe_usage);
    CU_add_test(s, "sizes and string kinds: parse, errors, check hook, describe",
                test_sizes_string);
    CU_add_test(s, "counts with an exponent, quantities with units, shown hook", test_exp_units);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
