/* fuzz_fp16.c — libFuzzer target: the fp16 cast decoder (codes with exponent 31 refused),
 * and round trips. Input layout and checked properties: see fuzz_common.c and fuzz_c1.h. */
#include "fuzz_common.c"
/* after fuzz_common.c, whose definitions it uses */
#include "fuzz_c1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_c1_one(C1_FP16, data, size);
}

#ifdef FUZZ_C1_GEN
int main(int argc, char **argv) {
    fuzz_c1_gen(C1_FP16, argc > 1 ? argv[1] : "fuzz/corpus/fp16");
    return 0;
}
#endif
