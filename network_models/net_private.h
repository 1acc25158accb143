/* net_private.h — helpers shared by the files of network_models/ only (not installed, not
 * included outside this folder). */
#ifndef QSGDSIM_NET_PRIVATE_H
#define QSGDSIM_NET_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"

/* What a spec parses into: the config and the parse-only values of the keys that are not
 * config fields as written (fat-tree lists as typed, before they become ft_* arrays). The
 * topology tables' rows are offsets into it. */
typedef struct net_spec {
    net_config c;
    unsigned levels;                     /* fat-tree levels= (0: not given) */
    size_t downs[NET_FT_MAX_LEVELS];     /* fat-tree downs= as given */
    size_t ups[NET_FT_MAX_LEVELS];       /* ups= */
    size_t parallels[NET_FT_MAX_LEVELS]; /* parallels= */
    int ndowns, nups, nparallels;        /* their lengths (0: not given) */
} net_spec;

/* Defaults of a topology: every row's default (those of all topologies, its own last),
 * then the default link presets' bandwidths and latencies (net_topo.c). */
void net_spec_default(net_spec *s, net_topology topo);

/* Shortest decimal form of x that strtod reads back to exactly x ("1250000000", "5e-06"):
 * qsgd_opt_fmt_num, the form every description uses. buf must hold at least 32 bytes. */
#define net_fmt_num qsgd_opt_fmt_num

/* Fat-tree: number of hosts under one switch of level l (1..levels), i.e. the product of
 * the first l downs. */
unsigned long net_ft_hosts_below(const net_config *c, unsigned level);

/* p2.16xlarge: one crossing of a link on a route. GPU g sits on board g / 2, board b on
 * root port b / boards_per_root and on socket b / (NET_P2_BOARDS / 2). */
typedef enum net_p2_kind {
    NET_P2_GPU,
    NET_P2_BOARD,
    NET_P2_ROOT,
    NET_P2_MEM,
    NET_P2_QPI
} net_p2_kind;
typedef struct net_p2_hop {
    net_p2_kind kind;
    unsigned idx; /* GPU, board, root port or socket (QPI: 0) */
    int up;       /* direction: 1 towards memory (QPI: socket 0 -> 1), 0 back (memory: 1) */
} net_p2_hop;
#define NET_P2_MAX_HOPS 9
/* The hops of the route src -> dst (src != dst, both < NET_P2_GPUS), in order; their count. */
int net_p2_route(const net_config *c, unsigned src, unsigned dst, net_p2_hop *hops);
/* Bandwidth (bytes/s) and latency (s, one crossing) of a link kind. */
void net_p2_link(const net_config *c, net_p2_kind kind, double *bw, double *lat);
/* The link's id in the platform XML ("gpu3-link", "board1-link", "root0-link",
 * "socket1-mem", "qpi"); buf of at least 32 bytes. */
void net_p2_link_id(net_p2_kind kind, unsigned idx, char *buf, size_t len);

#endif
