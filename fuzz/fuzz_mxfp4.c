/* fuzz_mxfp4.c — libFuzzer target: the mxfp4 decoder over spec variants chosen by the header
 * (fuzz_c3.h), and round trips. Input layout and checked properties: see fuzz_common.c. */
#include "fuzz_common.c"
/* after fuzz_common.c, whose definitions it uses */
#include "fuzz_c3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_c3_one(1, data, size);
}

#ifdef FUZZ_C3_GEN
int main(int argc, char **argv) {
    fuzz_c3_gen(1, argc > 1 ? argv[1] : "fuzz/corpus/mxfp4");
    return 0;
}
#endif
