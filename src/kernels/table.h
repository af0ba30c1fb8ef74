// The kernel sets' entry points, one table per instruction set (private to src/kernels).
//
// Each isa_*.cpp is compiled with its own flags and defines its table. Those files include
// nothing but this header, <immintrin.h>, <cstdint>/<cstring> and their own .inl files, all
// inside a namespace of their own: an inline function or template instantiated there with
// AVX-512 flags must not be merged by the linker with the portable one (it could then run on a
// CPU without AVX-512).
#pragma once

#include "nst/kernels/kernel_set.h"
#include "nst/kernels/winograd_rows.h"

#include <cstdint>

namespace nst::kernels {

struct KernelTable {
  KernelSet set;
  // sgemm.h's product; `scratch` holds at least sgemm_scratch(...) floats, 64-byte aligned.
  void (*sgemm)(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
                const float* B, int64_t b_rs, int64_t b_cs, float* C, int64_t ldc, float* scratch);
  int64_t (*sgemm_scratch)(int64_t M, int64_t N, int64_t K, int64_t a_rs, int64_t a_cs, int64_t b_cs);
  // winograd_rows.h, float.
  void (*winograd_input_row)(const WinogradRowArgs<float>& a);
  void (*winograd_output_row)(const WinogradRowArgs<float>& a);
  // half_vector.h's loops.
  void (*half_encode)(const float* v, float inv_scale, uint16_t* bits, int64_t n);
  double (*half_dot)(const uint16_t* bits, const float* q, int64_t begin, int64_t end);
  void (*half_axpy)(float a, const uint16_t* bits, float* q, int64_t begin, int64_t end);
  // pool.h's rows, float.
  void (*max_pool2_row)(const float* x0, const float* x1, int64_t OW, float* y, uint8_t* arg);
  void (*max_pool2_backward_row)(const float* g, const uint8_t* arg, int64_t OW, float* d0, float* d1, bool fresh);
  // conv_rows.inl's loops (the band-GEMM convolution, conv_gemm.cpp).
  void (*bias_relu_row)(float* v, int64_t n, float bias, bool relu, uint8_t* mask);
  void (*masked_copy_row)(const float* src, const uint8_t* mask, float* dst, int64_t n);
  void (*add_row)(float* d, const float* t, int64_t n);
};

// The table of each set compiled into this build, or nullptr.
const KernelTable* portable_table();
const KernelTable* avx2_table();
const KernelTable* avx512_table();

// The active set's table.
const KernelTable& active_table();

}  // namespace nst::kernels
