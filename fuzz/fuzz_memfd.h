/* fuzz_memfd.h — the input of a fuzz target as a file the readers open by path: a memfd
 * (memfd_create, kept open across inputs) rewritten for each input and named
 * "/proc/self/fd/N". Header only, included by fuzz_libsvm.c, fuzz_idx.c and fuzz_tsv.c, which
 * define _GNU_SOURCE (for memfd_create) before their first include. */
#ifndef QSGDSIM_FUZZ_MEMFD_H
#define QSGDSIM_FUZZ_MEMFD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

#endif
