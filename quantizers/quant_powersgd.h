/* quant_powersgd.h — the phases of PowerSGD's step (quant_powersgd.c), shared by the
 * quantizer (quant_quantize / quant_encode: one worker alone) and the all-reduce exchange
 * (sim/ex_allreduce_powersgd.c: P and Q' all-reduced between the phases, as in Vogels,
 * Karimireddy & Jaggi, NeurIPS 2019, Algorithm 1), so both compute the same numbers. On a
 * powersgd quantizer q of a matrix (quant_powersgd_rank(q) > 0), one step is
 *
 *   quant_powersgd_project(q, g, ctx)  M = g + e, P = M Q       (Q drawn on the first step)
 *   [the exchange: P = the average of every worker's P]
 *   quant_powersgd_orth_back(q)        P = orth(P), Q' = M^T P
 *   [the exchange: Q' = the average of every worker's Q']
 *   quant_powersgd_check(q)            refuses a Q' whose P Q'^T could overflow float
 *   quant_powersgd_commit(q, out)      out = C = P Q'^T, e = M - C, Q = Q'
 *
 * The quantizer's own step is the same calls with nothing between them. The buffers the
 * exchange averages: quant_powersgd_p(q), P, rows x r row-major; quant_powersgd_qn(q), Q'
 * transposed, r x cols row-major. */
#ifndef QSGDSIM_QUANT_POWERSGD_H
#define QSGDSIM_QUANT_POWERSGD_H

#include <stddef.h>

#include "quant.h"

extern const quant_type quant_type_powersgd;

/* The effective rank r = min(rank, rows, cols) of a powersgd quantizer; 0 for a vector (sent
 * uncompressed) or a quantizer of another type. */
size_t quant_powersgd_rank(const quant *q);
/* P (rows x r) and Q' transposed (r x cols) of the current step; NULL for another type. */
float *quant_powersgd_p(quant *q);
float *quant_powersgd_qn(quant *q);
/* The phases above (q: a powersgd quantizer of a matrix). project and check return QSGD_OK or
 * QSGD_EINVAL (M not finite; Q' too large) with the state untouched. */
int quant_powersgd_project(quant *q, const float *g, const quant_ctx *ctx, qsgd_err *err);
void quant_powersgd_orth_back(quant *q);
int quant_powersgd_check(const quant *q, qsgd_err *err);
void quant_powersgd_commit(quant *q, float *out);

#endif
