/* net.c — configuration of a network model: defaults and the spec parser (generic over the
 * topology tables of net_topo.c: keys, units, presets), validation (incl. deriving a full-bisection
 * fat tree from a switch radix), the canonical one-line description, the analytical alpha-beta of a
 * route and the SMPI network flags. Platform files are written by net_xml.c. */
#include "net_private.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned long net_ft_hosts_below(const net_config *c, unsigned level) {
    unsigned long p = 1;
    for (unsigned l = 0; l < level && l < c->ft_levels; l++)
        p *= c->ft_downs[l];
    return p;
}

/* --- topology names and defaults ------------------------------------------------------ */
const char *net_topology_name(net_topology t) {
    const net_topology_type *type = net_topology_get(t);
    return type ? type->name : "?";
}

void net_config_default(net_config *c, net_topology topo) {
    net_spec s;
    net_spec_default(&s, topo);
    *c = s.c;
}

/* --- validation ------------------------------------------------------------------------ */
static int check_pos(const char *what, double x, int allow_zero, qsgd_err *err) {
    if (!isfinite(x) || x < 0 || (!allow_zero && x == 0))
        return QSGD_FAIL(err, QSGD_EINVAL, "%s must be %s and finite (got %g)", what,
                         allow_zero ? ">= 0" : "> 0", x);
    return QSGD_OK;
}

/* Derive a full-bisection PGFT from hosts and radix: one switch if hosts <= radix, else
 * levels whose switches use radix/2 ports down and radix/2 up (downs chosen as the largest
 * divisor of what is left <= radix/2), with a top level of <= radix downs. */
static int ft_derive(net_config *c, qsgd_err *err) {
    unsigned h = c->hosts, r = c->radix, d = c->radix / 2, rem = h, l = 0;
    if (r < 2)
        return QSGD_FAIL(err, QSGD_EINVAL, "fat-tree: radix must be >= 2 (got %u)", r);
    while (rem > r) {
        unsigned best = 0;
        for (unsigned f = d; f >= 2 && !best; f--)
            if (rem % f == 0)
                best = f;
        if (!best || l + 1 >= NET_FT_MAX_LEVELS)
            return QSGD_FAIL(err, QSGD_EINVAL,
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
    return QSGD_OK;
}

int net_config_validate(net_config *c, qsgd_err *err) {
    int rc;
    if (!net_topology_get(c->topology))
        return QSGD_FAIL(err, QSGD_EINVAL, "unknown topology %d", (int)c->topology);
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
            return QSGD_FAIL(err, QSGD_EINVAL, "%s: nodes must be in [1, %u] (got %u)", t,
                             NET_MAX_NODES, c->nodes);
        if (c->gpus < 1 || c->gpus > NET_MAX_HOSTS / c->nodes)
            return QSGD_FAIL(err, QSGD_EINVAL, "%s: gpus must be >= 1 and nodes*gpus <= %u", t,
                             NET_MAX_HOSTS);
        c->hosts = c->nodes * c->gpus;
    } else if (c->topology == NET_TOPO_P2) {
        if ((rc = check_pos("die_bw", c->dev_bw, 0, err)) ||
            (rc = check_pos("die_lat", c->dev_lat, 1, err)) ||
            (rc = check_pos("board_bw", c->board_bw, 0, err)) ||
            (rc = check_pos("board_lat", c->board_lat, 1, err)) ||
            (rc = check_pos("root_bw", c->root_bw, 0, err)) ||
            (rc = check_pos("root_lat", c->root_lat, 1, err)) ||
            (rc = check_pos("mem_bw", c->mem_bw, 0, err)) ||
            (rc = check_pos("mem_lat", c->mem_lat, 1, err)) ||
            (rc = check_pos("qpi_bw", c->qpi_bw, 0, err)) ||
            (rc = check_pos("qpi_lat", c->qpi_lat, 1, err)))
            return rc;
        if (c->hosts < 1 || c->hosts > NET_P2_GPUS)
            return QSGD_FAIL(err, QSGD_EINVAL, "%s: hosts must be in [1, %d] (got %u)", t,
                             NET_P2_GPUS, c->hosts);
        if (c->boards_per_root != 1 && c->boards_per_root != 2 && c->boards_per_root != 4)
            return QSGD_FAIL(err, QSGD_EINVAL, "%s: boards_per_root must be 1, 2 or 4 (got %u)", t,
                             c->boards_per_root);
        if (c->bb_bw > 0)
            return QSGD_FAIL(err, QSGD_EINVAL, "%s: no backbone (bb_bw)", t);
    } else if (c->bb_lat > 0 && c->bb_bw == 0) {
        return QSGD_FAIL(err, QSGD_EINVAL, "%s: bb_lat given without bb_bw", t);
    }
    if (c->hosts < 1 || c->hosts > NET_MAX_HOSTS)
        return QSGD_FAIL(err, QSGD_EINVAL, "%s: hosts must be in [1, %u] (got %u)", t,
                         NET_MAX_HOSTS, c->hosts);
    if (c->topology == NET_TOPO_FAT_TREE) {
        if (c->bb_bw > 0)
            return QSGD_FAIL(err, QSGD_EINVAL, "fat-tree: no backbone (bb_bw); use the tree");
        if (c->ft_levels == 0)
            return ft_derive(c, err);
        if (c->ft_levels > NET_FT_MAX_LEVELS)
            return QSGD_FAIL(err, QSGD_EINVAL, "fat-tree: at most %d levels (got %u)",
                             NET_FT_MAX_LEVELS, c->ft_levels);
        unsigned long prod = 1;
        for (unsigned l = 0; l < c->ft_levels; l++) {
            if (c->ft_downs[l] < 1 || c->ft_ups[l] < 1 || c->ft_parallels[l] < 1)
                return QSGD_FAIL(err, QSGD_EINVAL,
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
            return QSGD_FAIL(err, QSGD_EINVAL,
                             "fat-tree: the product of downs (%s = %lu) must equal hosts (%u)",
                             list, prod, c->hosts);
        }
    }
    return QSGD_OK;
}

/* --- p2.16xlarge routes ------------------------------------------------------------------ */
int net_p2_route(const net_config *c, unsigned src, unsigned dst, net_p2_hop *hops) {
    unsigned bs = src / 2, bd = dst / 2, bpr = c->boards_per_root ? c->boards_per_root : 1;
    unsigned ss = bs / (NET_P2_BOARDS / 2), sd = bd / (NET_P2_BOARDS / 2);
    int n = 0;
    hops[n++] = (net_p2_hop){NET_P2_GPU, src, 1};
    hops[n++] = (net_p2_hop){NET_P2_BOARD, bs, 1};
    hops[n++] = (net_p2_hop){NET_P2_ROOT, bs / bpr, 1};
    hops[n++] = (net_p2_hop){NET_P2_MEM, ss, 1};
    if (ss != sd) { /* staged on both sides of QPI */
        hops[n++] = (net_p2_hop){NET_P2_QPI, 0, ss < sd};
        hops[n++] = (net_p2_hop){NET_P2_MEM, sd, 1};
    }
    hops[n++] = (net_p2_hop){NET_P2_ROOT, bd / bpr, 0};
    hops[n++] = (net_p2_hop){NET_P2_BOARD, bd, 0};
    hops[n++] = (net_p2_hop){NET_P2_GPU, dst, 0};
    return n;
}

void net_p2_link(const net_config *c, net_p2_kind kind, double *bw, double *lat) {
    switch (kind) {
    case NET_P2_GPU:
        *bw = c->dev_bw, *lat = c->dev_lat;
        return;
    case NET_P2_BOARD:
        *bw = c->board_bw, *lat = c->board_lat;
        return;
    case NET_P2_ROOT:
        *bw = c->root_bw, *lat = c->root_lat;
        return;
    case NET_P2_MEM:
        *bw = c->mem_bw, *lat = c->mem_lat;
        return;
    case NET_P2_QPI:
        *bw = c->qpi_bw, *lat = c->qpi_lat;
        return;
    }
    *bw = 0, *lat = 0;
}

void net_p2_link_id(net_p2_kind kind, unsigned idx, char *buf, size_t len) {
    static const char *const fmt[] = {"gpu%u-link", "board%u-link", "root%u-link", "socket%u-mem",
                                      "qpi"};
    if (kind == NET_P2_QPI)
        snprintf(buf, len, "qpi");
    else
        snprintf(buf, len, fmt[kind], idx);
}

/* --- spec parsing: generic over the topology's option table ----------------------------- */
int net_config_parse(const char *spec, net_config *c, qsgd_err *err) {
    if (!spec || !*spec)
        return QSGD_FAIL(err, QSGD_EINVAL, "empty network spec (expected topology:key=value,...)");
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    const net_topology_type *t = net_topology_find(spec, nlen);
    if (!t) {
        char names[128];
        net_topology_names(names, sizeof names);
        return QSGD_FAIL(err, QSGD_EINVAL, "unknown topology '%.*s' in '%s' (valid: %s)", (int)nlen,
                         spec, spec, names);
    }
    net_spec s;
    net_spec_default(&s, t->id);
    uint64_t given = 0;
    char msg[sizeof err->msg];
    if (qsgd_opt_parse(t->opts, t->name, colon ? colon + 1 : "", &s, &given, msg, sizeof msg))
        return QSGD_FAIL(err, QSGD_EINVAL, "%s", msg);
    int rc = t->resolve ? t->resolve(&s, given, err) : QSGD_OK;
    if (rc)
        return rc;
    *c = s.c;
    return net_config_validate(c, err);
}

/* --- description: the topology's rows, from a validated copy ------------------------------ */
int net_describe(const net_config *cfg, char *buf, size_t len, qsgd_err *err) {
    net_spec s = {.c = *cfg};
    int rc = net_config_validate(&s.c, err);
    if (rc)
        return rc;
    const net_config *c = &s.c;
    /* the lists as the rows hold them */
    s.levels = c->ft_levels;
    s.ndowns = s.nups = s.nparallels = (int)c->ft_levels;
    for (unsigned l = 0; l < c->ft_levels && l < NET_FT_MAX_LEVELS; l++) {
        s.downs[l] = c->ft_downs[l];
        s.ups[l] = c->ft_ups[l];
        s.parallels[l] = c->ft_parallels[l];
    }
    const net_topology_type *t = net_topology_get(c->topology);
    char full[1024];
    if (qsgd_opt_describe(t->opts, t->name, &s, full, sizeof full))
        return QSGD_FAIL(err, QSGD_ENOSPC, "net_describe: description longer than %zu bytes",
                         sizeof full);
    size_t need = strlen(full) + 1;
    if (need > len)
        return QSGD_FAIL(err, QSGD_ENOSPC, "net_describe: buffer of %zu bytes too small (need %zu)",
                         len, need);
    memcpy(buf, full, need);
    return QSGD_OK;
}

/* --- analytical alpha-beta ------------------------------------------------------------- */
int net_alpha_beta(const net_config *cfg, unsigned src, unsigned dst, double *alpha, double *beta,
                   qsgd_err *err) {
    net_config c = *cfg;
    int rc = net_config_validate(&c, err);
    if (rc)
        return rc;
    if (src >= c.hosts || dst >= c.hosts)
        return QSGD_FAIL(err, QSGD_EINVAL, "net_alpha_beta: ranks %u, %u out of range [0, %u)", src,
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
    } else if (c.topology == NET_TOPO_P2) {
        net_p2_hop hops[NET_P2_MAX_HOPS];
        int n = net_p2_route(&c, src, dst, hops);
        a = 0;
        b = HUGE_VAL;
        for (int h = 0; h < n; h++) {
            double hb, hl;
            net_p2_link(&c, hops[h].kind, &hb, &hl);
            a += hl;
            b = fmin(b, hb);
        }
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
    return QSGD_OK;
}

/* --- SMPI flags ------------------------------------------------------------------------ */
const char *net_smpi_model_name(net_smpi_model m) {
    return m == NET_SMPI_CM02 ? "cm02" : m == NET_SMPI_DEFAULT ? "default" : "?";
}

int net_smpi_model_parse(const char *name, net_smpi_model *out, qsgd_err *err) {
    if (name && (!strcmp(name, "cm02") || !strcmp(name, "exact"))) {
        *out = NET_SMPI_CM02;
        return QSGD_OK;
    }
    if (name && (!strcmp(name, "default") || !strcmp(name, "smpi"))) {
        *out = NET_SMPI_DEFAULT;
        return QSGD_OK;
    }
    return QSGD_FAIL(err, QSGD_EINVAL, "unknown SMPI network model '%s' (valid: cm02, default)",
                     name ? name : "(null)");
}

int net_smpi_flags(const net_config *c, net_smpi_model model, char *buf, size_t len,
                   qsgd_err *err) {
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
        return QSGD_FAIL(err, QSGD_EINVAL, "unknown SMPI network model %d", (int)model);
    }
    if (strlen(flags) >= len)
        return QSGD_FAIL(err, QSGD_ENOSPC, "net_smpi_flags: buffer of %zu bytes too small", len);
    strcpy(buf, flags);
    return QSGD_OK;
}
