/* net_private.h — helpers shared by the files of network_models/ only (not installed, not
 * included outside this folder). */
#ifndef QSGDSIM_NET_PRIVATE_H
#define QSGDSIM_NET_PRIVATE_H

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

#endif
