/* fuzz_onebit.c — libFuzzer target: the 1-bit SGD decoder (vector buckets, matrix shapes,
 * with and without error feedback), and a two-step round trip with residuals.
 * Input layout and checked properties: see fuzz_common.c. */
#include "fuzz_common.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_one(&fuzz_onebit, data, size);
}
