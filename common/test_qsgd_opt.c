/* test_qsgd_opt.c — the option schema (qsgd_opt.h) on a table of its own: every kind, range
 * ends, aliases, enum aliases, duplicates, unknown keys, describe (hidden and negated rows,
 * truncation), usage and help. */
#include <CUnit/Basic.h>
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

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite s = CU_add_suite("qsgd_opt", NULL, NULL);
    CU_add_test(s, "parse: kinds, ranges, aliases, defaults, given", test_parse_good);
    CU_add_test(s, "parse errors name the key, value and range; duplicates", test_parse_bad);
    CU_add_test(s, "describe (hidden, negated, truncation), usage, help", test_describe_usage);
    CU_add_test(s, "sizes and string kinds: parse, errors, check hook, describe",
                test_sizes_string);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
