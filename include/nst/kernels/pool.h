// 2x2 max pooling, stride 2, one output row at a time: the loops of max_pool2 (nst/ops/pool.h),
// run by the active kernel set (kernel_set.h) in float: AVX-512 16 and AVX2 8 outputs at a
// time (the two input rows deinterleaved into the window's four values by permutes), plain
// C++ on the portable set and in double. Every set gives the same bits: a maximum is a choice,
// not a rounding, and the backward adds g to the same element in the same order.
#pragma once

#include <cstdint>

namespace nst::kernels {

// One output row from input rows x0 and x1 (the window's top and bottom rows, 2*OW values
// each): y[ox] = the first maximum of x0[2ox], x0[2ox+1], x1[2ox], x1[2ox+1] in that order
// (a later value wins only when it is greater, so ties and NaNs keep the earlier one), and,
// when arg is set, arg[ox] = its index 0..3.
template <class T>
void max_pool2_row(const T* x0, const T* x1, int64_t OW, T* y, uint8_t* arg);

// The backward of one output row: g (OW) goes to the element arg chose in rows d0 and d1 of dx.
// fresh: the 2*OW values of both rows are written (g there, zero elsewhere); otherwise g is
// added to the chosen element and the others are left alone.
template <class T>
void max_pool2_backward_row(const T* g, const uint8_t* arg, int64_t OW, T* d0, T* d1, bool fresh);

}  // namespace nst::kernels
