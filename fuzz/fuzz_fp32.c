/* fuzz_fp32.c — libFuzzer target: the fp32 decoder (and fp32 encode/decode round trip).
 * Input layout and checked properties: see fuzz_common.c. */
#include "fuzz_common.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_one(&fuzz_fp32, data, size);
}
