/* qcuda.h — GPU (CUDA) encode/decode of the fixed-size wire formats, bit-exact with the CPU
 * quantizers: QSGD format=dense (l2 or max norm, any s, any bucket, vectors and matrices),
 * 1-bit SGD (with or without error feedback) and fp32.
 *
 * A qcuda object is the GPU codec of ONE CPU quantizer instance: it copies the instance's
 * type, parameters and shape at qcuda_alloc and allocates all of its device workspace
 * there (encode and decode never allocate). Inputs and outputs are device pointers.
 *
 * Bit-exactness. For the same input and quant_ctx, qcuda_encode writes the same bytes and
 * the same nbits as quant_encode, and qcuda_decode the same float bits as quant_decode:
 *   - random words: the Philox stream of qrng.h, coordinate for coordinate;
 *   - levels and decoded values: the float operations of qsgd_levels_ref / decode_dense in
 *     the same order with explicit round-to-nearest intrinsics (no FMA contraction; the
 *     file is also compiled with -fmad=false);
 *   - l2 norms (and onebit's means): the CPU sums in double in a fixed sequential order
 *     (qsgd_norm_l2: 8 strided lanes, each sequential, then a fixed tree, then the tail;
 *     onebit: sequential per column or bucket). The GPU runs the same sums, one thread per
 *     lane (9 per bucket) or per column/bucket, so they are the same sums in the same order.
 *     The price: a whole-tensor bucket (bucket=0) has only 9 threads for its l2 norm, and a
 *     onebit vector bucket or matrix column one thread for its means, so those phases are
 *     slow for large buckets; with QSGD's usual buckets (d <= a few thousand) and onebit on
 *     matrices they are a small part of the work (bench_qcuda prints the throughput).
 *   - everything else (levels, packing, validation, decoded values) is per coordinate or per
 *     group of 32 coordinates, one GPU thread each, with the arithmetic of the CPU code.
 * The kernel bodies live in qcuda_kernels.h and are shared with qcuda_alloc_emulated, which
 * runs them as host loops: the tests check the algorithms against the CPU quantizers on
 * machines without a GPU, and the CUDA build against both where there is one.
 *
 * Calls are synchronous with respect to the host: each one queues its kernels on the
 * codec's stream, then waits for them (one 8-byte device-to-host copy of the error word per
 * call; errors are reported by return value).
 *
 * Errors: the codes and messages of the CPU quantizers (QSGD_EINVAL for non-finite
 * input, QSGD_ENOSPC, QSGD_ECORRUPT with err->bit for bad messages); a failing CUDA call
 * gives QSGD_ENOMEM (allocation) or QSGD_EINVAL with the CUDA error text and the call
 * site. A sticky CUDA error (e.g. an illegal address) leaves the CUDA context unusable.
 *
 * Limits: n = rows * cols <= 2^31 - 1. QSGD format=elias is not supported (variable
 * length). Built without CUDA, every function fails with "built without CUDA". */
#ifndef QSGDSIM_QCUDA_H
#define QSGDSIM_QCUDA_H

#include <stddef.h>
#include <stdint.h>

#include "quant.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qcuda qcuda;

/* 1 if instance q can be run on the GPU, else 0 with the reason in why. */
int qcuda_supported(const quant *q, char *why, size_t len);

/* The GPU codec of q on CUDA device `device`, queuing its work on `stream` (a cudaStream_t;
 * NULL = the legacy default stream). Makes `device` current on the calling thread for the
 * duration of each call (and restores the previous current device). onebit: the residual
 * starts at zero (like a fresh CPU instance), and evolves exactly as the CPU instance's
 * would over the same inputs. Returns NULL and fills err on failure. */
qcuda *qcuda_alloc(const quant *q, int device, void *stream, qsgd_err *err);
/* The same codec with no GPU: every kernel runs as a loop on the host, over host memory
 * (all "device" pointers below are then host pointers). The same kernel code, phases and
 * workspace as on the GPU, only sequential: used by the tests to check the GPU algorithms
 * against the CPU quantizers on machines without a GPU. Slow. */
qcuda *qcuda_alloc_emulated(const quant *q, qsgd_err *err);
void qcuda_free(qcuda *g); /* NULL is fine */
/* onebit: zero the residual (no-op for the stateless types). */
int qcuda_reset(qcuda *g, qsgd_err *err);
/* onebit: copy the current residual (n floats) to device memory d_out. Other types: EINVAL. */
int qcuda_residual(const qcuda *g, float *d_out, qsgd_err *err);

/* Bits of every message of this codec (the formats are fixed-size) and its byte size. */
uint64_t qcuda_message_bits(const qcuda *g);
size_t qcuda_message_bytes(const qcuda *g);

/* Encode d_v (n floats, device) into d_buf (cap bytes, device). Same bytes, nbits and error
 * codes as quant_encode of the CPU instance with the same ctx (ctx is used by qsgd only and
 * may be NULL otherwise). Bytes of d_buf past the message are not touched. */
int qcuda_encode(qcuda *g, const float *d_v, const quant_ctx *ctx, uint8_t *d_buf, size_t cap,
                 uint64_t *nbits, qsgd_err *err);
/* Decode a message of nbits bits in d_buf[0 .. len) into d_out (n floats): the float bits of
 * quant_decode. nbits must be exactly qcuda_message_bits (else QSGD_ECORRUPT, as on the
 * CPU); invalid contents give QSGD_ECORRUPT with the CPU's message and bit offset, and
 * d_out is then unspecified. */
int qcuda_decode(const qcuda *g, const uint8_t *d_buf, size_t len, uint64_t nbits, float *d_out,
                 qsgd_err *err);
/* d_out[i] += decoded[i] (float addition, round to nearest): the aggregation path. The
 * message is validated before anything is added: on QSGD_ECORRUPT d_out is unchanged. */
int qcuda_decode_add(const qcuda *g, const uint8_t *d_buf, size_t len, uint64_t nbits, float *d_out,
                     qsgd_err *err);

/* "cuda" or "emulated". */
const char *qcuda_backend(const qcuda *g);

#ifdef __cplusplus
}
#endif
#endif
