/* qsgd_kernels.h — inner loops of the QSGD quantizer (internal to quantizers/).
 * Every SIMD kernel has a scalar _ref twin that is the ground truth; both round
 * identically (no FMA contraction, same operation order), so they agree bit for bit. */
#ifndef QSGDSIM_QSGD_KERNELS_H
#define QSGDSIM_QSGD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Per-bucket scale statistics. l2: sqrt(sum v^2) accumulated in double over 8 fixed lanes;
 * max: max |v|. Returns the norm as float; *finite = 0 if any value is NaN or infinite. */
float qsgd_norm_l2(const float *v, size_t len, int *finite);
float qsgd_norm_max(const float *v, size_t len, int *finite);

struct qsgd_err;
/* The norm of bucket b, values v[0..len) (norm_max: max |v|, else l2) into *norm; QSGD_OK, or
 * QSGD_EINVAL in err naming the first non-finite value by its index b0 + i, or the bucket
 * whose norm overflows float. who: the quantizer's name for the message. */
int qsgd_bucket_norm(const char *who, int norm_max, const float *v, size_t len, size_t b0, size_t b,
                     float *norm, struct qsgd_err *err);

/* Stochastic levels of v[0..len) with uniforms from words r[0..len):
 *   x = |v_i| * scale,  l = floor(x),  level = min(l + (u_i < x - l), s)
 *   codes[i] = level | (v_i < 0 && level > 0) << (w - 1)
 * scale = s / norm must be finite (callers handle norm == 0). */
void qsgd_levels_ref(const float *v, const uint32_t *r, size_t len, float scale, uint32_t s,
                     unsigned w, uint16_t *codes);
void qsgd_levels(const float *v, const uint32_t *r, size_t len, float scale, uint32_t s, unsigned w,
                 uint16_t *codes, int simd);

/* Pack len w-bit codes (1 <= w <= 16) MSB-first into dst: ceil(len*w/8) bytes, the last
 * byte zero-padded. */
void qsgd_pack(const uint16_t *codes, size_t len, unsigned w, uint8_t *dst);
/* Inverse: code i of the stream starting at bit `bit0` of src (bytes src[0..srclen)). */
void qsgd_unpack(const uint8_t *src, size_t srclen, uint64_t bit0, size_t len, unsigned w,
                 uint16_t *codes);
#endif
