/* ex_allgather.h — what the all-gather exchange (ex_allgather.c) and its --overlap variant
 * (ex_allgather_overlap.c) share: SMPI's shared decode. Internal to those two files. */
#ifndef QSGDSIM_EX_ALLGATHER_H
#define QSGDSIM_EX_ALLGATHER_H

#include "exchange.h"

/* SMPI only: one decode per step for all ranks (r->exs; NULL otherwise). */
typedef struct shared_decode {
    long long step;       /* step whose average is in avg (-1: none yet) */
    double loss;          /* mean worker loss of that step */
    double decode_wall;   /* real seconds the one decode took */
    float *avg;           /* [nparams] */
    const uint8_t **msgs; /* [ranks] each rank's message buffer (real data) */
    int overflow;         /* --overlap: a message of that step was an overflow marker */
    uint8_t *recv;        /* [recv_cap] SMPI shared memory: every rank's receive buffer */
} shared_decode;

/* SMPI: rank 0 allocates the shared decode state into r->exs (setup, every rank; nothing
 * outside SMPI or with --no-shared-decode). EXIT_OK or a status every rank agrees on. */
int ex_allgather_shared_setup(run *r);
/* Frees it (every rank, whether setup ran or not). */
void ex_allgather_teardown(run *r);

#endif
