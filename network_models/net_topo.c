/* net_topo.c — the topology registry: each topology (star, fat-tree, multi-gpu-nodes) is a
 * type table holding its keys as qsgd_opt rows (into a net_spec), the properties callers
 * need (the SMPI allgather that suits it) and a resolve hook for what only it knows (link
 * presets vs explicit values, fat-tree lists, nodes vs hosts). net.c's parser, describe and
 * the listing are generic over these tables. */
#include "net_private.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* --- units --------------------------------------------------------------------------- */
static const qsgd_opt_unit bw_units[] = {
    {"bps", 1, 8},     {"Kbps", 1e3, 8},  {"kbps", 1e3, 8},  {"Mbps", 1e6, 8},  {"Gbps", 1e9, 8},
    {"Tbps", 1e12, 8}, {"b/s", 1, 8},     {"Kb/s", 1e3, 8},  {"kb/s", 1e3, 8},  {"Mb/s", 1e6, 8},
    {"Gb/s", 1e9, 8},  {"Tb/s", 1e12, 8}, {"Bps", 1, 1},     {"KBps", 1e3, 1},  {"kBps", 1e3, 1},
    {"MBps", 1e6, 1},  {"GBps", 1e9, 1},  {"TBps", 1e12, 1}, {"B/s", 1, 1},     {"KB/s", 1e3, 1},
    {"kB/s", 1e3, 1},  {"MB/s", 1e6, 1},  {"GB/s", 1e9, 1},  {"TB/s", 1e12, 1}, {NULL, 0, 0},
};
static const qsgd_opt_unit time_units[] = {
    {"s", 1, 1}, {"ms", 1, 1e3}, {"us", 1, 1e6}, {"ns", 1, 1e9}, {NULL, 0, 0},
};
static const qsgd_opt_unit speed_units[] = {
    {"f", 1, 1},    {"kf", 1e3, 1},  {"Kf", 1e3, 1},  {"Mf", 1e6, 1},
    {"Gf", 1e9, 1}, {"Tf", 1e12, 1}, {"Pf", 1e15, 1}, {NULL, 0, 0},
};
static const qsgd_opt_units u_bw = {
    "Bps", "bps, Kbps, Mbps, Gbps, Tbps, Bps, KBps, MBps, GBps, TBps (or Gb/s, GB/s, ...)",
    bw_units};
static const qsgd_opt_units u_time = {"s", "s, ms, us, ns", time_units};
static const qsgd_opt_units u_speed = {"f", "f, kf, Mf, Gf, Tf, Pf", speed_units};

/* --- hooks of the rows ----------------------------------------------------------------- */
static int check_preset(const char *val, char *valid, size_t vlen) {
    if (val && net_preset_find(val))
        return 0;
    size_t off = 0;
    valid[0] = '\0';
    for (const net_preset *const *p = net_presets(); *p && off < vlen; p++)
        off += (size_t)snprintf(valid + off, vlen - off, "%s%s", off ? ", " : "", (*p)->name);
    return -1;
}

static int shown_link(const void *p) {
    return ((const net_spec *)p)->c.link[0] != '\0';
}
static int shown_gpu_link(const void *p) {
    return ((const net_spec *)p)->c.gpu_link[0] != '\0';
}
static int shown_bb(const void *p) {
    return ((const net_spec *)p)->c.bb_bw > 0;
}

static const qsgd_opt_choice sharing[] = {{"shared", 0}, {"fatpipe", 1}, {NULL, 0}};

#define F(field) offsetof(net_spec, field)

/* Rows shared by several topologies (each table lists them in its description order). */
#define ROW_HOSTS(lo_def, flg)                                                                     \
    {                                                                                              \
        .name = "hosts", .kind = QSGD_OPT_UINT, .offset = F(c.hosts), .min = 1,                    \
        .max = NET_MAX_HOSTS, .def = lo_def, .meta = "N", .flags = flg,                            \
        .help = "number of hosts = ranks"                                                          \
    }
#define ROW_SPEED                                                                                  \
    {                                                                                              \
        .name = "speed", .kind = QSGD_OPT_UNIT, .offset = F(c.speed), .units = &u_speed,           \
        .dmax = HUGE_VAL, .def = "1Gf", .meta = "FLOPS", .help = "flop/s of every host"            \
    }
#define ROW_LINK(key, field, def_, what)                                                           \
    {                                                                                              \
        .name = key, .kind = QSGD_OPT_STRING, .offset = F(c.field),                                \
        .len = sizeof(((net_config *)0)->field), .check = check_preset, .def = def_,               \
        .meta = "PRESET", .shown = shown_##field,                                                  \
        .help = what " preset (sets bandwidth and latency; explicit values override it)"           \
    }
#define ROW_BW(key, field, what)                                                                   \
    {                                                                                              \
        .name = key, .kind = QSGD_OPT_UNIT, .offset = F(c.field), .units = &u_bw,                  \
        .dmax = HUGE_VAL, .meta = "BW", .flags = QSGD_OPT_DERIVED,                                 \
        .help = what " bandwidth per direction (default: the preset's)"                            \
    }
#define ROW_LAT(key, field, what)                                                                  \
    {                                                                                              \
        .name = key, .kind = QSGD_OPT_UNIT, .offset = F(c.field), .units = &u_time,                \
        .dmax = HUGE_VAL, .meta = "TIME", .flags = QSGD_OPT_DERIVED,                               \
        .help = what " one-way latency through one switch (two hops; default: the preset's)"       \
    }
#define ROW_BB(what)                                                                               \
    {.name = "bb_bw",                                                                              \
     .kind = QSGD_OPT_UNIT,                                                                        \
     .offset = F(c.bb_bw),                                                                         \
     .units = &u_bw,                                                                               \
     .dmax = HUGE_VAL,                                                                             \
     .def = "0Bps",                                                                                \
     .meta = "BW",                                                                                 \
     .shown = shown_bb,                                                                            \
     .help = what " bandwidth (0: none)"},                                                         \
        {.name = "bb_lat",                                                                         \
         .kind = QSGD_OPT_UNIT,                                                                    \
         .offset = F(c.bb_lat),                                                                    \
         .units = &u_time,                                                                         \
         .dmax = HUGE_VAL,                                                                         \
         .def = "0s",                                                                              \
         .meta = "TIME",                                                                           \
         .shown = shown_bb,                                                                        \
         .help = what " latency (one hop)"},                                                       \
    {                                                                                              \
        .name = "bb_sharing", .kind = QSGD_OPT_ENUM, .offset = F(c.bb_fatpipe),                    \
        .choices = sharing, .def = "shared", .shown = shown_bb,                                    \
        .help = "flows on the " what " share its bandwidth, or each gets all of it"                \
    }
#define ROW_LOOPBACK                                                                               \
    {.name = "loopback_bw",                                                                        \
     .kind = QSGD_OPT_UNIT,                                                                        \
     .offset = F(c.loopback_bw),                                                                   \
     .units = &u_bw,                                                                               \
     .dmax = HUGE_VAL,                                                                             \
     .def = "100GBps",                                                                             \
     .meta = "BW",                                                                                 \
     .help = "bandwidth of a rank to itself"},                                                     \
    {                                                                                              \
        .name = "loopback_lat", .kind = QSGD_OPT_UNIT, .offset = F(c.loopback_lat),                \
        .units = &u_time, .dmax = HUGE_VAL, .def = "0s", .meta = "TIME",                           \
        .help = "latency of a rank to itself"                                                      \
    }
#define BIT(i) ((uint64_t)1 << (i))

/* A link preset and its overrides: a given preset sets the values not given explicitly (in
 * any order); values given without a preset make the link explicit (no preset name). */
static void apply_preset(char *name, size_t nlen, double *bw, double *lat, int name_given,
                         int bw_given, int lat_given) {
    const net_preset *p = net_preset_find(name);
    if (name_given && p) {
        snprintf(name, nlen, "%s", p->name); /* canonical spelling: "10gbe" -> "10GbE" */
        if (!bw_given)
            *bw = p->bw;
        if (!lat_given)
            *lat = p->lat;
    } else if (bw_given || lat_given) {
        name[0] = '\0';
    } else if (p) { /* the default preset */
        *bw = p->bw;
        *lat = p->lat;
    }
}

/* --- figure labels (net_spec_label) ------------------------------------------------------
 * Labels use the values as the user wrote them ("1Gbps" stays "1Gbps", "10gbe" "10gbe"), so
 * they read the spec's text, not the parsed config. */

/* The network links of a spec as written: link= or else bw= ("" when neither is given). */
static int spec_link(const char *spec, char *out, size_t len) {
    return qsgd_spec_value(spec, "link", out, len) || qsgd_spec_value(spec, "bw", out, len);
}

/* The label of a topology without a label hook: "NAME LINK" (the name as written) when the
 * link is given, else the spec itself. */
static int default_label(const char *spec, char *out, size_t len) {
    char link[64];
    int w = spec_link(spec, link, sizeof link)
                ? snprintf(out, len, "%.*s %s", (int)strcspn(spec, ":"), spec, link)
                : snprintf(out, len, "%s", spec);
    return w >= 0 && (size_t)w < len ? 0 : -1;
}

/* --- star ------------------------------------------------------------------------------- */
enum {
    ST_HOSTS,
    ST_SPEED,
    ST_LINK,
    ST_BW,
    ST_LAT,
    ST_BB_BW,
    ST_BB_LAT,
    ST_BB_SHARING,
    ST_LB_BW,
    ST_LB_LAT,
    ST_NOPTS
};
static const qsgd_opt star_opts[ST_NOPTS + 1] = {
    ROW_HOSTS("16", 0),
    ROW_SPEED,
    ROW_LINK("link", link, "10GbE", "network"),
    ROW_BW("bw", bw, "link"),
    ROW_LAT("lat", lat, "link"),
    ROW_BB("backbone"),
    ROW_LOOPBACK,
    {.name = NULL},
};
_Static_assert(sizeof star_opts / sizeof star_opts[0] == ST_NOPTS + 1, "star: a row per key");

static int star_resolve(net_spec *s, uint64_t g, qsgd_err *err) {
    (void)err;
    apply_preset(s->c.link, sizeof s->c.link, &s->c.bw, &s->c.lat, !!(g & BIT(ST_LINK)),
                 !!(g & BIT(ST_BW)), !!(g & BIT(ST_LAT)));
    return QSGD_OK;
}

/* Stars differ by their link: "1GbE" at level 0, "star 1GbE" with detail. */
static int star_label(const char *spec, int level, char *out, size_t len) {
    char link[64];
    if (level > 0 || !spec_link(spec, link, sizeof link))
        return default_label(spec, out, len);
    int w = snprintf(out, len, "%s", link);
    return w >= 0 && (size_t)w < len ? 0 : -1;
}

/* --- fat-tree --------------------------------------------------------------------------- */
enum {
    FT_HOSTS,
    FT_SPEED,
    FT_LINK,
    FT_BW,
    FT_LAT,
    FT_RADIX,
    FT_LEVELS,
    FT_DOWNS,
    FT_UPS,
    FT_PARALLELS,
    FT_LB_BW,
    FT_LB_LAT,
    FT_NOPTS
};
#define ROW_LIST(key, field, what)                                                                 \
    {                                                                                              \
        .name = key, .kind = QSGD_OPT_SIZES, .offset = F(field), .count_offset = F(n##field),      \
        .len = NET_FT_MAX_LEVELS, .min = 1, .max = NET_MAX_HOSTS, .meta = "AxB...",                \
        .flags = QSGD_OPT_DERIVED, .help = what                                                    \
    }
static const qsgd_opt fat_tree_opts[FT_NOPTS + 1] = {
    ROW_HOSTS("16", 0),
    ROW_SPEED,
    ROW_LINK("link", link, "10GbE", "network"),
    ROW_BW("bw", bw, "link"),
    ROW_LAT("lat", lat, "link"),
    {.name = "radix",
     .kind = QSGD_OPT_UINT,
     .offset = F(c.radix),
     .min = 2,
     .max = 65536,
     .def = "48",
     .meta = "PORTS",
     .flags = QSGD_OPT_HIDDEN,
     .help = "switch ports: derive a full-bisection tree (not with levels/downs/ups/parallels)"},
    {.name = "levels",
     .kind = QSGD_OPT_UINT,
     .offset = F(levels),
     .min = 1,
     .max = NET_FT_MAX_LEVELS,
     .meta = "L",
     .flags = QSGD_OPT_HIDDEN | QSGD_OPT_DERIVED,
     .help = "levels of an explicit tree (the length of downs)"},
    ROW_LIST("downs", downs, "children per switch, per level (level 1 first)"),
    ROW_LIST("ups", ups, "parents per node, per level (level 1 first; default: full bisection)"),
    ROW_LIST("parallels", parallels, "parallel links per connection, per level (default: 1s)"),
    ROW_LOOPBACK,
    {.name = NULL},
};
_Static_assert(sizeof fat_tree_opts / sizeof fat_tree_opts[0] == FT_NOPTS + 1,
               "fat-tree: a row per key");

static int fat_tree_resolve(net_spec *s, uint64_t g, qsgd_err *err) {
    net_config *c = &s->c;
    apply_preset(c->link, sizeof c->link, &c->bw, &c->lat, !!(g & BIT(FT_LINK)), !!(g & BIT(FT_BW)),
                 !!(g & BIT(FT_LAT)));
    if (!(g & (BIT(FT_LEVELS) | BIT(FT_DOWNS) | BIT(FT_UPS) | BIT(FT_PARALLELS))))
        return QSGD_OK; /* derived from the radix by net_config_validate */
    if (g & BIT(FT_RADIX))
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "fat-tree: give either radix (derived tree) or "
                         "levels/downs/ups/parallels, not both");
    unsigned nd = (unsigned)s->ndowns, nu = (unsigned)s->nups, np = (unsigned)s->nparallels;
    unsigned levels = s->levels;
    if (nd == 0)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "fat-tree: downs=AxB... is required with ups, "
                         "parallels or levels");
    if ((levels && levels != nd) || (nu && nu != nd) || (np && np != nd))
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "fat-tree: levels (%u), downs (%u), ups (%u) and parallels (%u) "
                         "must agree on the number of levels",
                         levels ? levels : nd, nd, nu ? nu : nd, np ? np : nd);
    c->ft_levels = nd;
    for (unsigned l = 0; l < nd; l++) {
        c->ft_downs[l] = (unsigned)s->downs[l];
        /* default: full bisection, as derived trees */
        c->ft_ups[l] = nu ? (unsigned)s->ups[l] : l == 0 ? 1 : c->ft_downs[l - 1];
        c->ft_parallels[l] = np ? (unsigned)s->parallels[l] : 1;
    }
    return QSGD_OK;
}

/* --- multi-gpu-nodes -------------------------------------------------------------------- */
enum {
    MG_NODES,
    MG_GPUS,
    MG_HOSTS,
    MG_SPEED,
    MG_LINK,
    MG_BW,
    MG_LAT,
    MG_GPU_LINK,
    MG_GPU_BW,
    MG_GPU_LAT,
    MG_BB_BW,
    MG_BB_LAT,
    MG_BB_SHARING,
    MG_LB_BW,
    MG_LB_LAT,
    MG_NOPTS
};
static const qsgd_opt multi_gpu_opts[MG_NOPTS + 1] = {
    {.name = "nodes",
     .kind = QSGD_OPT_UINT,
     .offset = F(c.nodes),
     .min = 1,
     .max = NET_MAX_NODES,
     .def = "1",
     .meta = "N",
     .help = "nodes (default hosts / gpus when hosts is given)"},
    {.name = "gpus",
     .kind = QSGD_OPT_UINT,
     .offset = F(c.gpus),
     .min = 1,
     .max = NET_MAX_HOSTS,
     .def = "16",
     .meta = "G",
     .help = "GPUs per node (16: AWS p2.16xlarge)"},
    ROW_HOSTS("16", QSGD_OPT_DERIVED),
    ROW_SPEED,
    ROW_LINK("link", link, "10GbE", "NIC"),
    ROW_BW("bw", bw, "NIC"),
    ROW_LAT("lat", lat, "NIC"),
    ROW_LINK("gpu_link", gpu_link, "PCIe3x16", "GPU link"),
    ROW_BW("gpu_bw", gpu_bw, "GPU link"),
    ROW_LAT("gpu_lat", gpu_lat, "GPU-to-GPU (in a node)"),
    ROW_BB("core link between the NICs"),
    ROW_LOOPBACK,
    {.name = NULL},
};
_Static_assert(sizeof multi_gpu_opts / sizeof multi_gpu_opts[0] == MG_NOPTS + 1,
               "multi-gpu-nodes: a row per key");

static int multi_gpu_resolve(net_spec *s, uint64_t g, qsgd_err *err) {
    net_config *c = &s->c;
    apply_preset(c->link, sizeof c->link, &c->bw, &c->lat, !!(g & BIT(MG_LINK)), !!(g & BIT(MG_BW)),
                 !!(g & BIT(MG_LAT)));
    apply_preset(c->gpu_link, sizeof c->gpu_link, &c->gpu_bw, &c->gpu_lat, !!(g & BIT(MG_GPU_LINK)),
                 !!(g & BIT(MG_GPU_BW)), !!(g & BIT(MG_GPU_LAT)));
    if (!(g & BIT(MG_HOSTS)))
        return QSGD_OK; /* hosts = nodes * gpus, by net_config_validate */
    if (!(g & BIT(MG_NODES))) {
        if (c->hosts % c->gpus)
            return QSGD_FAIL(err, QSGD_EINVAL,
                             "multi-gpu-nodes: hosts=%u is not a multiple of gpus=%u", c->hosts,
                             c->gpus);
        c->nodes = c->hosts / c->gpus;
    } else if ((unsigned long)c->nodes * c->gpus != c->hosts) {
        return QSGD_FAIL(err, QSGD_EINVAL, "multi-gpu-nodes: hosts=%u but nodes*gpus = %u*%u",
                         c->hosts, c->nodes, c->gpus);
    }
    return QSGD_OK;
}

/* "NODESxGPUS GPU_LINK + LINK" ("2x4 PCIe3x16 + 10GbE"; "?" for a count not given, "GPUs"
 * for a GPU link not given); one node, or no NIC link given: "NODESxGPUS GPU_LINK". The
 * same at every level: the shape is the detail. */
static int multi_gpu_label(const char *spec, int level, char *out, size_t len) {
    (void)level;
    char nodes[16] = "?", gpus[16] = "?", link[64], gpu_link[64];
    int has_link = spec_link(spec, link, sizeof link);
    qsgd_spec_value(spec, "nodes", nodes, sizeof nodes);
    qsgd_spec_value(spec, "gpus", gpus, sizeof gpus);
    if (!qsgd_spec_value(spec, "gpu_link", gpu_link, sizeof gpu_link) &&
        !qsgd_spec_value(spec, "gpu_bw", gpu_link, sizeof gpu_link))
        snprintf(gpu_link, sizeof gpu_link, "GPUs");
    int w = has_link && strcmp(nodes, "1") != 0
                ? snprintf(out, len, "%sx%s %s + %s", nodes, gpus, gpu_link, link)
                : snprintf(out, len, "%sx%s %s", nodes, gpus, gpu_link);
    return w >= 0 && (size_t)w < len ? 0 : -1;
}

/* --- p2.16xlarge -------------------------------------------------------------------------
 * AWS p2.16xlarge, the paper's machine (docs/platforms.md has the table with sources):
 * 16 GK210 = 8 Tesla K80 boards (AWS instance page: 16 K80 GPUs, 2 x Xeon E5-2686 v4), each
 * board two GK210 behind its own PCIe switch (NVIDIA K80 board: a PLX PEX8747 48-lane Gen3
 * switch, x16 per GPU and x16 up). Eight x16 boards are 128 lanes against 2 x 40 CPU lanes
 * (Intel: E5-2686 v4, 40 lanes of PCIe 3.0), so boards share root ports through further
 * switches: how many per port is not published (boards_per_root, default 2 = four x16
 * root ports, two a socket; assumed). CNTK's aggregators stage gradients in pinned host
 * memory and move them with MPI there (no peer to peer; across the sockets none is possible
 * anyway), so every route crosses the socket's host memory, and a route between sockets
 * the QPI links and the other socket's memory too. Bandwidths are per direction (memory:
 * both directions together). Latencies are one crossing of a link, assumed (no published
 * figure): 5 us at each GPU end (a pinned cudaMemcpy's launch and DMA setup), 0.5 us per
 * switch or root-port hop, 0.1 us memory, 0.2 us QPI. */
enum {
    P2_HOSTS,
    P2_SPEED,
    P2_DIE_BW,
    P2_DIE_LAT,
    P2_BOARD_BW,
    P2_BOARD_LAT,
    P2_BOARDS_PER_ROOT,
    P2_ROOT_BW,
    P2_ROOT_LAT,
    P2_MEM_BW,
    P2_MEM_LAT,
    P2_QPI_BW,
    P2_QPI_LAT,
    P2_LB_BW,
    P2_LB_LAT,
    P2_NOPTS
};
#define ROW_P2_BW(key, field, def_, what)                                                          \
    {                                                                                              \
        .name = key, .kind = QSGD_OPT_UNIT, .offset = F(c.field), .units = &u_bw,                  \
        .dmax = HUGE_VAL, .def = def_, .meta = "BW", .help = what                                  \
    }
#define ROW_P2_LAT(key, field, def_, what)                                                         \
    {                                                                                              \
        .name = key, .kind = QSGD_OPT_UNIT, .offset = F(c.field), .units = &u_time,                \
        .dmax = HUGE_VAL, .def = def_, .meta = "TIME", .help = what                                \
    }
static const qsgd_opt p2_opts[P2_NOPTS + 1] = {
    ROW_HOSTS("16", 0),
    ROW_SPEED,
    /* PCIe 3.0 x16: 8 GT/s x 16 x 128/130 = 15.75 GB/s per direction (PCIe 3.0 spec) */
    ROW_P2_BW("die_bw", dev_bw, "15.75GBps",
              "GK210 <-> board switch, PCIe 3.0 x16 (15.75 GB/s: the spec's rate)"),
    ROW_P2_LAT("die_lat", dev_lat, "5e-6s", "one crossing of a GK210's link (assumed)"),
    ROW_P2_BW("board_bw", board_bw, "15.75GBps",
              "K80 board switch <-> root-port switch, PCIe 3.0 x16"),
    ROW_P2_LAT("board_lat", board_lat, "5e-7s", "one crossing of a board's uplink (assumed)"),
    {.name = "boards_per_root",
     .kind = QSGD_OPT_UINT,
     .offset = F(c.boards_per_root),
     .min = 1,
     .max = 4,
     .def = "2",
     .meta = "N",
     .help = "K80 boards sharing one CPU root port: 1, 2 or 4 (unpublished; 2 assumed)"},
    ROW_P2_BW("root_bw", root_bw, "15.75GBps", "root port <-> socket, PCIe 3.0 x16"),
    ROW_P2_LAT("root_lat", root_lat, "5e-7s", "one crossing of a root port (assumed)"),
    /* E5-2686 v4: 4 channels of DDR4-2400 = 4 x 19.2 = 76.8 GB/s per socket (peak) */
    ROW_P2_BW("mem_bw", mem_bw, "76.8GBps",
              "host memory of a socket, both directions together (4 x DDR4-2400 peak)"),
    ROW_P2_LAT("mem_lat", mem_lat, "1e-7s", "one crossing of host memory (assumed)"),
    /* 2 QPI links x 9.6 GT/s x 2 bytes = 38.4 GB/s per direction */
    ROW_P2_BW("qpi_bw", qpi_bw, "38.4GBps", "socket <-> socket, 2 QPI links at 9.6 GT/s"),
    ROW_P2_LAT("qpi_lat", qpi_lat, "2e-7s", "one crossing of QPI (assumed)"),
    ROW_LOOPBACK,
    {.name = NULL},
};
_Static_assert(sizeof p2_opts / sizeof p2_opts[0] == P2_NOPTS + 1, "p2.16xlarge: a row per key");

static int p2_resolve(net_spec *s, uint64_t g, qsgd_err *err) {
    (void)g;
    if (s->c.boards_per_root != 1 && s->c.boards_per_root != 2 && s->c.boards_per_root != 4)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "p2.16xlarge: boards_per_root must be 1, 2 or 4 (got %u): the 8 boards "
                         "split evenly over the root ports of two sockets",
                         s->c.boards_per_root);
    return QSGD_OK;
}

/* --- the registry ----------------------------------------------------------------------- */
static const net_topology_type topo_star = {
    .id = NET_TOPO_STAR,
    .name = "star",
    .summary = "one switch; each host on a private split-duplex link; optional backbone",
    .opts = star_opts,
    .smpi_allgather = "ring",
    .resolve = star_resolve,
    .label = star_label,
};
static const net_topology_type topo_fat_tree = {
    .id = NET_TOPO_FAT_TREE,
    .name = "fat-tree",
    .aliases = "fattree",
    .summary = "SimGrid fat tree: full bisection from a switch radix, or explicit levels",
    .opts = fat_tree_opts,
    .smpi_allgather = "ring",
    .resolve = fat_tree_resolve,
};
static const net_topology_type topo_multi_gpu = {
    .id = NET_TOPO_MULTI_GPU,
    .name = "multi-gpu-nodes",
    .aliases = "multi-gpu",
    .summary = "N nodes x G GPUs on GPU links to a node router; NICs to one switch",
    .opts = multi_gpu_opts,
    .smpi_allgather = "NTSLR",
    .resolve = multi_gpu_resolve,
    .label = multi_gpu_label,
};

static const net_topology_type topo_p2 = {
    .id = NET_TOPO_P2,
    .name = "p2.16xlarge",
    .aliases = "p2",
    .summary = "AWS p2.16xlarge: 16 GK210 in pairs on K80 board switches, boards sharing root "
               "ports, two sockets over QPI, host memory on every (staged) route",
    .opts = p2_opts,
    .smpi_allgather = "ring",
    .resolve = p2_resolve,
};

/* Indexed by net_topology (designated, so the enum and the registry cannot drift). */
static const net_topology_type *const registry[NET_TOPO_COUNT + 1] = {
    [NET_TOPO_STAR] = &topo_star,
    [NET_TOPO_FAT_TREE] = &topo_fat_tree,
    [NET_TOPO_MULTI_GPU] = &topo_multi_gpu,
    [NET_TOPO_P2] = &topo_p2,
    [NET_TOPO_COUNT] = NULL,
};
_Static_assert(sizeof registry / sizeof registry[0] == NET_TOPO_COUNT + 1,
               "a registry entry per net_topology");

const net_topology_type *const *net_topology_types(void) {
    return registry;
}

const net_topology_type *net_topology_get(net_topology t) {
    return (unsigned)t < NET_TOPO_COUNT ? registry[t] : NULL;
}

/* Is the first len bytes of name one of the '|'-separated names of list? */
static int name_in(const char *list, const char *name, size_t len) {
    for (const char *p = list; p && *p;) {
        size_t l = strcspn(p, "|");
        if (l == len && strncmp(p, name, len) == 0)
            return 1;
        p += l + (p[l] == '|');
    }
    return 0;
}

const net_topology_type *net_topology_find(const char *name, size_t len) {
    for (size_t i = 0; name && registry[i]; i++)
        if (name_in(registry[i]->name, name, len) || name_in(registry[i]->aliases, name, len))
            return registry[i];
    return NULL;
}

int net_spec_label(const char *spec, int level, char *out, size_t len) {
    if (len)
        out[0] = '\0';
    if (!spec || !len)
        return -1;
    if (level >= 2) {
        int w = snprintf(out, len, "%s", spec);
        return w >= 0 && (size_t)w < len ? 0 : -1;
    }
    const net_topology_type *t = net_topology_find(spec, strcspn(spec, ":"));
    return t && t->label ? t->label(spec, level, out, len) : default_label(spec, out, len);
}

int net_topology_names(char *buf, size_t len) {
    size_t off = 0;
    if (len)
        buf[0] = '\0';
    for (size_t i = 0; registry[i] && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", registry[i]->name);
    return off < len ? 0 : -1;
}

void net_list_topologies(FILE *f) {
    char usage[1024];
    fprintf(f, "network topologies (spec TOPOLOGY[:key=value,...]):\n");
    for (size_t i = 0; registry[i]; i++) {
        const net_topology_type *t = registry[i];
        qsgd_opt_usage(t->opts, usage, sizeof usage);
        fprintf(f, "  %-16s %s%s%s%s\n  %-16s options: %s\n", t->name, t->summary,
                t->aliases ? " (also " : "", t->aliases ? t->aliases : "", t->aliases ? ")" : "",
                "", usage);
        qsgd_opt_print_help(f, t->opts, "                     ");
    }
}

void net_spec_default(net_spec *s, net_topology topo) {
    memset(s, 0, sizeof *s);
    const net_topology_type *own = net_topology_get(topo);
    /* every topology's rows (a config carries the fields of all), then its own */
    for (size_t i = 0; registry[i]; i++)
        qsgd_opt_defaults(registry[i]->opts, s, NULL, 0);
    if (own)
        qsgd_opt_defaults(own->opts, s, NULL, 0);
    s->c.topology = topo;
    apply_preset(s->c.link, sizeof s->c.link, &s->c.bw, &s->c.lat, 0, 0, 0);
    apply_preset(s->c.gpu_link, sizeof s->c.gpu_link, &s->c.gpu_bw, &s->c.gpu_lat, 0, 0, 0);
}
