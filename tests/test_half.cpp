// binary16 conversions (every half value, rounding ties, overflow, subnormals; the F16C
// instruction of each kernel set that has it) and HalfVector's storage, dot and axpy on every
// kernel set.
#include "nst/half.h"
#include "nst/kernels/half_vector.h"
#include "support/kernel_sets.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

using nst::f16_to_float;
using nst::float_to_f16;
using nst::HalfVector;

namespace {
float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
}  // namespace

TEST_CASE("float_to_f16 inverts f16_to_float on every half value; NaN stays NaN") {
  int nans = 0;
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float f = f16_to_float(static_cast<uint16_t>(h));
    const uint16_t back = float_to_f16(f);
    if (std::isnan(f)) {
      ++nans;
      CHECK((back & 0x7C00) == 0x7C00);
      CHECK((back & 0x3FF) != 0);
      CHECK((back & 0x8000) == (h & 0x8000));
    } else if (back != h) {
      FAIL_CHECK("half " << h << " -> " << f << " -> " << back);
    }
  }
  CHECK(nans == 2 * 1023);
}

TEST_CASE("float_to_f16 rounds to nearest, ties to even; overflow and underflow") {
  CHECK(float_to_f16(1.0f) == 0x3C00);
  CHECK(float_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);      // tie: down to even
  CHECK(float_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);  // tie: up to even
  CHECK(float_to_f16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)) == 0x3C01);
  CHECK(float_to_f16(-2.0f) == 0xC000);
  CHECK(float_to_f16(65504.0f) == 0x7BFF);
  CHECK(float_to_f16(65519.99f) == 0x7BFF);
  CHECK(float_to_f16(65520.0f) == 0x7C00);  // rounds past the largest finite: inf
  CHECK(float_to_f16(-1e30f) == 0xFC00);
  CHECK(float_to_f16(std::numeric_limits<float>::infinity()) == 0x7C00);
  CHECK(float_to_f16(std::ldexp(1.0f, -14)) == 0x0400);  // smallest normal
  CHECK(float_to_f16(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(float_to_f16(std::ldexp(1.0f, -25)) == 0x0000);  // tie: to even (0)
  CHECK(float_to_f16(std::ldexp(3.0f, -26)) == 0x0001);  // 0.75 units: up
  CHECK(float_to_f16(std::ldexp(3.0f, -25)) == 0x0002);  // 1.5 units, tie: to even (2)
  CHECK(float_to_f16(std::ldexp(1023.5f, -24)) == 0x0400);  // tie at the top of the subnormals: to even
  CHECK(float_to_f16(-0.0f) == 0x8000);
  CHECK(float_to_f16(1e-30f) == 0x0000);
}

TEST_CASE("float_to_f16 agrees with every kernel set's encoder (F16C on the x86 SIMD sets) on random floats") {
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> any;
  std::uniform_int_distribution<uint32_t> near_half(0x33000000u, 0x47800000u);  // 2^-25 .. 2^16
  std::vector<float> f(1 << 20);
  for (size_t i = 0; i < f.size(); ++i) f[i] = from_bits(i % 2 ? any(rng) : near_half(rng) | (any(rng) & 0x80000000u));
  nst::testing::each_kernel_set([&](nst::kernels::KernelSet) {
    std::vector<uint16_t> hw(f.size());
    nst::kernels::half_encode(f.data(), 1.0f, hw.data(), static_cast<int64_t>(f.size()));
    int64_t mismatches = 0;
    for (size_t i = 0; i < f.size(); ++i) {
      if (std::isnan(f[i])) continue;  // payload handling may differ; NaN-ness is tested above
      mismatches += hw[i] != float_to_f16(f[i]);
    }
    CHECK(mismatches == 0);
  });
}

TEST_CASE("HalfVector stores values within 2^-11 relative (2^-38 of the largest for tiny ones); dot and axpy use them") {
  nst::testing::each_kernel_set([](nst::kernels::KernelSet) {
  std::mt19937 rng(6);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> exponent(-12.0f, 12.0f);
  for (const int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{8}, int64_t{255}, int64_t{256}, int64_t{1001}, int64_t{70000}}) {
    CAPTURE(n);
    std::vector<float> v(static_cast<size_t>(n)), q(static_cast<size_t>(n));
    for (auto& x : v) x = normal(rng) * std::exp2(exponent(rng));  // wide dynamic range
    for (auto& x : q) x = normal(rng);
    HalfVector h;
    h.assign(v.data(), n);
    CHECK(h.size() == n);
    std::vector<float> d(static_cast<size_t>(n));
    h.decode(d.data());
    float max_abs = 0;
    for (float x : v) max_abs = std::max(max_abs, std::abs(x));
    double ref_dot = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float x = v[static_cast<size_t>(i)], y = d[static_cast<size_t>(i)];
      if (std::abs(x) >= max_abs * std::ldexp(1.0f, -28))  // a normal half after scaling
        CHECK(std::abs(y - x) <= std::ldexp(std::abs(x), -11));
      else
        CHECK(std::abs(y - x) <= max_abs * std::ldexp(1.0f, -38));  // half a subnormal step
      ref_dot += static_cast<double>(y) * static_cast<double>(q[static_cast<size_t>(i)]);
    }
    double scale = 0;
    for (int64_t i = 0; i < n; ++i) scale += std::abs(static_cast<double>(d[static_cast<size_t>(i)]) * q[static_cast<size_t>(i)]);
    CHECK(std::abs(h.dot(q.data()) - ref_dot) <= 1e-6 * scale + 1e-30);
    std::vector<float> r = q;
    h.axpy(-0.75f, r.data());
    for (int64_t i = 0; i < n; ++i) {
      const float want = std::fma(-0.75f, d[static_cast<size_t>(i)], q[static_cast<size_t>(i)]);
      CHECK(std::abs(r[static_cast<size_t>(i)] - want) <= 1e-6f * (std::abs(want) + std::abs(d[static_cast<size_t>(i)])));
    }
  }
  });
}

TEST_CASE("HalfVector: zeros, huge and tiny scales, non-finite input") {
  HalfVector h;
  std::vector<float> z(10, 0.0f), out(10, 1.0f);
  h.assign(z.data(), 10);
  h.decode(out.data());
  for (float x : out) CHECK(x == 0.0f);
  // Values far outside half's range are kept by the scale.
  std::vector<float> big{3e30f, -1e30f, 1e29f}, small{3e-30f, -1e-30f, 2e-31f};
  for (auto* v : {&big, &small}) {
    h.assign(v->data(), 3);
    std::vector<float> d(3);
    h.decode(d.data());
    for (size_t i = 0; i < 3; ++i) CHECK(std::abs(d[i] - (*v)[i]) <= std::ldexp(std::abs((*v)[i]), -11));
  }
  std::vector<float> bad{1.0f, std::numeric_limits<float>::quiet_NaN()};
  CHECK_THROWS_AS(h.assign(bad.data(), 2), std::invalid_argument);
  bad[1] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(h.assign(bad.data(), 2), std::invalid_argument);
}
