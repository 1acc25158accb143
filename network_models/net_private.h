/* net_private.h — helpers shared by the files of network_models/ only (not installed, not
 * included outside this folder). */
#ifndef QSGDSIM_NET_PRIVATE_H
#define QSGDSIM_NET_PRIVATE_H

#include "net.h"

/* Fill err (if non-NULL) and return code. */
int net_fail(net_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Shortest decimal form of x that strtod reads back to exactly x ("1250000000", "5e-06").
 * buf must hold at least 32 bytes. */
const char *net_fmt_num(double x, char buf[32]);

/* Fat-tree: number of hosts under one switch of level l (1..levels), i.e. the product of
 * the first l downs. */
unsigned long net_ft_hosts_below(const net_config *c, unsigned level);

#endif
