/* fuzz_check.h — the one assertion of every fuzz target: a violated property prints where and
 * what, then traps, so that libFuzzer saves the input as a crash. */
#ifndef QSGDSIM_FUZZ_CHECK_H
#define QSGDSIM_FUZZ_CHECK_H

#include <stdio.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: property violated at %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

#endif
