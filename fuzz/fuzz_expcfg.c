/* fuzz_expcfg.c — libFuzzer target: the experiment-file validator exp_config_load()
 * (cli/exp_config.c, with libconfig and the trainer's spec parsers) on any text,
 * written to exp.cfg in a private temporary directory (so `@include "x"` looks there).
 * Properties: the load returns an experiment with no errors, or NULL with at least one;
 * every diagnostic line is NUL-terminated and names a file ("FILE:LINE: ..."); a loaded
 * experiment has every setting with n >= 1 non-NULL values, 1..EXP_MAX_POINTS points whose
 * value indices lie in range, distinct non-empty point directory names made of
 * [A-Za-z0-9_=-] (two points writing one directory would mix their results), an argv for
 * each point starting "qsgdsim" and NULL-terminated, and baselines and references in range. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exp_config.h"

#include "fuzz_check.h"

/* libconfig 1.5's scanner leaks a string token when a parse error follows it: the buffer of
 * a string ("strbuf_append") or the empty string "" (calloc in libconfig_yylex). Not our code:
 * known to LSan here, so that any other leak still fails the target, by hand and under CTest
 * alike (regression inputs: fuzz/corpus/expcfg/regress-libconfig-leak-*). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

#define MAX_CHECKED 4096 /* points whose directories and argv are checked */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_loaded(const exp_experiment *e) {
    for (int k = 0; k < EXP_NKEYS; k++) {
        FUZZ_CHECK(e->set[k].n >= 1 && e->set[k].v);
        for (size_t i = 0; i < e->set[k].n; i++)
            FUZZ_CHECK(e->set[k].v[i].text != NULL);
    }
    FUZZ_CHECK(e->naxes <= EXP_NKEYS);
    FUZZ_CHECK(e->npoints >= 1 && e->npoints <= EXP_MAX_POINTS && e->points);
    size_t m = e->npoints < MAX_CHECKED ? e->npoints : MAX_CHECKED;
    char **dirs = malloc(m * sizeof *dirs);
    FUZZ_CHECK(dirs);
    for (size_t p = 0; p < m; p++) {
        const exp_point *pt = &e->points[p];
        for (int k = 0; k < EXP_NKEYS; k++)
            FUZZ_CHECK(pt->vi[k] < e->set[k].n);
        FUZZ_CHECK(memchr(pt->dir, 0, sizeof pt->dir) != NULL && pt->dir[0]);
        for (const char *c = pt->dir; *c; c++)
            FUZZ_CHECK((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                       (*c >= '0' && *c <= '9') || *c == '_' || *c == '=' || *c == '-');
        dirs[p] = (char *)pt->dir;
        if (p < 64) {
            char **argv = exp_point_argv(e, pt, "/nonexistent/out");
            FUZZ_CHECK(argv && argv[0] && strcmp(argv[0], "qsgdsim") == 0);
            size_t n = 0;
            while (argv[n] && n < 10000)
                n++;
            FUZZ_CHECK(argv[n] == NULL);
            free((void *)argv);
            long b = exp_point_baseline(e, p);
            FUZZ_CHECK(b >= -1 && b < (long)e->npoints);
            const exp_reference *r = exp_point_reference(e, pt);
            FUZZ_CHECK(!r || (r >= e->refs && r < e->refs + e->nrefs));
        }
    }
    if (e->naxes > 0 && m == e->npoints) {
        qsort(dirs, m, sizeof *dirs, cmp_str);
        for (size_t p = 1; p < m; p++)
            if (strcmp(dirs[p - 1], dirs[p]) == 0) {
                fprintf(stderr, "fuzz: two points write the directory '%s'\n", dirs[p]);
                __builtin_trap();
            }
    }
    free(dirs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[64], path[96];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/fuzz_expcfg.XXXXXX", t && *t && strlen(t) < 40 ? t : "/tmp");
        FUZZ_CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/exp.cfg", dir);
    }
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f && fwrite(data, 1, size, f) == size && fclose(f) == 0);

    exp_diag d;
    memset(&d, 0, sizeof d);
    exp_experiment *e = exp_config_load(path, &d);
    FUZZ_CHECK(d.n <= d.cap || d.cap == 0);
    FUZZ_CHECK(d.nwarnings <= d.n);
    for (size_t i = 0; i < d.n; i++) {
        FUZZ_CHECK(d.line[i] != NULL);
        const char *colon = strchr(d.line[i], ':');
        if (!colon || colon == d.line[i]) {
            fprintf(stderr, "fuzz: a diagnostic names no file: '%s'\n", d.line[i]);
            __builtin_trap();
        }
    }
    if (e) {
        FUZZ_CHECK(d.nerrors == 0);
        check_loaded(e);
        exp_experiment_free(e);
    } else {
        FUZZ_CHECK(d.nerrors > 0);
    }
    exp_diag_free(&d);
    return 0;
}
