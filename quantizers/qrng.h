/* qrng.h — the counter-based generator behind every random draw of the quantizers:
 * Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers: as easy as 1, 2, 3").
 *
 * Stream layout (the definition; SIMD and GPU code must reproduce it bit for bit):
 * coordinate i of a tensor gets the 32-bit word
 *     r_i = philox4x32_10(ctr = {8*(i/32) + (i%8), tensor, step, worker},
 *                         key = {seed & 0xffffffff, seed >> 32}) [ (i%32)/8 ]
 * i.e. 8 Philox blocks give 32 consecutive coordinates, block l serving coordinates
 * l, l+8, l+16, l+24 of the group. Its uniform is u_i = (r_i >> 8) * 2^-24 in [0, 1).
 */
#ifndef QSGDSIM_QRNG_H
#define QSGDSIM_QRNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QRNG_GROUP 32 /* coordinates per group of 8 Philox blocks */

/* QRNG_HD marks the inline functions below that GPU code (quantizers/qcuda.cu) calls too:
 * __host__ __device__ under nvcc, nothing for a C compiler. The arithmetic is integer
 * (Philox) or one exact conversion and one multiplication by 2^-24 (qrng_uniform), so the
 * host and the device compute identical bits. */
#if defined(__CUDACC__)
#define QRNG_HD __host__ __device__
#else
#define QRNG_HD
#endif

typedef struct qrng_stream {
    uint32_t key[2];           /* seed */
    uint32_t ctr1, ctr2, ctr3; /* tensor, step, worker */
} qrng_stream;

static inline QRNG_HD qrng_stream qrng_make(uint64_t seed, uint32_t worker, uint32_t step,
                                            uint32_t tensor) {
    qrng_stream st = {{(uint32_t)seed, (uint32_t)(seed >> 32)}, tensor, step, worker};
    return st;
}

/* One Philox4x32-10 block (reference implementation). */
static inline QRNG_HD void qrng_philox4x32_10(const uint32_t ctr_in[4], const uint32_t key_in[2],
                                              uint32_t out[4]) {
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* r_i of coordinate i (reference, one at a time). */
uint32_t qrng_word(const qrng_stream *st, uint64_t i);

/* Fill out[0 .. 32*ngroups) with r_i for i = 32*g0 ... (whole groups). simd selects the
 * kernel (0 scalar, 1 AVX2, 2 AVX-512; at most qrng_simd_available()); the words are
 * identical whichever runs. */
void qrng_fill_groups(const qrng_stream *st, uint64_t g0, size_t ngroups, uint32_t *out, int simd);
/* The portable scalar version of qrng_fill_groups (reference for tests). */
void qrng_fill_groups_ref(const qrng_stream *st, uint64_t g0, size_t ngroups, uint32_t *out);

/* Uniform in [0, 1) from a word: 24 high bits. */
static inline QRNG_HD float qrng_uniform(uint32_t r) {
    return (float)(r >> 8) * (1.0f / 16777216.0f);
}

/* The best kernel this CPU runs: 2 (AVX-512F), 1 (AVX2) or 0; 0 when the environment
 * variable QSGDSIM_NO_SIMD is set (not "0"). Quantizers read this once, in quant_alloc. */
int qrng_simd_available(void);

#ifdef __cplusplus
}
#endif
#endif
