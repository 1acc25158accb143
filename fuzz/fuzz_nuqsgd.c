/* fuzz_nuqsgd.c — libFuzzer target: the nuqsgd decoder over spec variants chosen by the header
 * (fuzz_c2.h), and round trips. Input layout and checked properties: see fuzz_common.c. */
#include "fuzz_common.c"
/* after fuzz_common.c, whose definitions it uses */
#include "fuzz_c2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_c2_one(2, data, size);
}

#ifdef FUZZ_C2_GEN
int main(int argc, char **argv) {
    fuzz_c2_gen(2, argc > 1 ? argv[1] : "fuzz/corpus/nuqsgd");
    return 0;
}
#endif
