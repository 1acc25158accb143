/* qsgd_opt.h — option schemas: a component (a quantizer type, ...) declares its options once,
 * as a const table of rows {name, aliases, kind, offsetof into its params struct, range or
 * choices, default, help}, and these generic functions parse "k=v,k=v" into the struct,
 * describe it canonically ("name:k=v,...") and print its usage and help. No global state. */
#ifndef QSGDSIM_QSGD_OPT_H
#define QSGDSIM_QSGD_OPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qsgd_err.h"

typedef enum qsgd_opt_kind {
    QSGD_OPT_UINT,   /* unsigned int, decimal in [min, max] */
    QSGD_OPT_SIZE,   /* size_t, decimal in [min, max] */
    QSGD_OPT_DOUBLE, /* double (strtod, finite) in [dmin, dmax] */
    QSGD_OPT_ENUM,   /* int, one of choices (by name) */
    QSGD_OPT_BOOL,   /* int, 0 or 1 (QSGD_OPT_NEGATED: the struct holds !value) */
    QSGD_OPT_SIZES,  /* size_t[len], 1 to len decimals in [min, max] separated by 'x' ("256x128");
                        the count is the int at count_offset */
    QSGD_OPT_STRING, /* char[len] (NUL included), non-empty, shorter than len, accepted by check
                        when the row has one */
    QSGD_OPT_UNIT,   /* double: a number (strtod) and one of the row's units, "10Gbps";
                        value = number * mul / div, finite, in [dmin, dmax]; described as the
                        shortest decimal that reads back exactly plus the canonical unit */
} qsgd_opt_kind;

/* A unit of a QSGD_OPT_UNIT row: value = number * mul / div (exact powers of ten, so that
 * the product is correctly rounded). */
typedef struct qsgd_opt_unit {
    const char *suffix;
    double mul, div;
} qsgd_opt_unit;

/* The units a quantity may be written in. canon (a suffix of units with mul = div = 1) is
 * the one written by describe; valid is the list shown in errors and help. */
typedef struct qsgd_opt_units {
    const char *canon;
    const char *valid;
    const qsgd_opt_unit *units; /* ends with {NULL} */
} qsgd_opt_units;

/* A choice of an enum option; the table ends with {NULL}. The first name of a value is the
 * canonical one (described, listed); later names of the same value are aliases. */
typedef struct qsgd_opt_choice {
    const char *name;
    int value;
} qsgd_opt_choice;

enum qsgd_opt_flags {
    QSGD_OPT_HIDDEN = 1u,  /* parsed but not described (a shorthand resolved into another) */
    QSGD_OPT_NEGATED = 2u, /* bool: the field holds the negation (e.g. no_feedback) */
    QSGD_OPT_EXP = 4u,     /* UINT, SIZE: a count may also be written with a decimal exponent
                              ("6e4", "1.5e3"); only exact integers ("6.5e0" is refused) and no
                              overflow (the range still applies) */
    QSGD_OPT_DERIVED = 8u, /* the default comes from other options (a preset, a product): help
                              says "default derived" rather than a value */
};

/* One option. A table is an array ending with a row whose name is NULL, at most
 * QSGD_OPT_MAX rows. */
typedef struct qsgd_opt {
    const char *name;
    const char *aliases; /* "a|b" or NULL */
    qsgd_opt_kind kind;
    size_t offset;                  /* offsetof(params struct, field) */
    unsigned long long min, max;    /* UINT, SIZE (BOOL: 0..1 implied) */
    double dmin, dmax;              /* DOUBLE */
    const qsgd_opt_choice *choices; /* ENUM */
    const char *def;                /* default as text (NULL: the zeroed field) */
    const char *meta;               /* value placeholder in the usage line, e.g. "LEVELS" */
    const char *help;               /* one line */
    unsigned flags;                 /* qsgd_opt_flags */
    size_t len;                     /* SIZES: most values; STRING: bytes of the char array */
    size_t count_offset;            /* SIZES: offsetof(params struct, int count) */
    /* STRING (optional): 0 if val is accepted, else -1 with the valid values, "a, b", in
     * valid[vlen] (for the error message); val NULL: -1 with the valid values (the help). */
    int (*check)(const char *val, char *valid, size_t vlen);
    const qsgd_opt_units *units; /* UNIT */
    /* describe (optional): the row is written only when shown(params) != 0 (e.g. a backbone's
     * latency only when there is a backbone). */
    int (*shown)(const void *params);
} qsgd_opt;

#define QSGD_OPT_MAX 64

/* Number of rows of a table (NULL: 0). */
size_t qsgd_opt_count(const qsgd_opt *t);
/* The row named key (or one of its aliases), or NULL. */
const qsgd_opt *qsgd_opt_find(const qsgd_opt *t, const char *key);

/* Set every row's field of params to its default. Returns 0, or -1 with a message (a
 * default that does not parse: a bug in the table). */
int qsgd_opt_defaults(const qsgd_opt *t, void *params, char *err, size_t errlen);

/* Parse "k=v[,k=v...]" (opts may be NULL or "") into params; fields of rows not given are
 * left as they are. given (may be NULL) gets bit i set for each row i given. Errors (return
 * -1, message in err, prefixed by owner, e.g. "quantizer qsgd"): an element that is not
 * key=value, an unknown key (the message lists the valid ones), a key given twice (also
 * through an alias), a value not of the row's kind or out of its range (the message names
 * the key, the value and the range or choices). */
int qsgd_opt_parse(const qsgd_opt *t, const char *owner, const char *opts, void *params,
                   uint64_t *given, char *err, size_t errlen);

/* qsgd_opt_parse with the one error type: QSGD_OK, or QSGD_EINVAL with qsgd_opt_parse's
 * message in err->msg and err->where = the key as written plus '=' ("bits=", "b=") when the
 * error is a key's (unknown, given twice, a bad value), else "". */
int qsgd_opt_parse_err(const qsgd_opt *t, const char *owner, const char *opts, void *params,
                       uint64_t *given, qsgd_err *err);

/* The value of row o in params as text (canonical: an enum's first name, a bool 1|0). */
int qsgd_opt_format(const qsgd_opt *o, const void *params, char *buf, size_t len);

/* "name:k=v,..." with every row not QSGD_OPT_HIDDEN (nor refused by its shown hook) in row
 * order (defaults included), or
 * "name" when there is none. Returns 0, or -1 when it does not fit in len (buf then holds a
 * NUL-terminated prefix when len > 0). */
int qsgd_opt_describe(const qsgd_opt *t, const char *name, const void *params, char *buf,
                      size_t len);

/* One usage line: "k=META, k=a|b, ..." (canonical names only; aliases are in the help),
 * "none" for an empty table. Returns 0, or -1 when truncated. */
int qsgd_opt_usage(const qsgd_opt *t, char *buf, size_t len);

/* The value of key in a spec "name:k=v,k=v" exactly as written (no alias, no parsing: for
 * labels that keep the user's spelling, "1Gbps" stays "1Gbps") into out[len]; 1 if the key
 * is given, else 0. */
int qsgd_spec_value(const char *spec, const char *key, char *out, size_t len);

/* One line per row: indent, "key (aliases)", range or choices, default and help. */
void qsgd_opt_print_help(FILE *f, const qsgd_opt *t, const char *indent);

/* The shortest decimal form of x that strtod reads back to exactly x ("1250000000",
 * "5e-06"; integers below 1e16 in full). buf holds at least 32 bytes. Returns buf. */
const char *qsgd_opt_fmt_num(double x, char buf[32]);

#endif /* QSGDSIM_QSGD_OPT_H */
