/* grad_codec.h — the per-tensor gradient codec of both training paths: `qsgdsim train`
 * (models/train.c: encode -> decode -> step on one worker) and the distributed trainer
 * (sim/: one message per worker, exchanged). Which tensors are quantized (by size), the fp32
 * fallback, the message layout, the overflow marker and the description are decided here
 * once.
 *
 * Message layout (bytes): [loss: float64][nbits of tensor 0..T-1: uint32 each][payload of
 * each tensor, byte-aligned]. Tensors below the size threshold are fp32 quantized (the fp32
 * quantizer), so every tensor has a quantizer. All integers little-endian. The header is
 * counted in the bits of a message (grad_codec_encode); grad_codec_roundtrip counts the
 * payloads only.
 */
#ifndef QSGDSIM_GRAD_CODEC_H
#define QSGDSIM_GRAD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tensors with fewer elements than this are sent uncompressed (fp32), as in the QSGD
 * paper's experiments ("matrices under 10K elements"): the default of --quant-min-numel
 * (`qsgdsim train`, the trainer, experiment files' quant_min_numel). */
#define GRAD_CODEC_MIN_NUMEL 10000

typedef struct grad_codec {
    size_t ntensors;
    quant **q;         /* [ntensors] every tensor's quantizer (fp32 below the threshold) */
    size_t *offset;    /* [ntensors] into the flat vector */
    size_t *numel;     /* [ntensors] */
    size_t max_bytes;  /* upper bound on one message */
    int fixed_size;    /* 1 if every message has the same length (no length exchange) */
    size_t fixed_len;  /* that length in bytes (fixed_size only) */
    size_t nquantized; /* tensors with the requested (lossy) quantizer; others fp32 */
    size_t quantized_numel;
    float *tmp; /* [largest tensor] decode scratch */
} grad_codec;

/* One quantizer per tensor of m: the spec's on tensors with numel >= min_numel (0: every
 * tensor), fp32 on the others, shaped rows = shape[0], cols = the product of the other
 * dimensions. spec NULL, "" or "none", or a lossless type (fp32): every tensor fp32
 * (nquantized 0). NULL with err set on a bad spec (message naming the tensor) or no memory. */
grad_codec *grad_codec_alloc(const model *m, const char *spec, size_t min_numel, qsgd_err *err);
void grad_codec_free(grad_codec *c); /* NULL is fine */
/* e.g. "qsgd:s=127,bucket=512,norm=l2,format=dense on 3 of 6 tensors (99.29% of 235146
 * parameters), others fp32". 0, or nonzero if truncated. */
int grad_codec_describe(const grad_codec *c, char *buf, size_t len);
/* Bytes of the header ([loss][nbits per tensor]). */
size_t grad_codec_header_bytes(const grad_codec *c);

/* A gradient that overflowed: quant_encode rejected a tensor because its values (plus the
 * error-feedback residual, for onebit) are not finite or their norm overflows float. That is
 * a divergence, not an encoder error: grad_codec_encode then returns GRAD_CODEC_EOVERFLOW
 * (err->msg names the tensor) and writes an overflow marker in place of the message, which
 * every receiver decodes as the loss -inf (real losses are >= 0, so -inf says "some worker's
 * gradient overflowed"). Marker: [loss: -inf][nbits of tensor 0: 0xFFFFFFFF][zeros], the
 * codec's fixed length for fixed-size codecs (every rank sends the same count), the header
 * alone otherwise. No real message has a tensor of 0xFFFFFFFF bits (refused at encode). */
#define GRAD_CODEC_EOVERFLOW 100
/* 1 if quant_encode's refusal of v[q->n] (a failed encode) is an overflow of the values: one
 * of them (+ residual) is not finite, or their l2 norm is beyond float. */
int grad_codec_overflowed(const quant *q, const float *v);
/* 1 if the (loss, first nbits) of a message header mark an overflow. */
int grad_codec_is_marker(const uint8_t *msg, size_t len);
/* The marker of ntensors tensors in msg[len] (len >= the header: 8 + 4 ntensors). */
void grad_codec_write_marker(uint8_t *msg, size_t len, size_t ntensors);

/* Encode grad[nparams] (+ loss) into msg[cap] with quant_ctx {seed, worker, step, tensor
 * index}; *len = bytes, *bits = exact bits of the payloads + header. Never allocates.
 * GRAD_CODEC_EOVERFLOW: the gradient overflowed, msg holds the marker. */
int grad_codec_encode(grad_codec *c, const float *grad, double loss, uint64_t seed, uint32_t worker,
                      uint32_t step, uint8_t *msg, size_t cap, size_t *len, uint64_t *bits,
                      qsgd_err *err);
/* acc[nparams] += decode(msg); *loss = the sender's loss (-inf and nothing added for an
 * overflow marker). QSGD_ECORRUPT (err->bit) for a truncated or corrupt message. */
int grad_codec_decode_add(grad_codec *c, const uint8_t *msg, size_t len, float *acc, double *loss,
                          qsgd_err *err);
/* The combination of count decoded messages summed in acc[nparams] (grad_codec_decode_add),
 * tensor by tensor as its quantizer's type says (quant_type.aggregate): the mean
 * out[i] = acc[i] * (1.0f / count) (bit for bit the trainer's average), or for a voting type
 * (signsgd) the majority vote out[i] = sign(acc[i]) (+1, -1, or 0 on a tie). out may be acc. */
void grad_codec_aggregate(const grad_codec *c, const float *acc, int count, float *out);
/* 1 if some tensor's quantizer votes (quant_type.aggregate = QUANT_AGG_VOTE). */
int grad_codec_votes(const grad_codec *c);

/* One worker's round trip, the step of `qsgdsim train`: out[nparams] = decode(encode(grad))
 * through the message msg[cap] (cap >= c->max_bytes), decoded in place (not added: out is
 * exactly the decoded values, fp32 tensors a bit copy). *bits = the payloads' bits (32 per
 * value for fp32 tensors; no header). out may not alias grad. Never allocates.
 * GRAD_CODEC_EOVERFLOW as grad_codec_encode. */
int grad_codec_roundtrip(grad_codec *c, const float *grad, float *out, uint64_t seed,
                         uint32_t worker, uint32_t step, uint8_t *msg, size_t cap, uint64_t *bits,
                         qsgd_err *err);

/* Little-endian uint32 in message headers. */
static inline void grad_codec_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t grad_codec_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#ifdef __cplusplus
}
#endif
#endif
