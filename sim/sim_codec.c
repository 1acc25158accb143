/* sim_codec.c — empty: the trainer's per-worker gradient message is grad_codec
 * (models/grad_codec.c), shared with `qsgdsim train`. This file stays only until the build
 * lists (sim/CMakeLists.txt, fuzz/CMakeLists.txt) drop it. */
#include "sim.h"

typedef int sim_codec_moved_to_grad_codec; /* ISO C: a translation unit is not empty */
