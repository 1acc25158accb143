/* exp_config.h — experiment files (docs/experiments.md): a libconfig file parsed into a
 * validated experiment — every setting with its values, the sweep axes (settings given as
 * lists; `pair` zips some of them into one dimension), the points (the cartesian product of
 * the dimensions) and paper reference values — plus the
 * `qsgdsim sim` command line of each point. The runner is exp_runner.h.
 *
 * Validation is complete before anything runs: unknown keys, wrong types, bad spec strings
 * (checked by the parsers the trainer uses: quant_spec_parse + quant_alloc, model_spec_parse,
 * optim_params_parse + check, net_config_parse, sim_config_parse) and impossible combinations
 * are all collected, each as "FILE:LINE: message" naming what is valid. Nothing here prints
 * or exits. */
#ifndef QSGDSIM_EXP_CONFIG_H
#define QSGDSIM_EXP_CONFIG_H

#include <stddef.h>

#include "sim.h"

/* The settings of an experiment: the SIM_SETTING rows of the run-settings table
 * (sim/sim_settings.def, sim.h), in its order; EXP_ID is row SIM_SET_ID. */
typedef enum exp_key {
#define SIM_SETTING(id, ...) EXP_##id,
#define SIM_OPTION(id, ...)
#include "sim_settings.def"
#undef SIM_SETTING
#undef SIM_OPTION
    EXP_NKEYS
} exp_key;

typedef enum exp_type { EXP_T_STRING, EXP_T_INT, EXP_T_FLOAT, EXP_T_BOOL } exp_type;

/* Static description of a setting: its row of the table (name = key in the file and column
 * of points.tsv / summary.tsv, abbrev in point directory names, def = default as text, ""
 * = not passed on unless given, help = one line). */
typedef sim_setting exp_keyinfo;

/* The type of the values of a setting in the file (from the row's kind). */
exp_type exp_key_type(exp_key k);
const exp_keyinfo *exp_key_info(exp_key k);
/* The key named `name`, or -1. */
int exp_key_find(const char *name);

/* One value of a setting. */
typedef struct exp_value {
    char *text;  /* canonical text: a spec string, "%lld", "%.15g", "true"/"false" */
    double num;  /* numbers and booleans (0/1); NaN for strings */
    int line;    /* line in the file (0 = a default) */
    char *canon; /* what references compare, computed once when the file has references:
                    a quantizer's built description, a model's parsed spec; NULL: text */
} exp_value;

typedef struct exp_setting {
    int given;    /* set in the file */
    int swept;    /* given as a list (libconfig list or array, or a quantizer group
                     with list members): a sweep axis, even with one value */
    int line;     /* line of the setting (0 = default) */
    size_t n;     /* number of values (>= 1) */
    exp_value *v; /* [n] */
} exp_setting;

/* One point: the value index of every setting (0 for settings that are not swept). */
typedef struct exp_point {
    size_t vi[EXP_NKEYS];
    char dir[200]; /* subdirectory name from the swept values, e.g. q=fp32_K=4 */
} exp_point;

/* A paper number to print beside matching points: every given setting must equal the
 * point's value (quantizer and model specs compared as parsed, numbers as numbers). */
typedef struct exp_reference {
    int has[EXP_NKEYS];
    exp_value v[EXP_NKEYS]; /* v[k] valid when has[k] */
    double speedup;         /* NaN if not given */
    double accuracy;        /* NaN if not given */
    char *source;           /* "" if not given */
    char *group;            /* `group = "projected"`: references are summarised per group
                               (residual statistics), e.g. the paper's measured rows apart
                               from its projections; "" if not given */
    int line;
    size_t matches; /* points it matches */
} exp_reference;

typedef struct exp_experiment {
    char path[1024];   /* the file as given */
    char name[128];    /* `name`, default the file's stem */
    char *description; /* "" if not given */
    exp_setting set[EXP_NKEYS];
    exp_key axes[EXP_NKEYS]; /* the swept settings, in file order; the settings of a pair
                                together, at the place of its first one, in the pair's order */
    size_t naxes;
    /* Paired (zipped) settings, `pair = ["model", "batch"];`: pair[k] = 1 + the index of the
     * pair setting k is in, 0 when it is not paired. The settings of a pair have the same
     * number of values and form ONE dimension of the product: value i of each together (the
     * point's vi[] is i for all of them). */
    int pair[EXP_NKEYS];
    size_t npairs;
    exp_point *points; /* [npoints], the last dimension varying fastest */
    size_t npoints;
    exp_reference *refs; /* [nrefs] */
    size_t nrefs;
    /* `baseline = { exchange = "allreduce"; }`: the settings of the point a speedup is
     * measured against, when it is not "the fp32 point with the same other values" (only
     * has[] and v[] are used; has_baseline = 0: the default rule of exp_point_baseline). */
    int has_baseline;
    exp_reference baseline;
} exp_experiment;

/* Diagnostics: error and warning lines "FILE:LINE: message". */
typedef struct exp_diag {
    char **line;
    size_t n, cap;
    size_t nerrors, nwarnings;
} exp_diag;

void exp_diag_free(exp_diag *d);

#define EXP_MAX_POINTS 100000
#define EXP_MAX_REFERENCES 1000 /* every point is compared with every reference */

/* Experiment files larger than this are refused before libconfig reads them: libconfig
 * 1.5 takes quadratic time on long strings (0.7 s for a 1 MB string, 11 s for 4 MB, 99 s
 * for 10 MB, measured on a 2-core x86-64); an experiment is a few kilobytes. The limit
 * applies to every @include'd file too. */
#define EXP_MAX_FILE_BYTES (1 << 20)

/* Read and validate an experiment file. Returns the experiment, or NULL when the file has
 * errors (then d->nerrors > 0; warnings may be present either way). A file that cannot be
 * read, is larger than EXP_MAX_FILE_BYTES, holds a NUL byte or sets no setting at all
 * (empty, only comments, only name/description/reference) is an error; so is an integer
 * libconfig cannot hold (it would wrap: "batch = 99999999999: too large"). Every message
 * names FILE:LINE of a setting in the file, or FILE alone for the file as a whole. */
exp_experiment *exp_config_load(const char *path, exp_diag *d);
void exp_experiment_free(exp_experiment *e); /* NULL is fine */

/* Value of setting k at point p. */
const exp_value *exp_point_value(const exp_experiment *e, const exp_point *p, exp_key k);

/* The argv of `qsgdsim sim` for point p writing into outdir (argv[0] = "qsgdsim"),
 * NULL-terminated, in one heap block: free((void *)argv) releases it. NULL on ENOMEM. */
char **exp_point_argv(const exp_experiment *e, const exp_point *p, const char *outdir);

/* The first reference matching point p, or NULL. */
const exp_reference *exp_point_reference(const exp_experiment *e, const exp_point *p);

/* Index of the baseline of point p: the point with an fp32 quantizer and the same values of
 * every other setting (p itself when p is fp32); -1 if there is none. A quantizer paired with
 * other settings: the first tuple with an fp32 quantizer and the same values of the others.
 * With a `baseline` group: the first point whose values equal the group's settings (a
 * lossless quantizer when the group names none) and p's values on every other setting, except
 * the settings paired with one the group names (the group picks their tuple). */
long exp_point_baseline(const exp_experiment *e, size_t p);

/* Sanitize s into a directory-name fragment (letters, digits, '-', '_', '='; "a=b" inside
 * a value becomes "ab", other characters '-', '.' between digits 'p'). */
void exp_sanitize(const char *s, char *out, size_t len);

#endif
