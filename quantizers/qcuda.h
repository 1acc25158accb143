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
 *     (qsgd_norm_l2: 8 lanes, each sequential, then a fixed tree; onebit: sequential per
 *     column or bucket). The GPU reproduces those sums exactly. Short sums run as written,
 *     one thread per lane. Long ones (whole-tensor buckets, tall columns) use an exact
 *     parallel method: all terms are >= 0, so the running sum only grows; while it stays
 *     in one binade [2^e, 2^(e+1)) its grid is fixed (ulp u = 2^(e-52)) and adding a term
 *     rounds to that grid, with ties depending only on the parity of the running sum in
 *     units of u. So every block of 64 terms is summarised, for a guessed e, by what it
 *     adds for each of the two parities and the parity it leaves (computed in parallel;
 *     summaries compose, giving a tree with fan-out 32). One thread per sum then walks the
 *     tree with the true running sum, applying a summary only after checking, exactly,
 *     that the sum is in binade e and stays below 2^(e+1) - 4u (which proves that the
 *     sequential sum never left the binade); otherwise it descends, down to adding terms
 *     one by one. Guesses (from an approximate prefix sum) only affect speed, never bits.
 *
 * Calls are synchronous with respect to the host: each one queues its kernels on the
 * codec's stream, then waits for them (errors are reported by return value).
 *
 * Errors: the codes and messages of the CPU quantizers (QUANT_EINVAL for non-finite
 * input, QUANT_ENOSPC, QUANT_ECORRUPT with err->bit for bad messages); a failing CUDA call
 * gives QUANT_ENOMEM (allocation) or QUANT_EINVAL with the CUDA error text and the call
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
qcuda *qcuda_alloc(const quant *q, int device, void *stream, quant_err *err);
/* The same codec with no GPU: every kernel runs as a loop on the host, over host memory
 * (all "device" pointers below are then host pointers). The same kernel code, phases and
 * workspace as on the GPU, only sequential: used by the tests to check the GPU algorithms
 * against the CPU quantizers on machines without a GPU. Slow. */
qcuda *qcuda_alloc_emulated(const quant *q, quant_err *err);
void qcuda_free(qcuda *g); /* NULL is fine */
/* onebit: zero the residual (no-op for the stateless types). */
int qcuda_reset(qcuda *g, quant_err *err);
/* onebit: copy the current residual (n floats) to device memory d_out. Other types: EINVAL. */
int qcuda_residual(const qcuda *g, float *d_out, quant_err *err);

/* Bits of every message of this codec (the formats are fixed-size) and its byte size. */
uint64_t qcuda_message_bits(const qcuda *g);
size_t qcuda_message_bytes(const qcuda *g);

/* Encode d_v (n floats, device) into d_buf (cap bytes, device). Same bytes, nbits and error
 * codes as quant_encode of the CPU instance with the same ctx (ctx is used by qsgd only and
 * may be NULL otherwise). Bytes of d_buf past the message are not touched. */
int qcuda_encode(qcuda *g, const float *d_v, const quant_ctx *ctx, uint8_t *d_buf, size_t cap,
                 uint64_t *nbits, quant_err *err);
/* Decode a message of nbits bits in d_buf[0 .. len) into d_out (n floats): the float bits of
 * quant_decode. nbits must be exactly qcuda_message_bits (else QUANT_ECORRUPT, as on the
 * CPU); invalid contents give QUANT_ECORRUPT with the CPU's message and bit offset, and
 * d_out is then unspecified. */
int qcuda_decode(const qcuda *g, const uint8_t *d_buf, size_t len, uint64_t nbits, float *d_out,
                 quant_err *err);
/* d_out[i] += decoded[i] (float addition, round to nearest): the aggregation path. The
 * message is validated before anything is added: on QUANT_ECORRUPT d_out is unchanged. */
int qcuda_decode_add(const qcuda *g, const uint8_t *d_buf, size_t len, uint64_t nbits,
                     float *d_out, quant_err *err);

/* Which exact-summation method the codec uses for its long double sums: "none" (fp32, or
 * QSGD max norm), "fused" (QSGD: norms and codes in one kernel, one thread per lane),
 * "direct" (one thread per sum) or "tree" (the parallel method above). For tests and
 * benchmarks. The environment variable QSGDSIM_QCUDA_SUM=direct|tree (read by qcuda_alloc)
 * forces a method for QSGD l2 / onebit sums (with "direct" or "tree", QSGD does not use the
 * fused kernel); the results are identical whichever runs. */
const char *qcuda_sum_method(const qcuda *g);

#ifdef __cplusplus
}
#endif
#endif
