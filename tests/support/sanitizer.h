// Test helper: whether this build runs under AddressSanitizer (GCC defines __SANITIZE_ADDRESS__,
// clang answers __has_feature). Tests whose subject the sanitizer replaces (the allocator) or
// slows past their purpose skip with a message.
#pragma once

namespace nst::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAsan = true;
#else
inline constexpr bool kAsan = false;
#endif
#else
inline constexpr bool kAsan = false;
#endif

}  // namespace nst::testing
