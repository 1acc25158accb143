/* test_memlimit.h — for tests that run a reader in a child process with a capped address
 * space (RLIMIT_AS), so that "out of memory" and "grows without bound" are checked in seconds
 * instead of waiting for the OOM killer: whether ASan is on (its shadow memory needs terabytes
 * of address space, so such tests skip the cap there) and this process's virtual size. */
#ifndef QSGDSIM_TEST_MEMLIMIT_H
#define QSGDSIM_TEST_MEMLIMIT_H

#include <stddef.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

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

/* In a forked child: a 30 s alarm, and (not under ASan) an address space that may grow by at
 * most `extra` bytes beyond what it holds now. Exits 90 if the limit cannot be set. */
static inline void limit_child(size_t extra) {
    alarm(30);
    size_t vm = vm_size();
    if (!UNDER_ASAN && vm) {
        struct rlimit rl = {vm + extra, vm + extra};
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(90);
    }
}

#endif
