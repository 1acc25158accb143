/* fuzz_qsgd_dense.c — libFuzzer target: the QSGD dense-format decoder (s, bucket, norm and
 * shape from the input), and the dense encode/decode round trip against quant_quantize.
 * Input layout and checked properties: see fuzz_common.c. */
#include "fuzz_common.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_one(&fuzz_qsgd_dense, data, size);
}
