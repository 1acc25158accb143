/* test_net.c — CUnit tests of network_models/ without running SimGrid: preset registry,
 * spec parsing (units, overrides, error messages), the topology registry (rows, defaults,
 * list), fat-tree derivation, describe round trips and pinned descriptions, analytical alpha-beta,
 * SMPI flags, and the written files (hostfile lines in rank order; XML parsed back with libxml2
 * when available). Simulated timings are checked by net_validate.c. */
#include "net.h"

#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef QSGDSIM_HAVE_LIBXML2
#include <libxml/parser.h>
#include <libxml/tree.h>
#endif

#define REL_EQ(a, b) CU_ASSERT_DOUBLE_EQUAL((a), (b), 1e-12 * fabs(b))

static char tmpdir[256];

static net_config parse_ok(const char *spec) {
    net_config c;
    qsgd_err e = {0};
    int rc = net_config_parse(spec, &c, &e);
    if (rc)
        fprintf(stderr, "\n  parse '%s' failed: %s\n", spec, e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, QSGD_OK);
    return c;
}

/* Parse must fail with QSGD_EINVAL and a message containing `needle`. */
static void parse_bad(const char *spec, const char *needle) {
    net_config c;
    qsgd_err e = {0};
    int rc = net_config_parse(spec, &c, &e);
    CU_ASSERT_EQUAL(rc, QSGD_EINVAL);
    CU_ASSERT_EQUAL(e.code, QSGD_EINVAL);
    if (!strstr(e.msg, needle)) {
        fprintf(stderr, "\n  spec '%s': message '%s' lacks '%s'\n", spec, e.msg, needle);
        CU_FAIL("error message");
    }
}

/* ---- presets ------------------------------------------------------------------------- */
static void test_presets(void) {
    const char *names[] = {"1GbE", "10GbE", "25GbE", "100GbIB", "PCIe3x16", "NVLink"};
    size_t n = 0;
    for (const net_preset *const *p = net_presets(); *p; p++, n++) {
        CU_ASSERT((*p)->bw > 0 && (*p)->lat > 0 && (*p)->summary && *(*p)->summary);
        CU_ASSERT_PTR_EQUAL(net_preset_find((*p)->name), *p);
    }
    CU_ASSERT_EQUAL(n, sizeof names / sizeof names[0]);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CU_ASSERT_PTR_NOT_NULL(net_preset_find(names[i]));
    CU_ASSERT_PTR_NULL(net_preset_find("40GbE"));
    CU_ASSERT_PTR_NULL(net_preset_find(NULL));
    CU_ASSERT_PTR_EQUAL(net_preset_find("10gbe"), net_preset_find("10GbE"));
    /* Line rates after coding (see net_presets.c). */
    REL_EQ(net_preset_find("1GbE")->bw, 1.25e8);
    REL_EQ(net_preset_find("10GbE")->bw, 1.25e9);
    REL_EQ(net_preset_find("100GbIB")->bw, 12.5e9);
    REL_EQ(net_preset_find("PCIe3x16")->bw, 15.75e9);
    REL_EQ(net_preset_find("NVLink")->bw, 150e9);
}

/* ---- parsing ------------------------------------------------------------------------- */
static void test_parse_units(void) {
    net_config c = parse_ok("star:hosts=8,bw=1Gbps,lat=50us");
    CU_ASSERT_EQUAL(c.topology, NET_TOPO_STAR);
    CU_ASSERT_EQUAL(c.hosts, 8);
    REL_EQ(c.bw, 1.25e8);
    CU_ASSERT_EQUAL(c.lat, 50e-6);      /* divided, so exactly the literal */
    CU_ASSERT_STRING_EQUAL(c.link, ""); /* explicit values, no preset */
    struct {
        const char *v;
        double bw;
    } bws[] = {{"8bps", 1},         {"8Kbps", 1e3},         {"8kbps", 1e3},
               {"8Mbps", 1e6},      {"10Gbps", 1.25e9},     {"1Tbps", 1.25e11},
               {"3Bps", 3},         {"2KBps", 2e3},         {"2kBps", 2e3},
               {"5MBps", 5e6},      {"15.75GBps", 15.75e9}, {"1TBps", 1e12},
               {"25Gb/s", 3.125e9}, {"150GB/s", 150e9},     {"1.25e9Bps", 1.25e9}};
    for (size_t i = 0; i < sizeof bws / sizeof bws[0]; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "star:bw=%s", bws[i].v);
        c = parse_ok(spec);
        REL_EQ(c.bw, bws[i].bw);
    }
    struct {
        const char *v;
        double s;
    } ts[] = {{"1s", 1}, {"2ms", 2e-3}, {"5us", 5e-6}, {"100ns", 1e-7}, {"0s", 0}, {"1e-6s", 1e-6}};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "star:lat=%s", ts[i].v);
        c = parse_ok(spec);
        CU_ASSERT_EQUAL(c.lat, ts[i].s);
    }
    c = parse_ok("star:speed=2.5Gf");
    REL_EQ(c.speed, 2.5e9);
    c = parse_ok("star:speed=7Tf");
    REL_EQ(c.speed, 7e12);
    c = parse_ok("star"); /* defaults */
    CU_ASSERT_EQUAL(c.hosts, 16);
    CU_ASSERT_STRING_EQUAL(c.link, "10GbE");
    REL_EQ(c.speed, 1e9);
}

static void test_parse_presets_overrides(void) {
    net_config c = parse_ok("star:hosts=4,link=1GbE");
    CU_ASSERT_STRING_EQUAL(c.link, "1GbE");
    REL_EQ(c.bw, 1.25e8);
    REL_EQ(c.lat, 50e-6);
    /* An override wins whatever its position. */
    c = parse_ok("star:lat=3us,link=100GbIB");
    REL_EQ(c.bw, 12.5e9);
    CU_ASSERT_EQUAL(c.lat, 3e-6);
    CU_ASSERT_STRING_EQUAL(c.link, "100GbIB");
    c = parse_ok("multi-gpu-nodes:nodes=2,gpus=8,gpu_link=NVLink,link=25GbE,gpu_bw=25GBps");
    CU_ASSERT_EQUAL(c.hosts, 16);
    REL_EQ(c.gpu_bw, 25e9);
    REL_EQ(c.gpu_lat, net_preset_find("NVLink")->lat);
    REL_EQ(c.bw, 3.125e9);
    c = parse_ok("multi-gpu:hosts=32,gpus=4"); /* alias; nodes derived */
    CU_ASSERT_EQUAL(c.nodes, 8);
    CU_ASSERT_STRING_EQUAL(c.gpu_link, "PCIe3x16");
    c = parse_ok("multi-gpu-nodes"); /* p2.16xlarge shape: 1 node x 16 GPUs */
    CU_ASSERT_EQUAL(c.nodes, 1);
    CU_ASSERT_EQUAL(c.gpus, 16);
    c = parse_ok("star:hosts=8,bb_bw=40Gbps,bb_lat=1us,bb_sharing=fatpipe");
    REL_EQ(c.bb_bw, 5e9);
    CU_ASSERT_EQUAL(c.bb_fatpipe, 1);
}

/* The topology registry: each type is found by its name and aliases, its rows are unique
 * and documented, rows shared by several topologies agree on their defaults, defaults come
 * from the rows (plus the default presets), and the list output is generated from them. */
static void test_topology_registry(void) {
    size_t n = 0;
    for (const net_topology_type *const *t = net_topology_types(); *t; t++, n++) {
        const net_topology_type *ty = *t;
        CU_ASSERT_PTR_EQUAL(net_topology_get(ty->id), ty);
        CU_ASSERT_PTR_EQUAL(net_topology_find(ty->name, strlen(ty->name)), ty);
        CU_ASSERT_STRING_EQUAL(net_topology_name(ty->id), ty->name);
        CU_ASSERT(ty->summary && *ty->summary && ty->smpi_allgather && ty->resolve);
        for (const qsgd_opt *o = ty->opts; o->name; o++) {
            CU_ASSERT_PTR_EQUAL(qsgd_opt_find(ty->opts, o->name), o);
            CU_ASSERT(o->help && *o->help);
            /* the same key in another topology: the same field, kind and default */
            for (const net_topology_type *const *u = net_topology_types(); *u; u++) {
                const qsgd_opt *p = qsgd_opt_find((*u)->opts, o->name);
                if (!p)
                    continue;
                CU_ASSERT(p->offset == o->offset && p->kind == o->kind);
                CU_ASSERT((!p->def && !o->def) || (p->def && o->def && !strcmp(p->def, o->def)));
            }
        }
    }
    CU_ASSERT_EQUAL(n, NET_TOPO_COUNT);
    CU_ASSERT_PTR_EQUAL(net_topology_find("fattree", 7), net_topology_get(NET_TOPO_FAT_TREE));
    CU_ASSERT_PTR_EQUAL(net_topology_find("multi-gpu:x", 9), net_topology_get(NET_TOPO_MULTI_GPU));
    CU_ASSERT_PTR_NULL(net_topology_find("sta", 3));
    CU_ASSERT_PTR_NULL(net_topology_get(NET_TOPO_COUNT));
    CU_ASSERT_STRING_EQUAL(net_topology_get(NET_TOPO_MULTI_GPU)->smpi_allgather, "NTSLR");
    CU_ASSERT_STRING_EQUAL(net_topology_get(NET_TOPO_STAR)->smpi_allgather, "ring");
    char buf[128];
    CU_ASSERT_EQUAL(net_topology_names(buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "star, fat-tree, multi-gpu-nodes, p2.16xlarge");
    CU_ASSERT_EQUAL(net_topology_names(buf, 10), -1);
    /* defaults (net.h): 16 hosts, 1 Gf, 10GbE, loopback 100 GB/s, radix 48, 1 x 16 GPUs */
    for (int t = 0; t < NET_TOPO_COUNT; t++) {
        net_config c;
        net_config_default(&c, (net_topology)t);
        CU_ASSERT(c.topology == (net_topology)t && c.hosts == 16 && c.speed == 1e9);
        CU_ASSERT(!strcmp(c.link, "10GbE") && c.bw == 1.25e9 && c.lat == 10e-6);
        CU_ASSERT(c.loopback_bw == 100e9 && c.loopback_lat == 0 && c.bb_bw == 0);
        CU_ASSERT(c.radix == 48 && c.nodes == 1 && c.gpus == 16 && c.ft_levels == 0);
        CU_ASSERT(!strcmp(c.gpu_link, "PCIe3x16") && c.gpu_bw == 15.75e9 && c.gpu_lat == 5e-6);
    }
    /* a preset name in any case is stored canonically */
    net_config c = parse_ok("star:link=100gbib");
    CU_ASSERT_STRING_EQUAL(c.link, "100GbIB");
    char *mem = NULL;
    size_t ml = 0;
    FILE *f = open_memstream(&mem, &ml);
    CU_ASSERT_FATAL(f != NULL);
    net_list_topologies(f);
    fclose(f);
    CU_ASSERT(strstr(mem, "fat-tree") && strstr(mem, "(also fattree)") &&
              strstr(mem, "options: nodes=N, gpus=G, hosts=N, speed=FLOPS, link=PRESET") &&
              strstr(mem, "bb_sharing=shared|fatpipe") &&
              strstr(mem, "1GbE, 10GbE, 25GbE, 100GbIB, PCIe3x16, NVLink, default 10GbE") &&
              strstr(mem, "default derived: link bandwidth per direction"));
    free(mem);
}

/* Descriptions pinned from the hand-written describe they replaced (commit c04dbd7): the
 * platform XML carries them, so they must not change by a byte. */
static void test_describe_pinned(void) {
    static const char *const pin[][2] = {
        {"fat-tree:hosts=128,radix=8",
         "fat-tree:hosts=128,speed=1000000000f,link=10GbE,bw=1250000000Bps,lat=1e-05s,downs=4x4x8,"
         "ups=1x4x4,parallels=1x1x1,loopback_bw=100000000000Bps,loopback_lat=0s"},
        {"fat-tree:hosts=16,downs=4x4,ups=1x2,parallels=1x2,link=1GbE",
         "fat-tree:hosts=16,speed=1000000000f,link=1GbE,bw=125000000Bps,lat=5e-05s,downs=4x4,"
         "ups=1x2,parallels=1x2,loopback_bw=100000000000Bps,loopback_lat=0s"},
        {"multi-gpu-nodes:nodes=3,gpus=8,gpu_link=NVLink,link=100GbIB,bb_bw=100Gbps,bb_lat=1us",
         "multi-gpu-nodes:nodes=3,gpus=8,hosts=24,speed=1000000000f,link=100GbIB,bw=12500000000Bps,"
         "lat=1e-06s,gpu_link=NVLink,gpu_bw=150000000000Bps,gpu_lat=2e-06s,bb_bw=12500000000Bps,"
         "bb_lat=1e-06s,bb_sharing=shared,loopback_bw=100000000000Bps,loopback_lat=0s"},
        {"star:hosts=8,bw=1Gbps,lat=50us,speed=3.3Gf",
         "star:hosts=8,speed=3300000000f,bw=125000000Bps,lat=5e-05s,loopback_bw=100000000000Bps,"
         "loopback_lat=0s"},
        {"star:hosts=8,link=10GbE,bb_bw=40Gbps,bb_lat=1us,bb_sharing=shared",
         "star:hosts=8,speed=1000000000f,link=10GbE,bw=1250000000Bps,lat=1e-05s,bb_bw="
         "5000000000Bps,"
         "bb_lat=1e-06s,bb_sharing=shared,loopback_bw=100000000000Bps,loopback_lat=0s"},
    };
    for (size_t i = 0; i < sizeof pin / sizeof pin[0]; i++) {
        net_config c = parse_ok(pin[i][0]);
        char d[1024];
        qsgd_err e;
        CU_ASSERT_EQUAL_FATAL(net_describe(&c, d, sizeof d, &e), QSGD_OK);
        if (strcmp(d, pin[i][1]))
            fprintf(stderr, "\n  %s:\n    got  %s\n    want %s\n", pin[i][0], d, pin[i][1]);
        CU_ASSERT_STRING_EQUAL(d, pin[i][1]);
    }
}

static void test_parse_errors(void) {
    parse_bad("", "empty");
    parse_bad("ring:hosts=4", "unknown topology 'ring'");
    parse_bad("star:hots=4", "star: unknown option 'hots' (options: hosts=N, speed=FLOPS, link=");
    parse_bad("star:radix=8", "unknown option 'radix'"); /* a fat-tree key */
    parse_bad("fat-tree:gpus=8", "unknown option 'gpus'");
    parse_bad("star:hosts", "not key=value");
    parse_bad("star:hosts=0", "option hosts: '0' is not an integer in [1, 65536]");
    parse_bad("star:hosts=-3", "option hosts: '-3' is not a non-negative integer");
    parse_bad("star:hosts=4x", "not an integer");
    parse_bad("star:bw=10", "needs a unit");
    parse_bad("star:bw=10Gbit", "unknown unit 'Gbit'");
    parse_bad("star:bw=10gbps", "unknown unit"); /* b/B and prefixes are case-sensitive */
    parse_bad("star:bw=-1Gbps", "option bw: '-1Gbps' is not in [0, inf] Bps");
    parse_bad("star:bw=0Gbps", "bw must be > 0");
    parse_bad("star:lat=5", "needs a unit");
    parse_bad("star:lat=5sec", "unknown unit 'sec'");
    parse_bad("star:speed=1G", "unknown unit 'G'");
    parse_bad("star:link=40GbE", "option link: unknown link '40GbE' (valid: 1GbE, 10GbE");
    parse_bad("star:hosts=4,hosts=8", "given twice");
    parse_bad("star:bb_sharing=maybe", "valid: shared, fatpipe");
    parse_bad("star:bb_lat=1us", "bb_lat given without bb_bw");
    parse_bad("fat-tree:hosts=12,downs=4x4", "product of downs (4x4 = 16) must equal hosts (12)");
    parse_bad("fat-tree:hosts=16,radix=8,downs=4x4", "either radix");
    parse_bad("fat-tree:hosts=16,downs=4x4,ups=1", "agree on the number of levels");
    parse_bad("fat-tree:hosts=16,ups=1x4", "downs=AxB... is required");
    parse_bad("fat-tree:hosts=16,downs=4xx4", "not a list");
    parse_bad("fat-tree:hosts=13,radix=8", "cannot build hosts=13");
    parse_bad("multi-gpu-nodes:hosts=10,gpus=4", "not a multiple of gpus=4");
    parse_bad("multi-gpu-nodes:hosts=10,nodes=2,gpus=4", "nodes*gpus");
    parse_bad("multi-gpu-nodes:gpu_link=Token", "option gpu_link: unknown gpu_link 'Token'");
    parse_bad("star:hosts=4,hosts=4", "option hosts given twice");
    parse_bad("star:bb_sharing=maybe", "option bb_sharing: 'maybe' (valid: shared, fatpipe)");
    parse_bad("fat-tree:hosts=16,levels=9,downs=4x4",
              "option levels: '9' is not an integer in [1, 8]");
    parse_bad("multi-gpu-nodes:nodes=5000", "option nodes: '5000' is not an integer in [1, 4096]");
    parse_bad("fattree:radix=1", "option radix: '1' is not an integer in [2, 65536]");
}

static void test_fat_tree_derive(void) {
    net_config c = parse_ok("fat-tree:hosts=16,radix=8");
    CU_ASSERT_EQUAL(c.ft_levels, 2);
    CU_ASSERT(c.ft_downs[0] == 4 && c.ft_downs[1] == 4);
    CU_ASSERT(c.ft_ups[0] == 1 && c.ft_ups[1] == 4); /* full bisection */
    CU_ASSERT(c.ft_parallels[0] == 1 && c.ft_parallels[1] == 1);
    c = parse_ok("fat-tree:hosts=8,radix=8"); /* fits one switch */
    CU_ASSERT_EQUAL(c.ft_levels, 1);
    CU_ASSERT_EQUAL(c.ft_downs[0], 8);
    c = parse_ok("fat-tree:hosts=64"); /* default radix 48: 16 per leaf, 4 leaves */
    CU_ASSERT_EQUAL(c.ft_levels, 2);
    CU_ASSERT(c.ft_downs[0] == 16 && c.ft_downs[1] == 4);
    c = parse_ok("fat-tree:hosts=128,radix=8"); /* 4 x 4 x 8 */
    CU_ASSERT_EQUAL(c.ft_levels, 3);
    CU_ASSERT_EQUAL(c.ft_downs[0] * c.ft_downs[1] * c.ft_downs[2], 128);
    c = parse_ok("fat-tree:hosts=16,downs=4x4,ups=1x2,parallels=1x2,link=1GbE");
    CU_ASSERT(c.ft_ups[1] == 2 && c.ft_parallels[1] == 2);
    c = parse_ok("fat-tree:hosts=16,levels=2,downs=4x4"); /* ups, parallels defaulted */
    CU_ASSERT(c.ft_ups[0] == 1 && c.ft_ups[1] == 4 && c.ft_parallels[1] == 1);
}

static void test_describe_roundtrip(void) {
    const char *specs[] = {
        "star:hosts=16,link=10GbE",
        "star:hosts=8,bw=1Gbps,lat=50us,speed=3.3Gf",
        "star:hosts=5,link=25GbE,bb_bw=40Gbps,bb_lat=2us,loopback_bw=10GBps,loopback_lat=1ns",
        "fat-tree:hosts=64,radix=16,link=100GbIB",
        "fat-tree:hosts=16,downs=4x4,ups=1x2,parallels=1x2,link=1GbE",
        "multi-gpu-nodes:nodes=2,gpus=4,gpu_link=PCIe3x16,link=10GbE",
        "multi-gpu-nodes:nodes=3,gpus=8,gpu_link=NVLink,link=100GbIB,bb_bw=100Gbps,bb_lat=1us",
        "p2.16xlarge",
        "p2:hosts=6,boards_per_root=4,mem_bw=20GBps,qpi_lat=1us,die_lat=7us",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        net_config a = parse_ok(specs[i]), b;
        char da[1024], db[1024];
        qsgd_err e = {0};
        CU_ASSERT_EQUAL_FATAL(net_describe(&a, da, sizeof da, &e), QSGD_OK);
        CU_ASSERT_PTR_NULL(strchr(da, ' ')); /* one token: a spec */
        b = parse_ok(da);
        CU_ASSERT_EQUAL(net_describe(&b, db, sizeof db, &e), QSGD_OK);
        CU_ASSERT_STRING_EQUAL(da, db);
        CU_ASSERT(a.bw == b.bw && a.lat == b.lat && a.hosts == b.hosts && a.speed == b.speed &&
                  a.gpu_bw == b.gpu_bw && a.gpu_lat == b.gpu_lat && a.bb_bw == b.bb_bw &&
                  a.bb_lat == b.bb_lat && a.ft_levels == b.ft_levels);
    }
    net_config c = parse_ok("star:hosts=4");
    char small[10];
    qsgd_err e = {0};
    CU_ASSERT_EQUAL(net_describe(&c, small, sizeof small, &e), QSGD_ENOSPC);
}

/* ---- alpha-beta ---------------------------------------------------------------------- */
static void ab(const net_config *c, unsigned s, unsigned d, double *a, double *b) {
    qsgd_err e = {0};
    CU_ASSERT_EQUAL_FATAL(net_alpha_beta(c, s, d, a, b, &e), QSGD_OK);
}

static void test_alpha_beta(void) {
    double a, b;
    net_config c = parse_ok("star:hosts=16,link=10GbE");
    ab(&c, 0, 15, &a, &b); /* two hops of lat/2 */
    REL_EQ(a, 10e-6);
    REL_EQ(b, 1.25e9);
    ab(&c, 3, 3, &a, &b); /* loopback */
    CU_ASSERT_EQUAL(a, 0.0);
    REL_EQ(b, 100e9);
    c = parse_ok("star:hosts=8,link=10GbE,bb_bw=5Gbps,bb_lat=2us");
    ab(&c, 1, 2, &a, &b);
    REL_EQ(a, 12e-6);
    REL_EQ(b, 6.25e8);
    c = parse_ok("fat-tree:hosts=16,radix=8,link=1GbE");
    ab(&c, 0, 3, &a, &b); /* same leaf: 2 hops */
    REL_EQ(a, 50e-6);
    ab(&c, 3, 4, &a, &b); /* via a spine: 4 hops */
    REL_EQ(a, 100e-6);
    REL_EQ(b, 1.25e8);
    c = parse_ok("fat-tree:hosts=128,radix=8,link=1GbE");
    ab(&c, 0, 127, &a, &b); /* 3 levels: 6 hops */
    REL_EQ(a, 150e-6);
    c = parse_ok("multi-gpu-nodes:nodes=2,gpus=4,gpu_link=PCIe3x16,link=10GbE");
    ab(&c, 0, 3, &a, &b);
    REL_EQ(a, 5e-6);
    REL_EQ(b, 15.75e9);
    ab(&c, 3, 4, &a, &b); /* gpu/2 + nic/2 + nic/2 + gpu/2, bottleneck NIC */
    REL_EQ(a, 15e-6);
    REL_EQ(b, 1.25e9);
    c = parse_ok(
        "multi-gpu-nodes:nodes=2,gpus=2,link=100GbIB,gpu_bw=10GBps,bb_bw=4GBps,bb_lat=1us");
    ab(&c, 0, 2, &a, &b);
    REL_EQ(a, 5e-6 + 1e-6 + 1e-6);
    REL_EQ(b, 4e9);
    qsgd_err e = {0};
    CU_ASSERT_EQUAL(net_alpha_beta(&c, 0, 4, &a, &b, &e), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "out of range"));
}

static void test_smpi_flags(void) {
    net_config c = parse_ok("star");
    char buf[256];
    qsgd_err e = {0};
    net_smpi_model m;
    CU_ASSERT_EQUAL(net_smpi_flags(&c, NET_SMPI_CM02, buf, sizeof buf, &e), QSGD_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "--cfg=network/model:CM02"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "--cfg=network/crosstraffic:0"));
    CU_ASSERT_EQUAL(net_smpi_flags(&c, NET_SMPI_DEFAULT, buf, sizeof buf, &e), QSGD_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "network/model:SMPI"));
    CU_ASSERT_EQUAL(net_smpi_flags(&c, NET_SMPI_CM02, buf, 8, &e), QSGD_ENOSPC);
    CU_ASSERT_EQUAL(net_smpi_model_parse("exact", &m, &e), QSGD_OK);
    CU_ASSERT_EQUAL(m, NET_SMPI_CM02);
    CU_ASSERT_EQUAL(net_smpi_model_parse("default", &m, &e), QSGD_OK);
    CU_ASSERT_EQUAL(m, NET_SMPI_DEFAULT);
    CU_ASSERT_EQUAL(net_smpi_model_parse("ns-3", &m, &e), QSGD_EINVAL);
    CU_ASSERT_STRING_EQUAL(net_smpi_model_name(NET_SMPI_CM02), "cm02");
}

/* ---- files --------------------------------------------------------------------------- */
/* Lines of a file into out (up to max), returns the count. */
static size_t read_lines(const char *path, char out[][64], size_t max) {
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t n = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (n < max)
            snprintf(out[n], 64, "%.63s", line);
        n++;
    }
    fclose(f);
    return n;
}

#ifdef QSGDSIM_HAVE_LIBXML2
static size_t count_elems(xmlNode *n, const char *name) {
    size_t k = 0;
    for (; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE) {
            k += strcmp((const char *)n->name, name) == 0;
            k += count_elems(n->children, name);
        }
    return k;
}
#endif

/* Write spec's platform, check the hostfile against net_host_name and the XML against
 * expected element counts. */
static void check_written(const char *spec, size_t clusters, size_t zone_routes,
                          const char *expect_attr) {
    net_config c = parse_ok(spec);
    char xml[512], hosts[512];
    snprintf(xml, sizeof xml, "%s/p.xml", tmpdir);
    snprintf(hosts, sizeof hosts, "%s/hosts", tmpdir);
    qsgd_err e = {0};
    int rc = net_write_platform(&c, xml, hosts, &e);
    if (rc)
        fprintf(stderr, "\n  %s: %s\n", spec, e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, QSGD_OK);
    static char lines[4096][64];
    size_t n = read_lines(hosts, lines, 4096);
    CU_ASSERT_EQUAL(n, c.hosts);
    for (unsigned r = 0; r < c.hosts && r < 4096; r++) {
        char name[64];
        CU_ASSERT_EQUAL(net_host_name(&c, r, name, sizeof name, &e), QSGD_OK);
        CU_ASSERT_STRING_EQUAL(lines[r], name);
    }
    /* No temporary files left behind. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 2", tmpdir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    FILE *f = fopen(xml, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "<platform version=\"4.1\">"));
    if (expect_attr && !strstr(text, expect_attr)) {
        fprintf(stderr, "\n  %s: XML lacks %s\n", spec, expect_attr);
        CU_FAIL("attribute");
    }
#ifdef QSGDSIM_HAVE_LIBXML2
    xmlDoc *doc = xmlReadFile(xml, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc); /* well-formed */
    xmlNode *root = xmlDocGetRootElement(doc);
    CU_ASSERT_STRING_EQUAL((const char *)root->name, "platform");
    CU_ASSERT_EQUAL(count_elems(root->children, "cluster"), clusters);
    CU_ASSERT_EQUAL(count_elems(root->children, "zoneRoute"), zone_routes);
    xmlFreeDoc(doc);
#else
    (void)clusters;
    (void)zone_routes;
#endif
}

static void test_write_files(void) {
    check_written("star:hosts=16,link=10GbE", 1, 0,
                  "radical=\"0-15\" speed=\"1000000000f\" "
                  "bw=\"1250000000Bps\" lat=\"5e-06s\"");
    check_written("star:hosts=1", 1, 0, "radical=\"0-0\"");
    check_written("star:hosts=4,bb_bw=20Gbps,bb_lat=1us", 1, 0,
                  "bb_bw=\"2500000000Bps\" bb_lat=\"1e-06s\" bb_sharing_policy=\"SHARED\"");
    check_written("fat-tree:hosts=16,radix=8,link=1GbE", 1, 0,
                  "topology=\"FAT_TREE\" topo_parameters=\"2;4,4;1,4;1,1\"");
    check_written("multi-gpu-nodes:nodes=2,gpus=4", 2, 4, "routing=\"Floyd\"");
    check_written("multi-gpu-nodes:nodes=1,gpus=16", 1, 0, "router_id=\"node0-router\"");
    check_written("multi-gpu-nodes:nodes=5,gpus=3,bb_bw=1GBps", 5, 10, "<link_ctn id=\"core\"/>");
    /* rank r -> node r / G, gpu r % G */
    net_config c = parse_ok("multi-gpu-nodes:nodes=3,gpus=4");
    char name[32];
    qsgd_err e = {0};
    CU_ASSERT_EQUAL(net_host_name(&c, 5, name, sizeof name, &e), QSGD_OK);
    CU_ASSERT_STRING_EQUAL(name, "node1-gpu1");
    CU_ASSERT_EQUAL(net_host_name(&c, 12, name, sizeof name, &e), QSGD_EINVAL);
}

/* p2.16xlarge: the platform of 16 GK210 (docs/platforms.md): defaults, refusals, routes
 * as alpha-beta, and the XML (hosts, links, one route per ordered pair, hops in order). */
static size_t count_str(const char *text, const char *needle) {
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_p2(void) {
    net_config c = parse_ok("p2.16xlarge");
    CU_ASSERT(c.topology == NET_TOPO_P2 && c.hosts == 16 && c.boards_per_root == 2);
    CU_ASSERT(c.dev_bw == 15.75e9 && c.board_bw == 15.75e9 && c.root_bw == 15.75e9);
    CU_ASSERT(c.mem_bw == 76.8e9 && c.qpi_bw == 38.4e9);
    CU_ASSERT(c.dev_lat == 5e-6 && c.board_lat == 0.5e-6 && c.root_lat == 0.5e-6 &&
              c.mem_lat == 0.1e-6 && c.qpi_lat == 0.2e-6);
    parse_bad("p2.16xlarge:hosts=17", "hosts must be in [1, 16]");
    parse_bad("p2.16xlarge:boards_per_root=3", "boards_per_root must be 1, 2 or 4");
    parse_bad("p2.16xlarge:gpu_bw=1GBps", "gpu_bw");
    parse_bad("p2.16xlarge:mem_bw=0GBps", "mem_bw");
    /* alpha: sum of the crossings; beta: the narrowest link */
    double a, b;
    ab(&c, 0, 1, &a, &b); /* one board: die, board, root up; memory; root, board, die down */
    REL_EQ(a, 2 * 5e-6 + 2 * 0.5e-6 + 2 * 0.5e-6 + 0.1e-6);
    REL_EQ(b, 15.75e9);
    ab(&c, 3, 12, &a, &b); /* across the sockets: + QPI and the other socket's memory */
    REL_EQ(a, 2 * 5e-6 + 2 * 0.5e-6 + 2 * 0.5e-6 + 2 * 0.1e-6 + 0.2e-6);
    REL_EQ(b, 15.75e9);
    net_config d = parse_ok("p2:mem_bw=5GBps,qpi_bw=2GBps");
    ab(&d, 0, 2, &a, &b);
    REL_EQ(b, 5e9);
    ab(&d, 8, 7, &a, &b);
    REL_EQ(b, 2e9);
    ab(&c, 4, 4, &a, &b);
    REL_EQ(b, c.loopback_bw);
    /* the XML: 16 hosts gpu0..15; 16 die + 8 board + 4 root + 2 memory + 1 QPI + 16 loopback
     * links; 256 routes */
    char xml[512], hosts[512];
    snprintf(xml, sizeof xml, "%s/p2.xml", tmpdir);
    snprintf(hosts, sizeof hosts, "%s/p2.hosts", tmpdir);
    qsgd_err e = {0};
    CU_ASSERT_EQUAL_FATAL(net_write_platform(&c, xml, hosts, &e), QSGD_OK);
    static char text[1 << 17];
    FILE *f = fopen(xml, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    CU_ASSERT_EQUAL(count_str(text, "<host "), 16);
    CU_ASSERT_EQUAL(count_str(text, "<link "), 16 + 8 + 4 + 2 + 1 + 16);
    CU_ASSERT_EQUAL(count_str(text, "<route "), 256);
    CU_ASSERT_EQUAL(count_str(text, "sharing_policy=\"SHARED\""), 2); /* the memories */
    CU_ASSERT(strstr(text, "<host id=\"gpu15\"") && strstr(text, "<link id=\"root3-link\"") &&
              strstr(text, "<link id=\"qpi\" bandwidth=\"38400000000Bps\" latency=\"2e-07s\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "<route src=\"gpu0\" dst=\"gpu1\" symmetrical=\"NO\">"
                                        "<link_ctn id=\"gpu0-link\" direction=\"UP\"/>"
                                        "<link_ctn id=\"board0-link\" direction=\"UP\"/>"
                                        "<link_ctn id=\"root0-link\" direction=\"UP\"/>"
                                        "<link_ctn id=\"socket0-mem\"/>"
                                        "<link_ctn id=\"root0-link\" direction=\"DOWN\"/>"
                                        "<link_ctn id=\"board0-link\" direction=\"DOWN\"/>"
                                        "<link_ctn id=\"gpu1-link\" direction=\"DOWN\"/></route>"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(text, "<route src=\"gpu12\" dst=\"gpu3\" symmetrical=\"NO\">"
                     "<link_ctn id=\"gpu12-link\" direction=\"UP\"/>"
                     "<link_ctn id=\"board6-link\" direction=\"UP\"/>"
                     "<link_ctn id=\"root3-link\" direction=\"UP\"/>"
                     "<link_ctn id=\"socket1-mem\"/><link_ctn id=\"qpi\" direction=\"DOWN\"/>"
                     "<link_ctn id=\"socket0-mem\"/>"
                     "<link_ctn id=\"root0-link\" direction=\"DOWN\"/>"
                     "<link_ctn id=\"board1-link\" direction=\"DOWN\"/>"
                     "<link_ctn id=\"gpu3-link\" direction=\"DOWN\"/></route>"));
    /* 6 GPUs, 4 boards a root: one socket, one root port, no QPI */
    net_config s6 = parse_ok("p2:hosts=6,boards_per_root=4");
    CU_ASSERT_EQUAL_FATAL(net_write_platform(&s6, xml, hosts, &e), QSGD_OK);
    f = fopen(xml, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    CU_ASSERT_EQUAL(count_str(text, "<link "), 6 + 3 + 1 + 1 + 0 + 6);
    CU_ASSERT_EQUAL(count_str(text, "<route "), 36);
    char name[32];
    CU_ASSERT_EQUAL(net_host_name(&s6, 5, name, sizeof name, &e), QSGD_OK);
    CU_ASSERT_STRING_EQUAL(name, "gpu5");
    CU_ASSERT_EQUAL(net_host_name(&s6, 6, name, sizeof name, &e), QSGD_EINVAL);
    unlink(xml);
    unlink(hosts);
}

/* Figure labels (`qsgdsim plot`) come from the topology's table (label hook or the generic
 * label) and use the values as written; pinned to the strings the plotter printed when it
 * compared names itself. */
static void test_spec_label(void) {
    static const struct {
        const char *spec;
        const char *l0, *l1;
    } cases[] = {
        {"star:link=1GbE", "1GbE", "star 1GbE"},
        {"star:hosts=8,bw=1Gbps,lat=50us", "1Gbps", "star 1Gbps"},
        {"star:hosts=4", "star:hosts=4", "star:hosts=4"},
        {"star", "star", "star"},
        {"fat-tree:hosts=16,radix=8,link=100GbIB", "fat-tree 100GbIB", "fat-tree 100GbIB"},
        {"fattree:link=10GbE", "fattree 10GbE", "fattree 10GbE"}, /* the name as written */
        {"multi-gpu-nodes:nodes=1,gpus=8,gpu_link=PCIe3x16", "1x8 PCIe3x16", "1x8 PCIe3x16"},
        {"multi-gpu-nodes:nodes=1,gpus=8,gpu_bw=3GBps,gpu_lat=10us", "1x8 3GBps", "1x8 3GBps"},
        {"multi-gpu-nodes:nodes=2,gpus=4,gpu_link=NVLink,link=10GbE", "2x4 NVLink + 10GbE",
         "2x4 NVLink + 10GbE"},
        {"multi-gpu-nodes:nodes=1,gpus=4,link=10GbE", "1x4 GPUs", "1x4 GPUs"},
        {"multi-gpu-nodes:gpus=4,bw=1Gbps", "?x4 GPUs + 1Gbps", "?x4 GPUs + 1Gbps"},
        {"multi-gpu:nodes=2,gpus=4,link=10GbE", "2x4 GPUs + 10GbE", "2x4 GPUs + 10GbE"},
        {"p2.16xlarge:hosts=8", "p2.16xlarge:hosts=8", "p2.16xlarge:hosts=8"},
        {"torus:link=1GbE", "torus 1GbE", "torus 1GbE"}, /* not a topology: generic */
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CU_ASSERT_EQUAL(net_spec_label(cases[i].spec, 0, buf, sizeof buf), 0);
        CU_ASSERT_STRING_EQUAL(buf, cases[i].l0);
        CU_ASSERT_EQUAL(net_spec_label(cases[i].spec, 1, buf, sizeof buf), 0);
        CU_ASSERT_STRING_EQUAL(buf, cases[i].l1);
        CU_ASSERT_EQUAL(net_spec_label(cases[i].spec, 2, buf, sizeof buf), 0);
        CU_ASSERT_STRING_EQUAL(buf, cases[i].spec);
    }
    /* truncation is reported, the label cut */
    char small[4];
    CU_ASSERT_EQUAL(net_spec_label("star:link=100GbIB", 0, small, sizeof small), -1);
    CU_ASSERT_STRING_EQUAL(small, "100");
}

static void test_write_errors(void) {
    net_config c = parse_ok("star:hosts=4");
    qsgd_err e = {0};
    int rc = net_write_platform(&c, "/nonexistent-dir/p.xml", NULL, &e);
    CU_ASSERT_EQUAL(rc, QSGD_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "/nonexistent-dir/p.xml"));
    c.bw = -1; /* a hand-filled config is validated too */
    rc = net_write_platform(&c, "/tmp/never.xml", NULL, &e);
    CU_ASSERT_EQUAL(rc, QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "bw"));
    CU_ASSERT_EQUAL(access("/tmp/never.xml", F_OK), -1);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_net.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 2;
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"presets", test_presets},
        {"parse units", test_parse_units},
        {"parse presets and overrides", test_parse_presets_overrides},
        {"parse errors", test_parse_errors},
        {"topology registry, defaults, list", test_topology_registry},
        {"describe pinned", test_describe_pinned},
        {"fat-tree derivation", test_fat_tree_derive},
        {"describe round trip", test_describe_roundtrip},
        {"alpha-beta", test_alpha_beta},
        {"smpi flags", test_smpi_flags},
        {"write files", test_write_files},
        {"write errors", test_write_errors},
        {"p2.16xlarge", test_p2},
        {"figure labels", test_spec_label},
    };
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("network_models", NULL, NULL);
    for (size_t i = 0; s && i < sizeof tests / sizeof tests[0]; i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn))
            s = NULL;
    if (!s) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures() + CU_get_run_summary()->nTestsFailed;
    CU_cleanup_registry();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return fails ? 1 : 0;
}
