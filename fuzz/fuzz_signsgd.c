/* fuzz_signsgd.c — libFuzzer target: the signSGD decoder (one bit per value),
 * and round trips. Input layout and checked properties: see fuzz_common.c and fuzz_c1.h. */
#include "fuzz_common.c"
/* after fuzz_common.c, whose definitions it uses */
#include "fuzz_c1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_c1_one(C1_SIGNSGD, data, size);
}

#ifdef FUZZ_C1_GEN
int main(int argc, char **argv) {
    fuzz_c1_gen(C1_SIGNSGD, argc > 1 ? argv[1] : "fuzz/corpus/signsgd");
    return 0;
}
#endif
