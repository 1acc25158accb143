/* elias.c — out-of-line helpers of the Elias omega code (the code itself is inline in
 * elias.h, on the encoders' hot path). */
#include "elias.h"

unsigned elias_omega_string(uint64_t k, char *buf) {
    unsigned len;
    uint64_t code = elias_omega_code(k, &len);
    for (unsigned i = 0; i < len; i++)
        buf[i] = (char)('0' + ((code >> (len - 1 - i)) & 1));
    buf[len] = '\0';
    return len;
}
