/* bench_quant_gpu.c — throughput of the GPU codec (quantizers/qcuda.h) against a
 * device-to-device copy of the same gradient: QSGD dense 2/4/8-bit (buckets of 512 and the
 * whole tensor), 1-bit SGD (a matrix and a bucketed vector) and fp32, encode and decode, on
 * n = 2^22 and 2^26 floats resident on the GPU. Each figure is GB/s of gradient (4n bytes)
 * per call, best of R repetitions of K calls (each call waits for its kernels, as in the
 * trainer); the copy's figure is 4n bytes / time of cudaMemcpy device-to-device.
 * Target (issue 6): encode and decode >= 50% of the copy.
 *
 * usage: bench_quant_gpu [--n 22,26] [--reps R] [--calls K]
 * Without a usable GPU it says so and exits 0 (a benchmark, not a test). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu_device.h"
#include "qcuda.h"
#include "qrng.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct cfg {
    const char *spec;
    int matrix; /* 1: rows x cols = 2^(k/2) x 2^(k - k/2) */
} cfg;

int main(int argc, char **argv) {
    int reps = 5, calls = 10;
    char ns[64] = "22,26";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc)
            snprintf(ns, sizeof ns, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--calls") && i + 1 < argc)
            calls = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--n 22,26] [--reps R] [--calls K]\n", argv[0]);
            return 2;
        }
    }
    char why[256] = "", gd[160] = "";
    if (gpu_device_count(why, sizeof why) <= 0) {
        printf("# bench_quant_gpu: no usable CUDA GPU (%s): nothing to measure\n", why);
        return 0;
    }
    gpu_device_describe(0, gd, sizeof gd);
    printf("# bench_quant_gpu: GPU codec (qcuda) vs device-to-device copy on cuda:0 %s\n", gd);
    printf(
        "# GB/s of gradient (4n bytes) per call, best of %d x %d calls; each call synchronizes\n",
        reps, calls);
    printf("%-40s %5s %10s %10s %10s %9s %9s %8s\n", "quantizer", "log2n", "bits/coord",
           "copy_GB/s", "enc_GB/s", "dec_GB/s", "dec+_GB/s", "enc/copy");
    static const cfg cfgs[] = {
        {"fp32", 0},
        {"qsgd:bits=2,bucket=512", 0},
        {"qsgd:bits=4,bucket=512", 0},
        {"qsgd:bits=8,bucket=512", 0},
        {"qsgd:bits=4,bucket=512,norm=max", 0},
        {"qsgd:bits=4,bucket=0", 0},
        {"onebit", 1},
        {"onebit:bucket=512", 0},
    };
    int rc = 0;
    for (char *tok = strtok(ns, ","); tok; tok = strtok(NULL, ",")) {
        int k = atoi(tok);
        if (k < 10 || k > 30) {
            fprintf(stderr, "bench_quant_gpu: --n takes log2 sizes in 10..30\n");
            return 2;
        }
        size_t n = (size_t)1 << k;
        float *h = malloc(n * sizeof(float));
        qrng_stream st = qrng_make(7, 0, 0, 0);
        for (size_t i = 0; i < n; i++) /* symmetric values in (-1, 1) from the Philox stream */
            h[i] = 2.0f * qrng_uniform(qrng_word(&st, i)) - 1.0f;
        float *dv = gpu_alloc(n * sizeof(float)), *dcopy = gpu_alloc(n * sizeof(float)),
              *dout = gpu_alloc(n * sizeof(float));
        uint8_t *dbuf = gpu_alloc(4 * n + 4096);
        if (!dv || !dcopy || !dout || !dbuf || gpu_copy_to_device(dv, h, n * sizeof(float))) {
            fprintf(stderr, "bench_quant_gpu: out of GPU memory for n = 2^%d\n", k);
            return 1;
        }
        double copy_best = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            for (int c = 0; c < calls; c++)
                gpu_copy_device(dcopy, dv, n * sizeof(float));
            double t = (now() - t0) / calls;
            copy_best = t < copy_best ? t : copy_best;
        }
        double gb = 4.0 * (double)n * 1e-9;
        for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
            size_t rows = cfgs[ci].matrix ? (size_t)1 << (k / 2) : 1, cols = n / rows;
            qsgd_err err = {0};
            quant *q = quant_alloc_spec(cfgs[ci].spec, rows, cols, &err);
            qcuda *g = q ? qcuda_alloc(q, 0, NULL, &err) : NULL;
            if (!g) {
                printf("%-40s %5d  (failed: %s)\n", cfgs[ci].spec, k, err.msg);
                rc = 1;
                quant_free(q);
                continue;
            }
            size_t cap = qcuda_message_bytes(g);
            uint64_t nbits = 0;
            double te = 1e30, td = 1e30, ta = 1e30;
            int ok = 1;
            for (int r = 0; r < reps && ok; r++) {
                double t0 = now();
                for (int c = 0; c < calls && ok; c++) {
                    quant_ctx ctx = {1, 0, (uint32_t)(r * calls + c), 0};
                    ok = qcuda_encode(g, dv, &ctx, dbuf, cap, &nbits, &err) == QSGD_OK;
                }
                double t1 = now();
                for (int c = 0; c < calls && ok; c++)
                    ok = qcuda_decode(g, dbuf, cap, nbits, dout, &err) == QSGD_OK;
                double t2 = now();
                for (int c = 0; c < calls && ok; c++)
                    ok = qcuda_decode_add(g, dbuf, cap, nbits, dout, &err) == QSGD_OK;
                double t3 = now();
                te = (t1 - t0) / calls < te ? (t1 - t0) / calls : te;
                td = (t2 - t1) / calls < td ? (t2 - t1) / calls : td;
                ta = (t3 - t2) / calls < ta ? (t3 - t2) / calls : ta;
            }
            if (!ok) {
                printf("%-40s %5d  (failed: %s)\n", cfgs[ci].spec, k, err.msg);
                rc = 1;
            } else {
                char name[64];
                snprintf(name, sizeof name, "%s%s", cfgs[ci].spec,
                         cfgs[ci].matrix ? " (matrix)" : "");
                printf("%-40s %5d %10.3f %10.1f %10.1f %9.1f %9.1f %7.0f%%\n", name, k,
                       (double)nbits / (double)n, gb / copy_best, gb / te, gb / td, gb / ta,
                       100.0 * copy_best / te);
            }
            fflush(stdout);
            qcuda_free(g);
            quant_free(q);
        }
        gpu_free(dv);
        gpu_free(dcopy);
        gpu_free(dout);
        gpu_free(dbuf);
        free(h);
    }
    printf("# enc/copy: encode throughput as a share of the copy's (target >= 50%%); dec+ = "
           "decode_add (validate, then accumulate)\n");
    return rc;
}
