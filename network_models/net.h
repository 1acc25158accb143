/* net.h — public API of the network model generators (network_models/).
 *
 * network_models/ turns a few parameters into a SimGrid 3.32 platform (XML) and an SMPI
 * hostfile, so that the trainer's collectives run over a modelled network under smpirun.
 * It never simulates anything itself: SimGrid does (see docs/architecture.md).
 *
 * Link presets are type tables found by name in a NULL-terminated registry (net_presets()):
 *   1GbE, 10GbE, 25GbE, 100GbIB, PCIe3x16, NVLink      (values and sources in net_presets.c)
 *
 * Topologies:
 *   star             one switch: K hosts, each on a private split-duplex link; optional
 *                    backbone (bb_bw, bb_lat) crossed by every host-to-host route.
 *   fat-tree         SimGrid's FAT_TREE cluster (PGFT "levels;downs;ups;parallels"), given
 *                    explicitly or derived (full bisection) from the host count and a radix.
 *   multi-gpu-nodes  N nodes x G GPUs: the GPUs of a node hang on private GPU links
 *                    (PCIe3x16, NVLink, ...) off the node's router; every node reaches one
 *                    switch through its own split-duplex NIC link (a network preset), and an
 *                    optional core link (bb_bw, bb_lat) sits between the NICs. N = 1 is the
 *                    single-box case (e.g. AWS p2.16xlarge: 16 GPUs in one node).
 *   p2.16xlarge      AWS p2.16xlarge as its PCIe tree: GPUs in pairs on K80 boards behind
 *                    a board switch, boards sharing CPU root ports, two sockets joined by
 *                    QPI, the socket's host memory on every route (host-staged transfers,
 *                    no peer to peer). Host names gpu0..gpu15, rank r on gpu r.
 *
 * Units and conventions (everywhere in this API):
 *   bandwidth  bytes per second, per direction (links are split-duplex: a flow each way
 *              gets the full bandwidth)
 *   latency    seconds. A "lat" of a network (preset, spec key lat/gpu_lat) is the one-way
 *              latency alpha of a message between two hosts through ONE switch, i.e. over
 *              two link hops; the generator gives each hop lat/2. So on a star
 *              alpha(i, j) = lat (+ bb_lat), on a fat tree alpha = L * lat where L is the
 *              level of the lowest common switch, and between GPUs of different nodes
 *              alpha = gpu_lat + lat (+ bb_lat). bb_lat is the latency of the one backbone hop.
 *   speed      flop/s of every host (default 1e9; the simulator injects compute explicitly).
 *
 * Spec strings ("topology:key=value,..."), parsed by net_config_parse through the
 * topology's option table (net_topo.c; `qsgdsim list topologies` prints every key with its
 * range, default and help):
 *   star:hosts=16,link=10GbE            star:hosts=8,bw=1Gbps,lat=50us
 *   fat-tree:hosts=64,radix=16,link=100GbIB
 *   fat-tree:hosts=16,downs=4x4,ups=1x4,parallels=1x1,link=10GbE
 *   multi-gpu-nodes:nodes=2,gpus=4,gpu_link=PCIe3x16,link=10GbE
 * Each topology accepts only its own keys; an unknown key, a key given twice or a value out
 * of range is an error naming the key, the value and the valid keys, range or choices. A
 * preset (link, gpu_link) sets the bandwidth and latency that are not given explicitly; on
 * multi-gpu-nodes hosts may be given instead of nodes (nodes = hosts / gpus).
 * Units: bandwidth bps Kbps kbps Mbps Gbps Tbps Bps KBps kBps MBps GBps TBps (also Gb/s,
 * GB/s, ...; decimal prefixes, b = bit, B = byte); time s ms us ns; speed f kf Mf Gf Tf Pf.
 * A number without a unit is an error.
 *
 * Host names and ranks: star and fat-tree hosts are host0..host{K-1}; multi-gpu hosts are
 * node{n}-gpu{g}, and rank r runs on node r / G, GPU r % G. The hostfile lists one host per
 * rank, in rank order.
 *
 * Threading: no global mutable state; every function is reentrant. Errors are status codes
 * with a message in a qsgd_err; nothing here exits or prints.
 */
#ifndef QSGDSIM_NET_H
#define QSGDSIM_NET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qsgd_err.h" /* the one error type: qsgd_err, QSGD_OK, QSGD_E*, QSGD_FAIL */

#include "qsgd_opt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- link presets ------------------------------------------------------------------- */
typedef struct net_preset {
    const char *name;
    double bw;           /* bytes/s per direction */
    double lat;          /* s, one-way alpha host-to-host through one switch (two hops) */
    const char *summary; /* one line: what it models and where the numbers come from */
} net_preset;

const net_preset *const *net_presets(void); /* NULL-terminated */
const net_preset *net_preset_find(const char *name);

/* --- configuration ------------------------------------------------------------------ */
typedef enum net_topology {
    NET_TOPO_STAR = 0,
    NET_TOPO_FAT_TREE = 1,
    NET_TOPO_MULTI_GPU = 2,
    NET_TOPO_P2 = 3,    /* AWS p2.16xlarge (docs/platforms.md) */
    NET_TOPO_COUNT = 4, /* number of topologies (not one) */
} net_topology;

#define NET_FT_MAX_LEVELS 8
#define NET_MAX_HOSTS 65536
#define NET_MAX_NODES 4096

typedef struct net_config {
    net_topology topology;
    unsigned hosts; /* number of hosts = ranks (multi-gpu: nodes * gpus) */
    double speed;   /* flop/s per host */

    /* The network: star links, fat-tree links, multi-gpu NIC links. */
    char link[32]; /* preset the values came from ("" = given explicitly) */
    double bw;     /* bytes/s per direction */
    double lat;    /* s, alpha through one switch (each hop lat/2) */

    /* Backbone (star) / core link between the NICs (multi-gpu); bb_bw = 0: none. */
    double bb_bw;   /* bytes/s */
    double bb_lat;  /* s, one hop */
    int bb_fatpipe; /* 0: SHARED (concurrent flows share bb_bw), 1: FATPIPE (each gets it) */

    double loopback_bw;  /* bytes/s, rank to itself */
    double loopback_lat; /* s */

    /* fat-tree: either radix > 0 (derive) or ft_levels > 0 (explicit). */
    unsigned radix;
    unsigned ft_levels;
    unsigned ft_downs[NET_FT_MAX_LEVELS];     /* children per switch at level l+1 */
    unsigned ft_ups[NET_FT_MAX_LEVELS];       /* parents per node at level l */
    unsigned ft_parallels[NET_FT_MAX_LEVELS]; /* parallel links per connection */

    /* multi-gpu-nodes */
    unsigned nodes, gpus;
    char gpu_link[32]; /* preset of the intra-node GPU links ("" = explicit) */
    double gpu_bw;     /* bytes/s per direction of one GPU's link to the node router */
    double gpu_lat;    /* s, GPU-to-GPU alpha inside a node (each hop gpu_lat/2) */

    /* p2.16xlarge: hosts GPUs (at most NET_P2_GPUS), 2 per K80 board behind the board's
     * PCIe switch (dev_*: keys die_bw, die_lat), boards_per_root boards behind one CPU root port
     * (board_*: the board switch's uplink), root ports (root_*) split evenly over two sockets, the
     * socket's host memory (mem_*, one link for both directions) on every route: transfers
     * are staged in pinned host memory, never peer to peer; QPI (qpi_*) between the sockets.
     * Every latency here is one crossing of that link. Values and sources:
     * docs/platforms.md and net_topo.c. */
    unsigned boards_per_root;
    double dev_bw, dev_lat;
    double board_bw, board_lat;
    double root_bw, root_lat;
    double mem_bw, mem_lat;
    double qpi_bw, qpi_lat;
} net_config;

/* p2.16xlarge: 8 K80 boards of 2 GK210 each, two sockets. */
#define NET_P2_GPUS 16
#define NET_P2_BOARDS 8

/* A topology: a type table found by name in the registry (net_topo.c). Its keys are
 * qsgd_opt rows; parsing, describing and listing are generic over them. */
struct net_spec;
typedef struct net_topology_type {
    net_topology id;
    const char *name;     /* canonical ("fat-tree") */
    const char *aliases;  /* other accepted names, "a|b", or NULL */
    const char *summary;  /* one line */
    const qsgd_opt *opts; /* its keys, in description order */
    /* SMPI allgather algorithm that suits it (ring on one switch or a tree; NTSLR when
     * ranks share nodes); the trainer's default (qsgdsim sim --smpi-allgather) */
    const char *smpi_allgather;
    /* After the keys are parsed (given: bit i for row i of opts): what only it knows
     * (presets vs explicit values, lists, nodes vs hosts). Returns QSGD_OK or an error. */
    int (*resolve)(struct net_spec *s, uint64_t given, qsgd_err *err);
    /* Optional: a short figure label of a spec of this topology (`qsgdsim plot`), from its
     * values as written ("1Gbps" stays "1Gbps"); level 0 is the shortest, level 1 adds
     * detail. NULL: the generic label, "NAME LINK" when link= or bw= is given, else the
     * spec. Returns 0, or -1 when truncated. */
    int (*label)(const char *spec, int level, char *out, size_t len);
} net_topology_type;

const net_topology_type *const *net_topology_types(void);  /* NULL-terminated, enum order */
const net_topology_type *net_topology_get(net_topology t); /* NULL when out of range */
/* The topology whose name or alias is the first len bytes of name, or NULL. */
const net_topology_type *net_topology_find(const char *name, size_t len);
/* Figure label of a network spec (net_topology_type.label; the generic label when the
 * topology has no hook or the name is none): "1GbE" (star:link=1GbE at level 0), "star 1GbE"
 * (level 1), "2x4 PCIe3x16 + 10GbE" (multi-gpu-nodes), "fat-tree 100GbIB"; level 2 and up
 * the spec itself. The spec is not parsed. Returns 0, or -1 when truncated. */
int net_spec_label(const char *spec, int level, char *out, size_t len);
/* "star, fat-tree, multi-gpu-nodes". Returns 0, or -1 when truncated. */
int net_topology_names(char *buf, size_t len);
/* `qsgdsim list topologies`: each topology's name, summary, usage line and one help line
 * per key, generated from its table. */
void net_list_topologies(FILE *f);

/* Defaults of a topology: hosts 16 (multi-gpu: 1 node x 16 GPUs, the p2.16xlarge shape),
 * speed 1 Gf, link 10GbE, no backbone, loopback 100 GB/s and 0 s, fat-tree radix 48,
 * gpu_link PCIe3x16. */
void net_config_default(net_config *c, net_topology topo);

/* Parse a spec string (see the top of this file) into *c and validate it. */
int net_config_parse(const char *spec, net_config *c, qsgd_err *err);

/* Check a (hand-filled) config and fill derived fields: multi-gpu hosts, fat-tree levels
 * from the radix. Every function below calls it on a copy; call it to see errors early. */
int net_config_validate(net_config *c, qsgd_err *err);

/* Topology name ("star", "fat-tree", "multi-gpu-nodes") of an enum value. */
const char *net_topology_name(net_topology t);

/* One line, a spec that net_config_parse reads back to the same config, e.g.
 * "star:hosts=16,link=10GbE,bw=1250000000Bps,lat=1e-05s,speed=1000000000f,...". */
int net_describe(const net_config *c, char *buf, size_t len, qsgd_err *err);

/* --- outputs ------------------------------------------------------------------------ */
/* Write the platform XML and the hostfile (one host per rank, rank order). Each file is
 * written to a temporary file next to it and renamed into place. hostfile_path may be
 * NULL (no hostfile). */
int net_write_platform(const net_config *c, const char *xml_path, const char *hostfile_path,
                       qsgd_err *err);

/* Host name of a rank (buf of at least 32 bytes is enough). */
int net_host_name(const net_config *c, unsigned rank, char *buf, size_t len, qsgd_err *err);

/* The route between two ranks as alpha-beta: *alpha = sum of the link latencies on the
 * route (s), *beta = bandwidth of its narrowest link (bytes/s). A message of m bytes alone
 * on the network takes alpha + m / beta under the exact model (NET_SMPI_CM02). src == dst
 * gives the loopback. Concurrent flows that share a link (a backbone, a NIC) are not
 * accounted for: that is the caller's formula to make. */
int net_alpha_beta(const net_config *c, unsigned src, unsigned dst, double *alpha, double *beta,
                   qsgd_err *err);

/* --- SMPI settings ------------------------------------------------------------------ */
typedef enum net_smpi_model {
    /* network/model:CM02, crosstraffic:0, TCP-gamma huge: a flow alone on its route takes
     * alpha + m / beta: net_validate.c finds simulated/analytical - 1 below 3e-4 at 1 MB
     * collectives (about 0.13 us of SMPI overhead per message) and below 3e-6 at 100 MB. */
    NET_SMPI_CM02 = 0,
    /* SimGrid's SMPI default (network/model:SMPI = LV08 with SMPI's piecewise bandwidth
     * and latency factors, crosstraffic:1): calibrated on real TCP clusters. Ring
     * all-reduce on a 16-host 10GbE star: +14% over alpha-beta at 100 MB, +84% at 1 MB. */
    NET_SMPI_DEFAULT = 1,
} net_smpi_model;

/* "cm02" (alias "exact") or "default" (alias "smpi"). */
int net_smpi_model_parse(const char *name, net_smpi_model *out, qsgd_err *err);
const char *net_smpi_model_name(net_smpi_model m);

/* The --cfg flags of a network model, space-separated, for smpirun's command line and for
 * the experiment's provenance, e.g. "--cfg=network/model:CM02 --cfg=network/crosstraffic:0
 * --cfg=network/TCP-gamma:1e18". Collective algorithms are not included (they are the
 * experiment's choice, e.g. --cfg=smpi/allreduce:lr). */
int net_smpi_flags(const net_config *c, net_smpi_model model, char *buf, size_t len, qsgd_err *err);

#ifdef __cplusplus
}
#endif
#endif
