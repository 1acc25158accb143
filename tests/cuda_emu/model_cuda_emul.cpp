/* model_cuda_emul.cpp — tests/cuda_emu: models/model_cuda.cu, unchanged, compiled as C++
 * against the strict host emulation of the CUDA runtime and cuBLAS in this directory
 * (cuda_runtime.h, cublas_v2.h, cuda_emu.cpp), so that the CUDA model code runs on machines
 * without a GPU to test its logic (indexing, GEMM argument mapping, buffer sizes, stream
 * ordering, error paths) — not GPU numerics or performance. Including the .cu (rather than
 * compiling a copy) keeps compiler messages on the real file's lines. */
#include "model_cuda.cu"
