// The band-GEMM convolution's row loops (src/kernels/conv_gemm.cpp) in plain C++, included by
// every kernel set's file inside its own namespace: the compiler vectorizes them for the set's
// instructions (16 floats at a time with AVX-512, against 4 in the baseline build). One
// addition or comparison per value: the same bits on every set.

// v[i] + bias, then max(·, 0) when relu, recording (v[i] + bias > 0) in mask when it is set.
void bias_relu_row(float* __restrict v, int64_t n, float bias, bool relu, uint8_t* __restrict mask) {
  if (mask) {
    for (int64_t i = 0; i < n; ++i) {
      const float u = v[i] + bias;
      mask[i] = u > 0.0f;
      v[i] = u > 0.0f ? u : 0.0f;
    }
  } else if (relu) {
    for (int64_t i = 0; i < n; ++i) {
      const float u = v[i] + bias;
      v[i] = u > 0.0f ? u : 0.0f;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) v[i] += bias;
  }
}

// dst[i] = mask[i] ? src[i] : 0.
void masked_copy_row(const float* __restrict src, const uint8_t* __restrict mask, float* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = src[i];  // read unconditionally: no branch
    dst[i] = mask[i] ? v : 0.0f;
  }
}

// d[i] += t[i].
void add_row(float* __restrict d, const float* __restrict t, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] += t[i];
}
