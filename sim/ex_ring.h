/* ex_ring.h — qsgdsim's own ring all-reduce (ex_allreduce.c), for the exchanges that sum fp32
 * buffers of their own (ex_allreduce_powersgd.c). Compiled with trainer.c (smpicc / mpicc). */
#ifndef QSGDSIM_EX_RING_H
#define QSGDSIM_EX_RING_H

#include <stddef.h>
#include <stdint.h>

/* Ring all-reduce (sum) of v[n] in place over the K ranks of MPI_COMM_WORLD: reduce-scatter
 * then all-gather, K - 1 steps each, chunk c = [n c / K, n (c + 1) / K). The summation order
 * is fixed by the code, so every rank ends with the same bits on any MPI. tmp: at least the
 * largest chunk, n / K + 1 floats. Returns the number of floats this rank sent (about
 * 2 (K - 1) / K n; 0 for K = 1). */
uint64_t ring_allreduce(float *v, size_t n, float *tmp, int rank, int K);

#endif
