/* test_memlimit.h — for tests that run a reader in a child process with a capped address
 * space (RLIMIT_AS), so that "out of memory" and "grows without bound" are checked in seconds
 * instead of waiting for the OOM killer: whether ASan is on (its shadow memory needs terabytes
 * of address space, so such tests skip the cap there) and this process's virtual size. */
#ifndef QSGDSIM_TEST_MEMLIMIT_H
#define QSGDSIM_TEST_MEMLIMIT_H

#include <stddef.h>
#include <stdio.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* This process's virtual memory size in bytes (0 if unknown). */
static inline size_t vm_size(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

#endif
