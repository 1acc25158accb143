/* fuzz_memfd.h — for the targets of the file readers: the input as a file the readers open by
 * path (a memfd, kept open across inputs, rewritten for each input and named
 * "/proc/self/fd/N"), and a bound on any one allocation, so that a reader that sizes memory by
 * what a header claims instead of what the file holds (e.g. 16 GiB for a 60-byte IDX file)
 * fails the target even where the allocation itself would succeed. Header only, included by
 * fuzz_libsvm.c, fuzz_idx.c and fuzz_tsv.c, which define _GNU_SOURCE (for memfd_create)
 * before their first include. */
#ifndef QSGDSIM_FUZZ_MEMFD_H
#define QSGDSIM_FUZZ_MEMFD_H

#include <sanitizer/allocator_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct fuzz_file {
    int fd;
    char path[64];
} fuzz_file;

/* Replace the contents of f (created on first use) with data[0..size). */
static void fuzz_file_set(fuzz_file *f, const char *name, const uint8_t *data, size_t size) {
    if (f->fd <= 0) {
        f->fd = memfd_create(name, MFD_CLOEXEC);
        if (f->fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    }
    if (ftruncate(f->fd, 0) != 0) {
        perror("ftruncate");
        abort();
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(f->fd, data + off, size - off, (off_t)off);
        if (w <= 0) {
            perror("pwrite");
            abort();
        }
        off += (size_t)w;
    }
}

/* ---- one allocation of more than FUZZ_MAX_ALLOC bytes is a finding ------------------------ */
#define FUZZ_MAX_ALLOC ((size_t)64 << 20) /* far above what a 64 KiB input can need */

static void fuzz_alloc_hook(const volatile void *p, size_t size) {
    (void)p;
    if (size > FUZZ_MAX_ALLOC) {
        static const char msg[] = "fuzz: one allocation of more than 64 MiB for a small input\n";
        if (write(2, msg, sizeof msg - 1) < 0) {
        }
        __builtin_trap();
    }
}

static void fuzz_free_hook(const volatile void *p) {
    (void)p;
}

/* Install the hook (once; call at the start of every input). */
static void fuzz_limit_allocations(void) {
    static int done;
    if (!done)
        done = __sanitizer_install_malloc_and_free_hooks(fuzz_alloc_hook, fuzz_free_hook) || 1;
}

#endif
