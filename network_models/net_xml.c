/* net_xml.c — writes a validated net_config as a SimGrid 3.32 platform (DTD 4.1) and an
 * SMPI hostfile, each through a temporary file renamed into place (common/qsgd_file.h).
 *
 * SimGrid 3.32 notes (measured here): <cluster> links are SPLITDUPLEX by default (a flow
 * each way gets the full bandwidth; the attribute sharing_policy is accepted but left to
 * its default); a cluster's router is named by router_id; zones that contain zones cannot
 * hold a <router>, so the inter-node switch of multi-gpu-nodes is a leaf zone holding one
 * router, joined to every node by zoneRoutes under Floyd routing (2 routes per node rather
 * than N(N-1) under Full). */
#include "net_private.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qsgd_file.h"

int net_host_name(const net_config *c, unsigned rank, char *buf, size_t len, qsgd_err *err) {
    int w;
    if (c->topology == NET_TOPO_MULTI_GPU) {
        if (c->gpus == 0 || rank >= c->nodes * c->gpus)
            return QSGD_FAIL(err, QSGD_EINVAL, "rank %u out of range", rank);
        w = snprintf(buf, len, "node%u-gpu%u", rank / c->gpus, rank % c->gpus);
    } else if (c->topology == NET_TOPO_P2) {
        if (rank >= c->hosts)
            return QSGD_FAIL(err, QSGD_EINVAL, "rank %u out of range", rank);
        w = snprintf(buf, len, "gpu%u", rank);
    } else {
        if (rank >= c->hosts)
            return QSGD_FAIL(err, QSGD_EINVAL, "rank %u out of range", rank);
        w = snprintf(buf, len, "host%u", rank);
    }
    if (w < 0 || (size_t)w >= len)
        return QSGD_FAIL(err, QSGD_ENOSPC, "host name buffer too small");
    return QSGD_OK;
}

#define HEADER                                                                                     \
    "<?xml version='1.0'?>\n"                                                                      \
    "<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n"                             \
    "<platform version=\"4.1\">\n"

/* Attributes common to every <cluster>: speed, link bandwidth/latency (one hop), loopback. */
static void cluster_attrs(FILE *f, const net_config *c, double bw, double hop_lat) {
    char a[32], b[32];
    fprintf(f, " speed=\"%sf\"", net_fmt_num(c->speed, a));
    fprintf(f, " bw=\"%sBps\" lat=\"%ss\"", net_fmt_num(bw, a), net_fmt_num(hop_lat, b));
    fprintf(f, " loopback_bw=\"%sBps\" loopback_lat=\"%ss\"", net_fmt_num(c->loopback_bw, a),
            net_fmt_num(c->loopback_lat, b));
}

static void emit_star(FILE *f, const net_config *c) {
    char a[32], b[32];
    fprintf(f, "<zone id=\"world\" routing=\"Full\">\n");
    fprintf(f, "  <cluster id=\"star\" prefix=\"host\" suffix=\"\" radical=\"0-%u\"", c->hosts - 1);
    cluster_attrs(f, c, c->bw, c->lat / 2);
    if (c->bb_bw > 0)
        fprintf(f, " bb_bw=\"%sBps\" bb_lat=\"%ss\" bb_sharing_policy=\"%s\"",
                net_fmt_num(c->bb_bw, a), net_fmt_num(c->bb_lat, b),
                c->bb_fatpipe ? "FATPIPE" : "SHARED");
    fprintf(f, "/>\n</zone>\n");
}

static void emit_fat_tree(FILE *f, const net_config *c) {
    const unsigned *lists[3] = {c->ft_downs, c->ft_ups, c->ft_parallels};
    fprintf(f, "<zone id=\"world\" routing=\"Full\">\n");
    fprintf(f, "  <cluster id=\"fattree\" prefix=\"host\" suffix=\"\" radical=\"0-%u\"",
            c->hosts - 1);
    cluster_attrs(f, c, c->bw, c->lat / 2);
    fprintf(f, " topology=\"FAT_TREE\" topo_parameters=\"%u", c->ft_levels);
    for (int j = 0; j < 3; j++) {
        fputc(';', f);
        for (unsigned l = 0; l < c->ft_levels; l++)
            fprintf(f, "%s%u", l ? "," : "", lists[j][l]);
    }
    fprintf(f, "\"/>\n</zone>\n");
}

static void emit_multi_gpu(FILE *f, const net_config *c) {
    char a[32], b[32];
    fprintf(f, "<zone id=\"world\" routing=\"%s\">\n", c->nodes > 1 ? "Floyd" : "Full");
    for (unsigned n = 0; n < c->nodes; n++) {
        fprintf(f,
                "  <cluster id=\"node%u\" prefix=\"node%u-gpu\" suffix=\"\" radical=\"0-%u\" "
                "router_id=\"node%u-router\"",
                n, n, c->gpus - 1, n);
        cluster_attrs(f, c, c->gpu_bw, c->gpu_lat / 2);
        fprintf(f, "/>\n");
    }
    if (c->nodes > 1) {
        fprintf(f,
                "  <zone id=\"switch\" routing=\"Full\"><router id=\"switch-router\"/></zone>\n");
        for (unsigned n = 0; n < c->nodes; n++)
            fprintf(f,
                    "  <link id=\"node%u-nic\" bandwidth=\"%sBps\" latency=\"%ss\" "
                    "sharing_policy=\"SPLITDUPLEX\"/>\n",
                    n, net_fmt_num(c->bw, a), net_fmt_num(c->lat / 2, b));
        if (c->bb_bw > 0)
            fprintf(f,
                    "  <link id=\"core\" bandwidth=\"%sBps\" latency=\"%ss\" "
                    "sharing_policy=\"%s\"/>\n",
                    net_fmt_num(c->bb_bw, a), net_fmt_num(c->bb_lat, b),
                    c->bb_fatpipe ? "FATPIPE" : "SHARED");
        /* Up routes carry the core link, so that a node-to-node route crosses it once. */
        for (unsigned n = 0; n < c->nodes; n++) {
            fprintf(f,
                    "  <zoneRoute src=\"node%u\" dst=\"switch\" gw_src=\"node%u-router\" "
                    "gw_dst=\"switch-router\" symmetrical=\"NO\"><link_ctn id=\"node%u-nic\" "
                    "direction=\"UP\"/>%s</zoneRoute>\n",
                    n, n, n, c->bb_bw > 0 ? "<link_ctn id=\"core\"/>" : "");
            fprintf(f,
                    "  <zoneRoute src=\"switch\" dst=\"node%u\" gw_src=\"switch-router\" "
                    "gw_dst=\"node%u-router\" symmetrical=\"NO\"><link_ctn id=\"node%u-nic\" "
                    "direction=\"DOWN\"/></zoneRoute>\n",
                    n, n, n);
        }
    }
    fprintf(f, "</zone>\n");
}

/* p2.16xlarge: one Full zone of the GPUs in use, every link of the PCIe tree they reach
 * (split-duplex, except host memory: one link that both directions share) and an explicit
 * route per ordered pair (net_p2_route: up to the socket's memory, over QPI and the other
 * socket's memory between sockets, down), plus a loopback link per GPU. */
static void emit_p2(FILE *f, const net_config *c) {
    char a[32], b[32], id[32];
    fprintf(f, "<zone id=\"world\" routing=\"Full\">\n");
    for (unsigned g = 0; g < c->hosts; g++)
        fprintf(f, "  <host id=\"gpu%u\" speed=\"%sf\"/>\n", g, net_fmt_num(c->speed, a));
    unsigned bpr = c->boards_per_root, boards = (c->hosts + 1) / 2;
    unsigned roots = (boards + bpr - 1) / bpr, sockets = boards > NET_P2_BOARDS / 2 ? 2 : 1;
    const struct {
        net_p2_kind kind;
        unsigned n;
    } links[] = {{NET_P2_GPU, c->hosts},
                 {NET_P2_BOARD, boards},
                 {NET_P2_ROOT, roots},
                 {NET_P2_MEM, sockets},
                 {NET_P2_QPI, sockets > 1}};
    for (size_t k = 0; k < sizeof links / sizeof links[0]; k++)
        for (unsigned i = 0; i < links[k].n; i++) {
            double bw, lat;
            net_p2_link(c, links[k].kind, &bw, &lat);
            net_p2_link_id(links[k].kind, i, id, sizeof id);
            fprintf(
                f,
                "  <link id=\"%s\" bandwidth=\"%sBps\" latency=\"%ss\" sharing_policy=\"%s\"/>\n",
                id, net_fmt_num(bw, a), net_fmt_num(lat, b),
                links[k].kind == NET_P2_MEM ? "SHARED" : "SPLITDUPLEX");
        }
    for (unsigned g = 0; g < c->hosts; g++)
        fprintf(f,
                "  <link id=\"gpu%u-lo\" bandwidth=\"%sBps\" latency=\"%ss\" "
                "sharing_policy=\"FATPIPE\"/>\n",
                g, net_fmt_num(c->loopback_bw, a), net_fmt_num(c->loopback_lat, b));
    for (unsigned s = 0; s < c->hosts; s++)
        for (unsigned d = 0; d < c->hosts; d++) {
            fprintf(f, "  <route src=\"gpu%u\" dst=\"gpu%u\" symmetrical=\"NO\">", s, d);
            if (s == d) {
                fprintf(f, "<link_ctn id=\"gpu%u-lo\"/>", s);
            } else {
                net_p2_hop hops[NET_P2_MAX_HOPS];
                int n = net_p2_route(c, s, d, hops);
                for (int h = 0; h < n; h++) {
                    net_p2_link_id(hops[h].kind, hops[h].idx, id, sizeof id);
                    if (hops[h].kind == NET_P2_MEM)
                        fprintf(f, "<link_ctn id=\"%s\"/>", id);
                    else
                        fprintf(f, "<link_ctn id=\"%s\" direction=\"%s\"/>", id,
                                hops[h].up ? "UP" : "DOWN");
                }
            }
            fprintf(f, "</route>\n");
        }
    fprintf(f, "</zone>\n");
}

static int emit_platform(FILE *f, const net_config *c, qsgd_err *err) {
    char desc[1024];
    int rc = net_describe(c, desc, sizeof desc, err);
    if (rc)
        return rc;
    fputs(HEADER, f);
    /* "--" may not appear inside an XML comment; the description never contains it. */
    fprintf(f, "<!-- qsgdsim network_models: %s -->\n", desc);
    switch (c->topology) {
    case NET_TOPO_STAR:
        emit_star(f, c);
        break;
    case NET_TOPO_FAT_TREE:
        emit_fat_tree(f, c);
        break;
    case NET_TOPO_MULTI_GPU:
        emit_multi_gpu(f, c);
        break;
    case NET_TOPO_P2:
        emit_p2(f, c);
        break;
    case NET_TOPO_COUNT: /* refused by net_config_validate */
        break;
    }
    fputs("</platform>\n", f);
    return QSGD_OK;
}

static int emit_hostfile(FILE *f, const net_config *c, qsgd_err *err) {
    char name[64];
    for (unsigned r = 0; r < c->hosts; r++) {
        int rc = net_host_name(c, r, name, sizeof name, err);
        if (rc)
            return rc;
        fprintf(f, "%s\n", name);
    }
    return QSGD_OK;
}

/* Write path through a unique temporary beside it + rename (qsgd_file.h), so readers never
 * see a partial file; on any failure the temporary is removed. */
static int write_atomic(const char *path, int (*emit)(FILE *, const net_config *, qsgd_err *),
                        const net_config *c, qsgd_err *err) {
    char tmp[PATH_MAX + 64], msg[2 * PATH_MAX + 256];
    FILE *f = qsgd_file_open(path, NULL, tmp, sizeof tmp, msg, sizeof msg);
    if (!f)
        return QSGD_FAIL(err, QSGD_EIO, "%s", msg);
    int rc = emit(f, c, err);
    if (rc != QSGD_OK) {
        qsgd_file_abandon(f, tmp, 0);
        return rc;
    }
    int errnum = 0;
    if (qsgd_file_commit(f, &errnum, tmp, path, 0, msg, sizeof msg) != 0)
        return QSGD_FAIL(err, QSGD_EIO, "%s", msg);
    return QSGD_OK;
}

int net_write_platform(const net_config *cfg, const char *xml_path, const char *hostfile_path,
                       qsgd_err *err) {
    net_config c = *cfg;
    int rc = net_config_validate(&c, err);
    if (rc)
        return rc;
    if (!xml_path)
        return QSGD_FAIL(err, QSGD_EINVAL, "net_write_platform: no XML path");
    if ((rc = write_atomic(xml_path, emit_platform, &c, err)))
        return rc;
    if (hostfile_path)
        rc = write_atomic(hostfile_path, emit_hostfile, &c, err);
    return rc;
}
