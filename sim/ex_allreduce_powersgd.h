/* ex_allreduce_powersgd.h — PowerSGD's all-reduce (ex_allreduce_powersgd.c), the path
 * --exchange allreduce takes for a quantizer whose type says QUANT_AR_POWER. */
#ifndef QSGDSIM_EX_ALLREDUCE_POWERSGD_H
#define QSGDSIM_EX_ALLREDUCE_POWERSGD_H

#include <stdint.h>

#include "exchange.h"

/* 1 if this run's all-reduce is PowerSGD's: a codec tensor's quantizer type has allreduce =
 * QUANT_AR_POWER (on every rank alike: a function of the configuration and the model). */
int ex_powersgd_wanted(const run *r);
/* The sim_exchange_ops hooks, called by ex_allreduce.c's when ex_powersgd_wanted. */
int ex_powersgd_setup(run *r);
int ex_powersgd_step(run *r, double loss, uint32_t step, step_times *st);
void ex_powersgd_teardown(run *r);

#endif
