/* net.c — configuration of a network model: defaults, the spec parser (keys, units, preset
 * overrides), validation (incl. deriving a full-bisection fat tree from a switch radix),
 * the canonical one-line description, the analytical alpha-beta of a route and the SMPI
 * network flags. Platform files are written by net_xml.c. */
#include "net_private.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int net_fail(net_err *err, int code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *net_fmt_num(double x, char buf[32]) {
    if (x == floor(x) && fabs(x) < 1e16) { /* integers in full: "1250000000", not "1.25e+09" */
        snprintf(buf, 32, "%.0f", x);
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    return buf;
}

unsigned long net_ft_hosts_below(const net_config *c, unsigned level) {
    unsigned long p = 1;
    for (unsigned l = 0; l < level && l < c->ft_levels; l++)
        p *= c->ft_downs[l];
    return p;
}

/* --- topology names -------------------------------------------------------------------- */
static const struct {
    const char *name;
    net_topology topo;
} topo_names[] = {
    {"star", NET_TOPO_STAR},           {"fat-tree", NET_TOPO_FAT_TREE},
    {"fattree", NET_TOPO_FAT_TREE},    {"multi-gpu-nodes", NET_TOPO_MULTI_GPU},
    {"multi-gpu", NET_TOPO_MULTI_GPU},
};
#define N_TOPO_NAMES (sizeof topo_names / sizeof topo_names[0])

const char *net_topology_name(net_topology t) {
    switch (t) {
    case NET_TOPO_STAR:
        return "star";
    case NET_TOPO_FAT_TREE:
        return "fat-tree";
    case NET_TOPO_MULTI_GPU:
        return "multi-gpu-nodes";
    }
    return "?";
}

static void preset_names(char *buf, size_t len) {
    const net_preset *const *p = net_presets();
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; p[i] && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", p[i]->name);
}

/* --- defaults -------------------------------------------------------------------------- */
void net_config_default(net_config *c, net_topology topo) {
    memset(c, 0, sizeof *c);
    const net_preset *eth = net_preset_find("10GbE");
    const net_preset *pcie = net_preset_find("PCIe3x16");
    c->topology = topo;
    c->hosts = 16;
    c->speed = 1e9;
    snprintf(c->link, sizeof c->link, "%s", eth->name);
    c->bw = eth->bw;
    c->lat = eth->lat;
    c->loopback_bw = 100e9; /* a memcpy-class copy; SMPI rarely routes self-messages */
    c->loopback_lat = 0.0;
    c->radix = 48; /* a common top-of-rack switch */
    c->nodes = 1;
    c->gpus = 16; /* AWS p2.16xlarge: 16 GPUs (8 K80 boards) in one node */
    snprintf(c->gpu_link, sizeof c->gpu_link, "%s", pcie->name);
    c->gpu_bw = pcie->bw;
    c->gpu_lat = pcie->lat;
}

/* --- validation ------------------------------------------------------------------------ */
static int check_pos(const char *what, double x, int allow_zero, net_err *err) {
    if (!isfinite(x) || x < 0 || (!allow_zero && x == 0))
        return net_fail(err, NET_EINVAL, "%s must be %s and finite (got %g)", what,
                        allow_zero ? ">= 0" : "> 0", x);
    return NET_OK;
}

/* Derive a full-bisection PGFT from hosts and radix: one switch if hosts <= radix, else
 * levels whose switches use radix/2 ports down and radix/2 up (downs chosen as the largest
 * divisor of what is left <= radix/2), with a top level of <= radix downs. */
static int ft_derive(net_config *c, net_err *err) {
    unsigned h = c->hosts, r = c->radix, d = c->radix / 2, rem = h, l = 0;
    if (r < 2)
        return net_fail(err, NET_EINVAL, "fat-tree: radix must be >= 2 (got %u)", r);
    while (rem > r) {
        unsigned best = 0;
        for (unsigned f = d; f >= 2 && !best; f--)
            if (rem % f == 0)
                best = f;
        if (!best || l + 1 >= NET_FT_MAX_LEVELS)
            return net_fail(err, NET_EINVAL,
                            "fat-tree: cannot build hosts=%u from switches of radix %u (%u has "
                            "no divisor in [2, %u]); give downs=AxB...,ups=...,parallels=... "
                            "explicitly",
                            h, r, rem, d);
        c->ft_downs[l++] = best;
        rem /= best;
    }
    c->ft_downs[l++] = rem;
    c->ft_levels = l;
    for (unsigned i = 0; i < l; i++) {
        c->ft_ups[i] = i == 0 ? 1 : c->ft_downs[i - 1];
        c->ft_parallels[i] = 1;
    }
    return NET_OK;
}

int net_config_validate(net_config *c, net_err *err) {
    int rc;
    if (c->topology != NET_TOPO_STAR && c->topology != NET_TOPO_FAT_TREE &&
        c->topology != NET_TOPO_MULTI_GPU)
        return net_fail(err, NET_EINVAL, "unknown topology %d", (int)c->topology);
    const char *t = net_topology_name(c->topology);
    if ((rc = check_pos("speed", c->speed, 0, err)) || (rc = check_pos("bw", c->bw, 0, err)) ||
        (rc = check_pos("lat", c->lat, 1, err)) ||
        (rc = check_pos("loopback_bw", c->loopback_bw, 0, err)) ||
        (rc = check_pos("loopback_lat", c->loopback_lat, 1, err)) ||
        (rc = check_pos("bb_bw", c->bb_bw, 1, err)) ||
        (rc = check_pos("bb_lat", c->bb_lat, 1, err)))
        return rc;
    if (c->topology == NET_TOPO_MULTI_GPU) {
        if ((rc = check_pos("gpu_bw", c->gpu_bw, 0, err)) ||
            (rc = check_pos("gpu_lat", c->gpu_lat, 1, err)))
            return rc;
        if (c->nodes < 1 || c->nodes > NET_MAX_NODES)
            return net_fail(err, NET_EINVAL, "%s: nodes must be in [1, %u] (got %u)", t,
                            NET_MAX_NODES, c->nodes);
        if (c->gpus < 1 || c->gpus > NET_MAX_HOSTS / c->nodes)
            return net_fail(err, NET_EINVAL, "%s: gpus must be >= 1 and nodes*gpus <= %u", t,
                            NET_MAX_HOSTS);
        c->hosts = c->nodes * c->gpus;
    } else if (c->bb_lat > 0 && c->bb_bw == 0) {
        return net_fail(err, NET_EINVAL, "%s: bb_lat given without bb_bw", t);
    }
    if (c->hosts < 1 || c->hosts > NET_MAX_HOSTS)
        return net_fail(err, NET_EINVAL, "%s: hosts must be in [1, %u] (got %u)", t, NET_MAX_HOSTS,
                        c->hosts);
    if (c->topology == NET_TOPO_FAT_TREE) {
        if (c->bb_bw > 0)
            return net_fail(err, NET_EINVAL, "fat-tree: no backbone (bb_bw); use the tree");
        if (c->ft_levels == 0)
            return ft_derive(c, err);
        if (c->ft_levels > NET_FT_MAX_LEVELS)
            return net_fail(err, NET_EINVAL, "fat-tree: at most %d levels (got %u)",
                            NET_FT_MAX_LEVELS, c->ft_levels);
        unsigned long prod = 1;
        for (unsigned l = 0; l < c->ft_levels; l++) {
            if (c->ft_downs[l] < 1 || c->ft_ups[l] < 1 || c->ft_parallels[l] < 1)
                return net_fail(err, NET_EINVAL,
                                "fat-tree: downs, ups and parallels must be >= 1 (level %u)",
                                l + 1);
            prod *= c->ft_downs[l];
            if (prod > NET_MAX_HOSTS)
                break;
        }
        if (prod != c->hosts) {
            char list[128];
            size_t off = 0;
            for (unsigned l = 0; l < c->ft_levels && off < sizeof list; l++)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%u", l ? "x" : "",
                                        c->ft_downs[l]);
            return net_fail(err, NET_EINVAL,
                            "fat-tree: the product of downs (%s = %lu) must equal hosts (%u)", list,
                            prod, c->hosts);
        }
    }
    return NET_OK;
}

/* --- spec parsing ---------------------------------------------------------------------- */
typedef enum { Q_BW, Q_TIME, Q_SPEED } qkind;

typedef struct unit {
    const char *suffix;
    double mul, div; /* value = number * mul / div (exact powers, correctly rounded) */
} unit;

static const unit bw_units[] = {
    {"bps", 1, 8},     {"Kbps", 1e3, 8},  {"kbps", 1e3, 8},  {"Mbps", 1e6, 8},  {"Gbps", 1e9, 8},
    {"Tbps", 1e12, 8}, {"b/s", 1, 8},     {"Kb/s", 1e3, 8},  {"kb/s", 1e3, 8},  {"Mb/s", 1e6, 8},
    {"Gb/s", 1e9, 8},  {"Tb/s", 1e12, 8}, {"Bps", 1, 1},     {"KBps", 1e3, 1},  {"kBps", 1e3, 1},
    {"MBps", 1e6, 1},  {"GBps", 1e9, 1},  {"TBps", 1e12, 1}, {"B/s", 1, 1},     {"KB/s", 1e3, 1},
    {"kB/s", 1e3, 1},  {"MB/s", 1e6, 1},  {"GB/s", 1e9, 1},  {"TB/s", 1e12, 1}, {NULL, 0, 0},
};
static const unit time_units[] = {
    {"s", 1, 1}, {"ms", 1, 1e3}, {"us", 1, 1e6}, {"ns", 1, 1e9}, {NULL, 0, 0},
};
static const unit speed_units[] = {
    {"f", 1, 1},    {"kf", 1e3, 1},  {"Kf", 1e3, 1},  {"Mf", 1e6, 1},
    {"Gf", 1e9, 1}, {"Tf", 1e12, 1}, {"Pf", 1e15, 1}, {NULL, 0, 0},
};
static const char *const unit_lists[] = {
    "bps, Kbps, Mbps, Gbps, Tbps, Bps, KBps, MBps, GBps, TBps (or Gb/s, GB/s, ...)",
    "s, ms, us, ns",
    "f, kf, Mf, Gf, Tf, Pf",
};

static int parse_quantity(const char *key, const char *val, qkind kind, double *out, net_err *err) {
    const unit *units = kind == Q_BW ? bw_units : kind == Q_TIME ? time_units : speed_units;
    char *end;
    errno = 0;
    double x = strtod(val, &end);
    if (end == val || errno || !isfinite(x) || x < 0)
        return net_fail(err, NET_EINVAL, "%s: '%s' is not a non-negative number with a unit (%s)",
                        key, val, unit_lists[kind]);
    if (*end == '\0')
        return net_fail(err, NET_EINVAL, "%s: '%s' needs a unit (%s)", key, val, unit_lists[kind]);
    for (const unit *u = units; u->suffix; u++)
        if (strcmp(end, u->suffix) == 0) {
            *out = x * u->mul / u->div;
            return NET_OK;
        }
    return net_fail(err, NET_EINVAL, "%s: unknown unit '%s' in '%s' (valid: %s)", key, end, val,
                    unit_lists[kind]);
}

static int parse_uint(const char *key, const char *val, unsigned lo, unsigned hi, unsigned *out,
                      net_err *err) {
    char *end;
    errno = 0;
    unsigned long v = (*val >= '0' && *val <= '9') ? strtoul(val, &end, 10) : 0;
    if (!(*val >= '0' && *val <= '9') || errno || *end || v < lo || v > hi)
        return net_fail(err, NET_EINVAL, "%s: '%s' is not an integer in [%u, %u]", key, val, lo,
                        hi);
    *out = (unsigned)v;
    return NET_OK;
}

/* "4x4x2" -> {4, 4, 2}, n = 3. */
static int parse_list(const char *key, const char *val, unsigned *out, unsigned *n, net_err *err) {
    char buf[128];
    if (strlen(val) >= sizeof buf)
        return net_fail(err, NET_EINVAL, "%s: list too long", key);
    strcpy(buf, val);
    unsigned k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, "x", &save); tok; tok = strtok_r(NULL, "x", &save)) {
        if (k >= NET_FT_MAX_LEVELS)
            return net_fail(err, NET_EINVAL, "%s: at most %d levels", key, NET_FT_MAX_LEVELS);
        int rc = parse_uint(key, tok, 1, NET_MAX_HOSTS, &out[k++], err);
        if (rc)
            return rc;
    }
    if (k == 0 || val[0] == 'x' || val[strlen(val) - 1] == 'x' || strstr(val, "xx"))
        return net_fail(err, NET_EINVAL, "%s: '%s' is not a list like 4x4 (level 1 first)", key,
                        val);
    *n = k;
    return NET_OK;
}

enum { T_STAR = 1, T_FT = 2, T_MG = 4, T_ALL = 7 };
static const struct {
    const char *name;
    unsigned topos;
} spec_keys[] = {
    {"hosts", T_ALL},
    {"speed", T_ALL},
    {"link", T_ALL},
    {"bw", T_ALL},
    {"lat", T_ALL},
    {"loopback_bw", T_ALL},
    {"loopback_lat", T_ALL},
    {"bb_bw", T_STAR | T_MG},
    {"bb_lat", T_STAR | T_MG},
    {"bb_sharing", T_STAR | T_MG},
    {"radix", T_FT},
    {"levels", T_FT},
    {"downs", T_FT},
    {"ups", T_FT},
    {"parallels", T_FT},
    {"nodes", T_MG},
    {"gpus", T_MG},
    {"gpu_link", T_MG},
    {"gpu_bw", T_MG},
    {"gpu_lat", T_MG},
};
#define N_SPEC_KEYS (sizeof spec_keys / sizeof spec_keys[0])

static void valid_keys(unsigned topo_bit, char *buf, size_t len) {
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_SPEC_KEYS && off < len; i++)
        if (spec_keys[i].topos & topo_bit)
            off +=
                (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", spec_keys[i].name);
}

#define MAX_KV 32

int net_config_parse(const char *spec, net_config *c, net_err *err) {
    if (!spec || !*spec)
        return net_fail(err, NET_EINVAL, "empty network spec (expected topology:key=value,...)");
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    net_topology topo = NET_TOPO_STAR;
    int found = 0;
    for (size_t i = 0; i < N_TOPO_NAMES && !found; i++)
        if (strlen(topo_names[i].name) == nlen && strncmp(spec, topo_names[i].name, nlen) == 0) {
            topo = topo_names[i].topo;
            found = 1;
        }
    if (!found)
        return net_fail(err, NET_EINVAL,
                        "unknown topology '%.*s' in '%s' (valid: star, fat-tree, multi-gpu-nodes)",
                        (int)nlen, spec, spec);
    net_config_default(c, topo);
    unsigned bit = topo == NET_TOPO_STAR ? T_STAR : topo == NET_TOPO_FAT_TREE ? T_FT : T_MG;
    const char *tname = net_topology_name(topo);

    char opts[1024];
    const char *rest = colon ? colon + 1 : "";
    if (strlen(rest) >= sizeof opts)
        return net_fail(err, NET_EINVAL, "network spec too long");
    strcpy(opts, rest);
    char *keys[MAX_KV], *vals[MAX_KV];
    size_t n = 0;
    char *save = NULL;
    for (char *kv = strtok_r(opts, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        char names[512];
        valid_keys(bit, names, sizeof names);
        if (!eq || eq == kv)
            return net_fail(err, NET_EINVAL, "%s: '%s' is not key=value (keys: %s)", tname, kv,
                            names);
        *eq = '\0';
        size_t k;
        for (k = 0; k < N_SPEC_KEYS; k++)
            if (strcmp(spec_keys[k].name, kv) == 0)
                break;
        if (k == N_SPEC_KEYS || !(spec_keys[k].topos & bit))
            return net_fail(err, NET_EINVAL, "%s: unknown key '%s' (valid: %s)", tname, kv, names);
        for (size_t j = 0; j < n; j++)
            if (strcmp(keys[j], kv) == 0)
                return net_fail(err, NET_EINVAL, "%s: key '%s' given twice", tname, kv);
        if (n == MAX_KV)
            return net_fail(err, NET_EINVAL, "%s: too many keys", tname);
        keys[n] = kv;
        vals[n++] = eq + 1;
    }

    /* Pass 1: presets, so that bw/lat/gpu_bw/gpu_lat override them in any order. */
    char pnames[160];
    preset_names(pnames, sizeof pnames);
    int link_given = 0, gpu_link_given = 0;
    for (size_t i = 0; i < n; i++) {
        int gpu = strcmp(keys[i], "gpu_link") == 0;
        if (!gpu && strcmp(keys[i], "link") != 0)
            continue;
        const net_preset *p = net_preset_find(vals[i]);
        if (!p)
            return net_fail(err, NET_EINVAL, "%s: unknown %s preset '%s' (valid: %s)", tname,
                            keys[i], vals[i], pnames);
        if (gpu) {
            snprintf(c->gpu_link, sizeof c->gpu_link, "%s", p->name);
            c->gpu_bw = p->bw;
            c->gpu_lat = p->lat;
            gpu_link_given = 1;
        } else {
            snprintf(c->link, sizeof c->link, "%s", p->name);
            c->bw = p->bw;
            c->lat = p->lat;
            link_given = 1;
        }
    }
    /* Pass 2: everything else. */
    int rc = NET_OK, hosts_given = 0, nodes_given = 0, radix_given = 0, tree_given = 0;
    unsigned nd = 0, nu = 0, np = 0, levels = 0;
    for (size_t i = 0; i < n && rc == NET_OK; i++) {
        const char *k = keys[i], *v = vals[i];
        if (!strcmp(k, "link") || !strcmp(k, "gpu_link"))
            continue;
        if (!strcmp(k, "hosts")) {
            rc = parse_uint(k, v, 1, NET_MAX_HOSTS, &c->hosts, err);
            hosts_given = 1;
        } else if (!strcmp(k, "speed")) {
            rc = parse_quantity(k, v, Q_SPEED, &c->speed, err);
        } else if (!strcmp(k, "bw")) {
            rc = parse_quantity(k, v, Q_BW, &c->bw, err);
            if (!link_given)
                c->link[0] = '\0';
        } else if (!strcmp(k, "lat")) {
            rc = parse_quantity(k, v, Q_TIME, &c->lat, err);
            if (!link_given)
                c->link[0] = '\0';
        } else if (!strcmp(k, "loopback_bw")) {
            rc = parse_quantity(k, v, Q_BW, &c->loopback_bw, err);
        } else if (!strcmp(k, "loopback_lat")) {
            rc = parse_quantity(k, v, Q_TIME, &c->loopback_lat, err);
        } else if (!strcmp(k, "bb_bw")) {
            rc = parse_quantity(k, v, Q_BW, &c->bb_bw, err);
        } else if (!strcmp(k, "bb_lat")) {
            rc = parse_quantity(k, v, Q_TIME, &c->bb_lat, err);
        } else if (!strcmp(k, "bb_sharing")) {
            if (!strcmp(v, "shared"))
                c->bb_fatpipe = 0;
            else if (!strcmp(v, "fatpipe"))
                c->bb_fatpipe = 1;
            else
                rc = net_fail(err, NET_EINVAL, "bb_sharing: '%s' (valid: shared, fatpipe)", v);
        } else if (!strcmp(k, "radix")) {
            rc = parse_uint(k, v, 2, 65536, &c->radix, err);
            radix_given = 1;
        } else if (!strcmp(k, "levels")) {
            rc = parse_uint(k, v, 1, NET_FT_MAX_LEVELS, &levels, err);
            tree_given = 1;
        } else if (!strcmp(k, "downs")) {
            rc = parse_list(k, v, c->ft_downs, &nd, err);
            tree_given = 1;
        } else if (!strcmp(k, "ups")) {
            rc = parse_list(k, v, c->ft_ups, &nu, err);
            tree_given = 1;
        } else if (!strcmp(k, "parallels")) {
            rc = parse_list(k, v, c->ft_parallels, &np, err);
            tree_given = 1;
        } else if (!strcmp(k, "nodes")) {
            rc = parse_uint(k, v, 1, NET_MAX_NODES, &c->nodes, err);
            nodes_given = 1;
        } else if (!strcmp(k, "gpus")) {
            rc = parse_uint(k, v, 1, NET_MAX_HOSTS, &c->gpus, err);
        } else if (!strcmp(k, "gpu_bw")) {
            rc = parse_quantity(k, v, Q_BW, &c->gpu_bw, err);
            if (!gpu_link_given)
                c->gpu_link[0] = '\0';
        } else if (!strcmp(k, "gpu_lat")) {
            rc = parse_quantity(k, v, Q_TIME, &c->gpu_lat, err);
            if (!gpu_link_given)
                c->gpu_link[0] = '\0';
        }
    }
    if (rc)
        return rc;

    if (topo == NET_TOPO_FAT_TREE && tree_given) {
        if (radix_given)
            return net_fail(err, NET_EINVAL,
                            "fat-tree: give either radix (derived tree) or "
                            "levels/downs/ups/parallels, not both");
        if (nd == 0)
            return net_fail(err, NET_EINVAL,
                            "fat-tree: downs=AxB... is required with ups, "
                            "parallels or levels");
        if ((levels && levels != nd) || (nu && nu != nd) || (np && np != nd))
            return net_fail(err, NET_EINVAL,
                            "fat-tree: levels (%u), downs (%u), ups (%u) and parallels (%u) "
                            "must agree on the number of levels",
                            levels ? levels : nd, nd, nu ? nu : nd, np ? np : nd);
        c->ft_levels = nd;
        for (unsigned l = 0; l < nd; l++) {
            if (!nu) /* default: full bisection, as derived trees */
                c->ft_ups[l] = l == 0 ? 1 : c->ft_downs[l - 1];
            if (!np)
                c->ft_parallels[l] = 1;
        }
    }
    if (topo == NET_TOPO_MULTI_GPU && hosts_given) {
        if (!nodes_given) {
            if (c->hosts % c->gpus)
                return net_fail(err, NET_EINVAL,
                                "multi-gpu-nodes: hosts=%u is not a multiple of gpus=%u", c->hosts,
                                c->gpus);
            c->nodes = c->hosts / c->gpus;
        } else if ((unsigned long)c->nodes * c->gpus != c->hosts) {
            return net_fail(err, NET_EINVAL, "multi-gpu-nodes: hosts=%u but nodes*gpus = %u*%u",
                            c->hosts, c->nodes, c->gpus);
        }
    }
    return net_config_validate(c, err);
}

/* --- description ----------------------------------------------------------------------- */
int net_describe(const net_config *cfg, char *buf, size_t len, net_err *err) {
    net_config c = *cfg;
    int rc = net_config_validate(&c, err);
    if (rc)
        return rc;
    char a[32], b[32];
    size_t off = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(buf + off, off < len ? len - off : 0, __VA_ARGS__);                      \
        off += (size_t)(w_ > 0 ? w_ : 0);                                                          \
    } while (0)
    PUT("%s:", net_topology_name(c.topology));
    if (c.topology == NET_TOPO_MULTI_GPU)
        PUT("nodes=%u,gpus=%u,", c.nodes, c.gpus);
    PUT("hosts=%u,speed=%sf", c.hosts, net_fmt_num(c.speed, a));
    if (c.link[0])
        PUT(",link=%s", c.link);
    PUT(",bw=%sBps,lat=%ss", net_fmt_num(c.bw, a), net_fmt_num(c.lat, b));
    if (c.topology == NET_TOPO_FAT_TREE) {
        const char *names[3] = {"downs", "ups", "parallels"};
        const unsigned *lists[3] = {c.ft_downs, c.ft_ups, c.ft_parallels};
        for (int j = 0; j < 3; j++) {
            PUT(",%s=", names[j]);
            for (unsigned l = 0; l < c.ft_levels; l++)
                PUT("%s%u", l ? "x" : "", lists[j][l]);
        }
    }
    if (c.topology == NET_TOPO_MULTI_GPU) {
        if (c.gpu_link[0])
            PUT(",gpu_link=%s", c.gpu_link);
        PUT(",gpu_bw=%sBps,gpu_lat=%ss", net_fmt_num(c.gpu_bw, a), net_fmt_num(c.gpu_lat, b));
    }
    if (c.bb_bw > 0)
        PUT(",bb_bw=%sBps,bb_lat=%ss,bb_sharing=%s", net_fmt_num(c.bb_bw, a),
            net_fmt_num(c.bb_lat, b), c.bb_fatpipe ? "fatpipe" : "shared");
    PUT(",loopback_bw=%sBps,loopback_lat=%ss", net_fmt_num(c.loopback_bw, a),
        net_fmt_num(c.loopback_lat, b));
#undef PUT
    if (off >= len)
        return net_fail(err, NET_ENOSPC, "net_describe: buffer of %zu bytes too small (need %zu)",
                        len, off + 1);
    return NET_OK;
}

/* --- analytical alpha-beta ------------------------------------------------------------- */
int net_alpha_beta(const net_config *cfg, unsigned src, unsigned dst, double *alpha, double *beta,
                   net_err *err) {
    net_config c = *cfg;
    int rc = net_config_validate(&c, err);
    if (rc)
        return rc;
    if (src >= c.hosts || dst >= c.hosts)
        return net_fail(err, NET_EINVAL, "net_alpha_beta: ranks %u, %u out of range [0, %u)", src,
                        dst, c.hosts);
    /* Every network hop has latency lat/2 (see net.h). */
    double a, b;
    if (src == dst) {
        a = c.loopback_lat;
        b = c.loopback_bw;
    } else if (c.topology == NET_TOPO_STAR) {
        a = c.lat / 2 + c.lat / 2;
        b = c.bw;
        if (c.bb_bw > 0) {
            a = c.lat / 2 + c.bb_lat + c.lat / 2;
            b = fmin(b, c.bb_bw);
        }
    } else if (c.topology == NET_TOPO_FAT_TREE) {
        unsigned level = 1; /* lowest level whose switch has both ranks below it */
        while (level < c.ft_levels &&
               src / net_ft_hosts_below(&c, level) != dst / net_ft_hosts_below(&c, level))
            level++;
        a = 0;
        for (unsigned h = 0; h < 2 * level; h++) /* up `level` hops, down `level` hops */
            a += c.lat / 2;
        b = c.bw;
    } else {
        unsigned ns = src / c.gpus, nd = dst / c.gpus;
        if (ns == nd) {
            a = c.gpu_lat / 2 + c.gpu_lat / 2;
            b = c.gpu_bw;
        } else { /* gpu link, NIC up, [core], NIC down, gpu link */
            a = c.gpu_lat / 2 + c.lat / 2 + (c.bb_bw > 0 ? c.bb_lat : 0) + c.lat / 2 +
                c.gpu_lat / 2;
            b = fmin(c.gpu_bw, c.bw);
            if (c.bb_bw > 0)
                b = fmin(b, c.bb_bw);
        }
    }
    *alpha = a;
    *beta = b;
    return NET_OK;
}

/* --- SMPI flags ------------------------------------------------------------------------ */
const char *net_smpi_model_name(net_smpi_model m) {
    return m == NET_SMPI_CM02 ? "cm02" : m == NET_SMPI_DEFAULT ? "default" : "?";
}

int net_smpi_model_parse(const char *name, net_smpi_model *out, net_err *err) {
    if (name && (!strcmp(name, "cm02") || !strcmp(name, "exact"))) {
        *out = NET_SMPI_CM02;
        return NET_OK;
    }
    if (name && (!strcmp(name, "default") || !strcmp(name, "smpi"))) {
        *out = NET_SMPI_DEFAULT;
        return NET_OK;
    }
    return net_fail(err, NET_EINVAL, "unknown SMPI network model '%s' (valid: cm02, default)",
                    name ? name : "(null)");
}

int net_smpi_flags(const net_config *c, net_smpi_model model, char *buf, size_t len, net_err *err) {
    (void)c; /* the flags do not depend on the platform (yet) */
    const char *flags;
    switch (model) {
    case NET_SMPI_CM02:
        /* TCP-gamma bounds a flow's rate by gamma / (2 alpha) (TCP window); 1e18 B removes
         * the bound so that long-latency routes stay alpha-beta too. */
        flags = "--cfg=network/model:CM02 --cfg=network/crosstraffic:0 "
                "--cfg=network/TCP-gamma:1e18";
        break;
    case NET_SMPI_DEFAULT:
        flags = "--cfg=network/model:SMPI --cfg=network/crosstraffic:1";
        break;
    default:
        return net_fail(err, NET_EINVAL, "unknown SMPI network model %d", (int)model);
    }
    if (strlen(flags) >= len)
        return net_fail(err, NET_ENOSPC, "net_smpi_flags: buffer of %zu bytes too small", len);
    strcpy(buf, flags);
    return NET_OK;
}
