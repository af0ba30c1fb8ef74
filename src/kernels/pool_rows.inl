// max pooling's rows (nst/kernels/pool.h) in plain C++: the portable kernel set and double.
// Included by isa_portable.cpp inside its own namespace.

template <class T>
void max_pool2_row_scalar(const T* x0, const T* x1, int64_t OW, T* y, uint8_t* arg) {
  for (int64_t ox = 0; ox < OW; ++ox) {
    const T v[4] = {x0[2 * ox], x0[2 * ox + 1], x1[2 * ox], x1[2 * ox + 1]};
    uint8_t best = 0;
    for (uint8_t k = 1; k < 4; ++k)
      if (v[k] > v[best]) best = k;
    y[ox] = v[best];
    if (arg) arg[ox] = best;
  }
}

template <class T>
void max_pool2_backward_row_scalar(const T* g, const uint8_t* arg, int64_t OW, T* d0, T* d1, bool fresh) {
  for (int64_t ox = 0; ox < OW; ++ox) {
    const int k = arg[ox];
    if (fresh) {
      d0[2 * ox] = k == 0 ? g[ox] : T(0);
      d0[2 * ox + 1] = k == 1 ? g[ox] : T(0);
      d1[2 * ox] = k == 2 ? g[ox] : T(0);
      d1[2 * ox + 1] = k == 3 ? g[ox] : T(0);
    } else {
      (k < 2 ? d0 : d1)[2 * ox + (k & 1)] += g[ox];
    }
  }
}
